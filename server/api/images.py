"""POST /api/images: upload an image (held in memory only); GET /api/images/{image_id}: what it is;
GET /api/images/{image_id}.png: see it back.

An image larger than `max_stored_side` on its longer side is kept reduced to that size: every view
works at a smaller size (the lab at 512 pixels at most), and a 12-megapixel photo would otherwise hold
146 MB of the store, and cost its page a 20 MB PNG to show it.

The multipart body is parsed here, as it streams in, instead of by Starlette's form parser: that one
spools files over 1 MB to a temporary file on disk and has no size limit for them. Here the `file`
field is kept in memory and the request is refused (413) as soon as it passes the limit.
"""

from __future__ import annotations

import re
from typing import Annotated

import anyio
import anyio.to_thread
import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from engine.shapes import quoted
from server.images import (ACCEPTED_FORMATS, ACCEPTED_TEXT, ImageError, encode_png, frame_count, open_image,
                           shrink_to, to_array)
from server.runs import client_address
from server.settings import Settings
from server.uploads import UploadInfo, UploadStore, UploadTooLarge

router = APIRouter(tags=["images"])

FILE_FIELD = "file"
MULTIPART_OVERHEAD = 16 * 1024  # boundaries and part headers allowed on top of the file's bytes
MAX_FILE_NAME = 120  # characters of an upload's file name kept (the page shows it)
# Decoding a 16-megapixel image and reducing it to max_stored_side takes 0.35 GB (RGB) to 0.46 GB (RGBA)
# at its peak (measured, ru_maxrss), encoding one a second: the app's
# `image_slots` (an anyio.CapacityLimiter of 2) lets two run at once; the others wait without a thread.
IMAGE_SLOTS = 2


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_uploads(request: Request) -> UploadStore:
    return request.app.state.uploads


def get_image_slots(request: Request) -> anyio.CapacityLimiter:
    return request.app.state.image_slots


SettingsDep = Annotated[Settings, Depends(get_settings)]
UploadsDep = Annotated[UploadStore, Depends(get_uploads)]
ImageSlotsDep = Annotated[anyio.CapacityLimiter, Depends(get_image_slots)]


class StoredImage(BaseModel):
    image_id: str
    width: int  # as kept by the server: what runs read
    height: int
    channels: int  # 1 (grayscale) or 3 (RGB): see server/images.py for how each mode is normalised
    name: str  # the file's name as sent, without folders ("" when the form gave none)
    original_width: int  # the picture's own size (after its EXIF orientation); larger than width when reduced
    original_height: int
    format: str  # PNG, JPEG, GIF, WebP, BMP or TIFF
    frames: int  # frames (an animated GIF, WebP or PNG) or pages (a TIFF) in the file; only the first is used


_MULTIPART_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": [FILE_FIELD],
    "properties": {FILE_FIELD: {"type": "string", "format": "binary",
                                "description": f"a {ACCEPTED_TEXT} image"}}}}}}}


@router.post("/images", status_code=201, openapi_extra=_MULTIPART_BODY, responses={
    413: {"description": "more bytes, or more pixels, than allowed"},
    415: {"description": "not an image, or not an accepted format"},
    422: {"description": "a damaged or incomplete image, or no field named 'file'"}})
async def upload_image(request: Request, settings: SettingsDep, uploads: UploadsDep,
                       slots: ImageSlotsDep) -> StoredImage:
    """Decode the image in the multipart field `file` and keep it in memory; answer its id and size."""
    data, file_name = await read_file_field(request, FILE_FIELD, settings.max_upload_bytes)
    image, info = await anyio.to_thread.run_sync(
        _decode, data, file_name, settings.max_image_pixels, settings.max_stored_side, limiter=slots)
    try:
        image_id = uploads.add(image, info, owner=client_address(request))
    except UploadTooLarge as error:
        raise HTTPException(413, str(error)) from error
    return _description(image_id, image, info)


def _description(image_id: str, image: np.ndarray, info: UploadInfo | None) -> StoredImage:
    height, width, channels = image.shape
    info = info or UploadInfo("", width, height)
    return StoredImage(image_id=image_id, width=width, height=height, channels=channels, name=info.name,
                       original_width=info.original_width, original_height=info.original_height,
                       format=info.format, frames=info.frames)


def _stored(image_id: str, uploads: UploadStore) -> tuple[np.ndarray, UploadInfo | None]:
    stored = uploads.get_with_info(image_id)
    if stored is None:
        raise HTTPException(404, f"no uploaded image has id {quoted(image_id)}: uploads are kept in memory only and "
                                 f"expire after {uploads.ttl_seconds / 60:g} minutes unused; upload it again")
    return stored


