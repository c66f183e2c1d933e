"""Uploaded images, held in memory only: bounded in count and bytes, and forgotten when unused for a while."""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


class UploadTooLarge(ValueError):
    """One image larger than the whole store."""


@dataclass(frozen=True)
class UploadInfo:
    """What the person sent: the file's name ("" when the form gave none), the picture's own size, its format's
    name ("" when unknown) and how many frames or pages the file holds (only the first is used)."""

    name: str
    original_width: int
    original_height: int
    format: str = ""
    frames: int = 1


@dataclass
class _Entry:
    image: np.ndarray
    info: UploadInfo | None
    last_used: float
    owner: str


class UploadStore:
    """Decoded images (float32 (H, W, C)) by id, thread-safe.

    - An image unused (neither added nor read) for `ttl_seconds` expires.
    - When adding would pass `max_count` images or `max_bytes` bytes, the least recently used images
      are evicted first. An owner (the client's address) that adds more than `max_per_owner` images evicts
      its own least recently used one, so that one client cannot push every other client's images out.
    - The store keeps the array it is given (no copy) and marks it read-only: every reader shares it
      and must copy before writing.
    """

    def __init__(self, max_count: int, max_bytes: int, ttl_seconds: float, max_per_owner: int | None = None,
                 clock: Callable[[], float] = time.monotonic):
        if max_count < 1 or max_bytes < 1 or ttl_seconds <= 0 or (max_per_owner is not None and max_per_owner < 1):
            raise ValueError(f"UploadStore needs max_count >= 1, max_bytes >= 1, ttl_seconds > 0 and max_per_owner "
                             f">= 1, got {max_count}, {max_bytes}, {ttl_seconds}, {max_per_owner}")
        self.max_count = max_count
        self.max_per_owner = max_count if max_per_owner is None else max_per_owner
        self.max_bytes = max_bytes
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # least recently used first
        self._bytes = 0
        self._lock = threading.Lock()

    def add(self, image: np.ndarray, info: UploadInfo | None = None, owner: str = "") -> str:
        """Store `image` (and what is known of its file) for `owner` and return its new id. Raises UploadTooLarge
        when it alone exceeds max_bytes."""
        if image.nbytes > self.max_bytes:
            raise UploadTooLarge(f"the decoded image takes {image.nbytes} bytes; "
                                 f"the upload store holds at most {self.max_bytes} bytes")
        image = np.ascontiguousarray(image, dtype=np.float32)
        image.setflags(write=False)
        image_id = secrets.token_urlsafe(16)
        with self._lock:
            now = self._clock()
            self._drop_expired(now)
            owned = [key for key, entry in self._entries.items() if entry.owner == owner]  # least recent first
            for key in owned[:max(0, len(owned) - self.max_per_owner + 1)]:
                self._remove(key)
            while self._entries and (len(self._entries) >= self.max_count
                                     or self._bytes + image.nbytes > self.max_bytes):
                self._remove(next(iter(self._entries)))
            self._entries[image_id] = _Entry(image, info, now, owner)
            self._bytes += image.nbytes
        return image_id

    def get(self, image_id: str) -> np.ndarray | None:
        """The image stored under `image_id` (read-only), or None when unknown or expired."""
        entry = self._use(image_id)
        return None if entry is None else entry.image

    def get_with_info(self, image_id: str) -> tuple[np.ndarray, UploadInfo | None] | None:
        """The image and what was stored of its file, or None when unknown or expired."""
        entry = self._use(image_id)
        return None if entry is None else (entry.image, entry.info)

    def _use(self, image_id: str) -> _Entry | None:
        with self._lock:
            now = self._clock()
            self._drop_expired(now)
            entry = self._entries.get(image_id)
            if entry is None:
                return None
            entry.last_used = now
            self._entries.move_to_end(image_id)
            return entry

    def __len__(self) -> int:
        with self._lock:
            self._drop_expired(self._clock())
            return len(self._entries)

    @property
    def total_bytes(self) -> int:
        """Bytes of all images held now."""
        with self._lock:
            self._drop_expired(self._clock())
            return self._bytes

    def _drop_expired(self, now: float) -> None:
        # Entries are in order of last use, so the expired ones are at the front.
        while self._entries:
            image_id, entry = next(iter(self._entries.items()))
            if now - entry.last_used < self.ttl_seconds:
                return
            self._remove(image_id)

    def _remove(self, image_id: str) -> None:
        self._bytes -= self._entries.pop(image_id).image.nbytes