@router.get("/images/{image_id}.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}, 404: {"description": "unknown or expired id"}})
async def image_png(image_id: str, uploads: UploadsDep, slots: ImageSlotsDep) -> Response:
    """The uploaded image as the server keeps it (orientation applied, transparency composited), as a PNG."""
    image, _ = _stored(image_id, uploads)
    png = await anyio.to_thread.run_sync(encode_png, image, limiter=slots)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/images/{image_id}", responses={404: {"description": "unknown or expired id"}})
async def image_info(image_id: str, uploads: UploadsDep) -> StoredImage:
    """Whether the server still has the image, its size as kept, and what its file was: its name, own size,
    format and frames (a page checks a link's upload with it and describes the picture)."""
    return _description(image_id, *_stored(image_id, uploads))


def _decode(data: bytes, file_name: str, max_pixels: int, max_side: int) -> tuple[np.ndarray, UploadInfo]:
    """Runs in a worker thread: the decoded image (reduced to `max_side`) and what its file was; or
    HTTPException."""
    try:
        image = open_image(data, max_pixels=max_pixels)
        pixels = to_array(image)
        height, width = pixels.shape[:2]
        info = UploadInfo(file_name, width, height, ACCEPTED_FORMATS[image.format], frame_count(image))
        return shrink_to(pixels, max_side), info
    except ImageError as error:
        raise HTTPException(error.status_code, error.message) from error


async def read_file_field(request: Request, field: str, max_bytes: int) -> tuple[bytes, str]:
    """The bytes of the multipart field `field`, read as the body streams in and never more than `max_bytes`,
    and the name of the file it holds (see `_file_name`).

    413 when the Content-Length, the body, or the field passes the limit; 415 when the body is not
    multipart/form-data; 400 when it is malformed; 422 when the field is missing.
    """
    media_type, options = parse_options_header(request.headers.get("content-type", ""))
    if media_type != b"multipart/form-data" or b"boundary" not in options:
        raise HTTPException(415, f"send the image as multipart/form-data with a field named {field!r}")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes + MULTIPART_OVERHEAD:
        # the form's boundaries and headers are a few hundred bytes of it: the file's size to the decimal shown
        raise HTTPException(413, f"the file is {megabytes(int(declared), above=max_bytes)}; "
                                 f"the limit is {megabytes(max_bytes)}")

    collector = _FieldCollector(field, max_bytes)
    received = 0
    try:
        parser = MultipartParser(options[b"boundary"], collector.callbacks())
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes + MULTIPART_OVERHEAD:  # a body sent without its length
                raise HTTPException(413, over_the_limit(max_bytes))
            parser.write(chunk)
        parser.finalize()
    except FormParserError as error:
        raise HTTPException(400, f"the multipart/form-data body is malformed ({error})") from error
    if not collector.found:
        raise HTTPException(422, f"the form has no field named {field!r}; send the image in it")
    return bytes(collector.data), _file_name(collector.filename)


def megabytes(count: int, above: int | None = None) -> str:
    """`count` bytes in MB as a person reads them ("18.8 MB", "10 MB"); for a size `above` a limit, with as many
    decimals as it takes to tell them apart (10,020,000 bytes over a 10 MB limit: "10.02 MB", not "10.0 MB")."""
    if above is None:
        return f"{count / 1e6:g} MB"
    decimals = next((d for d in range(1, 6) if round(count / 1e6, d) > above / 1e6), 6)
    return f"{count / 1e6:.{decimals}f} MB"


def over_the_limit(max_bytes: int) -> str:
    """A file refused once its bytes passed the limit (its whole size is not known): the limit, with its bytes,
    which tell a file just over it from one just under."""
    return f"the file is larger than the limit of {megabytes(max_bytes)} ({max_bytes:,} bytes)"


def _file_name(sent: bytes) -> str:
    """A part's filename as a person would name it: its last path component (some browsers send the folders),
    with the quotes that forms send as %22 put back, without control characters (sent as %0A and the like),
    at most MAX_FILE_NAME characters."""
    name = sent.decode("utf-8", errors="replace").replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"%(22|[01][0-9A-Fa-f])", lambda escape: chr(int(escape[1], 16)), name)
    name = "".join(character for character in name if character.isprintable()).strip()
    return name if len(name) <= MAX_FILE_NAME else name[:MAX_FILE_NAME - 1] + "…"


class _FieldCollector:
    """python-multipart callbacks that keep the bytes of the first part named `field`, at most `limit`."""

    def __init__(self, field: str, limit: int):
        self.field = field.encode()
        self.limit = limit
        self.data = bytearray()
        self.found = False
        self.filename = b""
        self._in_field = False
        self._disposition = b""
        self._header_name = b""
        self._header_value = b""

    def callbacks(self) -> dict:
        return {"on_part_begin": self.on_part_begin, "on_header_field": self.on_header_field,
                "on_header_value": self.on_header_value, "on_header_end": self.on_header_end,
                "on_headers_finished": self.on_headers_finished, "on_part_data": self.on_part_data}

    def on_part_begin(self) -> None:
        self._in_field = False
        self._disposition = b""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.strip().lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        self._in_field = not self.found and options.get(b"name") == self.field
        if self._in_field:
            self.filename = options.get(b"filename", b"")
        self.found = self.found or self._in_field

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._in_field:
            return
        if len(self.data) + (end - start) > self.limit:
            raise HTTPException(413, over_the_limit(self.limit))
        self.data += data[start:end]
