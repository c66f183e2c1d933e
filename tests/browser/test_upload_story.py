"""A student's own pictures on the Network page: a handwritten digit scanned or drawn elsewhere, a refused file
followed by a good one, a photo whose first layer is checked against PyTorch.

Each test uploads as a person would (the file picker) and reads what the page says and plots.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.browser.conftest import screenshot
from tests.browser.test_network import open_network, runs_done, wait_for_run_after

HINT = "#nv-input .ip-hint"
NOTE = "#nv-input .ip-upload-note"


def scanned_seven(path) -> None:
    """A "7" in black marker on white paper, scanned: the digit in the upper right, not centred as MNIST's are."""
    paper = Image.new("L", (400, 400), 255)
    ImageDraw.Draw(paper).line([(220, 60), (340, 60), (260, 230)], fill=0, width=18)
    paper.save(path)


def upload(page, path) -> None:
    count = runs_done(page)
    page.set_input_files("#nv-input .ip-file", str(path))
    wait_for_run_after(page, count)


def toggle(page, selector: str, on: bool = True) -> None:
    count = runs_done(page)
    page.set_checked(selector, on)
    wait_for_run_after(page, count)


def best_class(page) -> tuple[str, float]:
    page.wait_for_function("document.querySelector('#network-view').dataset.runState === 'done'")
    words = page.inner_text("#nv-scores-best").split()  # "Highest: 7 (probability 0.9999)"
    return words[1], float(words[-1].rstrip(")"))


def test_an_off_centre_digit_is_pointed_to_centring_and_inverting_alone_does_not_end_the_hint(page, tmp_path):
    path = tmp_path / "seven-scan.png"
    scanned_seven(path)
    open_network(page, "?network=digits-cnn")
    upload(page, path)
    hint = page.locator(HINT)
    hint.wait_for(state="visible")
    text = hint.inner_text()
    assert "tick Invert" in text and "The digit is also off-centre" in text and "tick “Centre the digit”" in text
    # Invert makes it light on black, but the digit stays in the corner: the hint says what is left to do
    toggle(page, "#nv-input .ip-invert")
    page.wait_for_function(f"document.querySelector('{HINT}').textContent.startsWith('The digit is off-centre')")
    assert hint.is_visible() and "Invert does not move it" in hint.inner_text()
    screenshot(page, "upload-story-inverted-off-centre")
    # centred, as MNIST's are: the page says what was done to the picture, and the network reads a 7
    toggle(page, "#nv-input .ip-centre")
    hint.wait_for(state="hidden")
    page.wait_for_function(f"document.querySelector('{NOTE}').textContent.startsWith('Its digit is read as MNIST')")
    digit, probability = best_class(page)
    assert digit == "7" and probability > 0.9
    page.wait_for_url(re.compile(r"input=upload%3A[^&]+%2Bcentred"))
    page.reload()  # a link to the centred upload says so too
    wait_for_run_after(page, 0)
    page.wait_for_function(f"document.querySelector('{NOTE}').textContent.startsWith('Its digit is read as MNIST')")
    # unticked again: the note goes back to the picture's size, the hint comes back
    toggle(page, "#nv-input .ip-centre", on=False)
    hint.wait_for(state="visible")
    assert "Its digit" not in page.inner_text(NOTE)


def test_a_centred_white_on_black_upload_gets_no_hint_and_a_dark_one_inverted_is_told(page, tmp_path):
    path = tmp_path / "seven-like-mnist.png"
    picture = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(picture).line([(100, 60), (180, 60), (120, 220)], fill=255, width=22)
    picture.save(path)
    open_network(page, "?network=digits-cnn")
    upload(page, path)
    page.wait_for_function("document.querySelector('#nv-input .ip-upload-name').textContent.startsWith('Using')")
    assert page.locator(HINT).is_hidden()
    assert best_class(page)[0] == "7"
    toggle(page, "#nv-input .ip-invert")
    page.wait_for_function(f"document.querySelector('{HINT}').textContent.includes('untick Invert')")


def test_a_refused_file_is_not_blamed_while_the_next_one_uploads(page, tmp_path):
    page.allowed_errors.append(r"Failed to load resource.*415")
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes, not a picture\n")
    photo = tmp_path / "photo.png"
    Image.new("RGB", (64, 48), (200, 120, 40)).save(photo)
    open_network(page, "?network=edges")
    page.set_input_files("#nv-input .ip-file", str(notes))
    error = page.locator("#nv-input .ip-error")
    page.wait_for_function("document.querySelector('#nv-input .ip-error').textContent.startsWith('notes.txt')")
    held = []  # the next upload's request, held until the page has been read
    page.route("**/api/images", lambda route: held.append(route))
    page.set_input_files("#nv-input .ip-file", str(photo))
    page.wait_for_function("document.querySelector('#nv-input .ip-upload-name').textContent"
                           " === 'Uploading photo.png…'")
    assert error.inner_text() == "", "the refusal of notes.txt is shown while photo.png uploads"
    while not held:  # the held request reaches the route handler as the page's events are processed
        page.wait_for_timeout(10)
    count = runs_done(page)
    held[0].continue_()
    page.unroute("**/api/images")
    wait_for_run_after(page, count)
    assert page.inner_text("#nv-input .ip-upload-name") == "Using photo.png (64×48)" and error.inner_text() == ""


def test_an_uploaded_photos_first_layer_is_what_pytorch_computes(page, tmp_path):
    torch = pytest.importorskip("torch")
    from skimage import data

    from engine.models import load_model

    path = tmp_path / "chelsea.jpg"
    Image.fromarray(data.chelsea()).save(path, quality=90)
    open_network(page, "?network=tiny-vgg")
    upload(page, path)
    # the reference: the file decoded and resized to 64x64 (bilinear, antialiased) as torch does it, then conv1_1
    rgb = np.asarray(Image.open(path).convert("RGB"), np.float32) / 255
    x = torch.nn.functional.interpolate(torch.from_numpy(rgb.transpose(2, 0, 1).copy())[None], size=(64, 64),
                                        mode="bilinear", antialias=True, align_corners=False)
    conv = load_model("tiny-vgg").layers[0][1]
    expected = torch.nn.functional.conv2d(x, torch.from_numpy(np.asarray(conv.weight)),
                                          torch.from_numpy(np.asarray(conv.bias)), padding=1)[0].numpy()
    page.click(".nv-layer[data-index='0'] button.map >> nth=3")
    page.wait_for_function("document.querySelector('#nv-detail-stats').textContent.includes('mean')")
    page.focus("#nv-detail-heatmap")
    for key in ["ArrowRight"] * 9 + ["ArrowDown"] * 20:  # to row 20, column 9
        page.keyboard.press(key)
    readout = page.inner_text("#nv-detail-readout")
    assert readout.startswith("row 20, col 9: value "), readout
    assert float(readout.split()[-1]) == pytest.approx(float(expected[3, 20, 9]), rel=2e-3, abs=2e-3)
    # the photo as the network sees it: the input row's colour picture is that same 64×64 picture, red green blue
    shown = page.locator(".nv-layer[data-index='-1'] .nv-colour canvas").evaluate("""(canvas) => Array.from(
      canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data)""")
    shown = np.array(shown, np.float32).reshape(64, 64, 4)
    assert (shown[..., 3] == 255).all()
    np.testing.assert_allclose(shown[..., :3] / 255, x[0].numpy().transpose(1, 2, 0), atol=2 / 255)


GREY_NOTE = "Read in grey: this network takes one channel."


def test_a_colour_photo_read_by_a_one_channel_network_says_it_is_read_in_grey(page, tmp_path):
    colour, grey = tmp_path / "colour.png", tmp_path / "grey.png"
    photo = Image.new("RGB", (256, 256), (30, 80, 200))  # the edge network's size: nothing else to say about it
    ImageDraw.Draw(photo).ellipse((64, 64, 192, 192), fill=(230, 40, 40))
    photo.save(colour)
    photo.convert("L").save(grey)
    open_network(page, "?network=edges")
    upload(page, colour)
    page.wait_for_function(f"document.querySelector('{NOTE}').textContent === '{GREY_NOTE}'")
    assert page.inner_text("#nv-input .ip-upload-name") == "Using colour.png (256×256)"
    assert page.locator(".nv-layer[data-index='-1'] .nv-colour").is_hidden()  # one channel: no colour picture
    screenshot(page, "upload-story-colour-read-in-grey")
    page.reload()  # a link to the upload: the page asks the server what the picture is, and says it again
    wait_for_run_after(page, 0)
    page.wait_for_function(f"document.querySelector('{NOTE}').textContent === '{GREY_NOTE}'")
    image_id = re.search(r"input=upload%3A([^%]+)%3A", page.url)[1]
    # a network that takes colour reads it in colour: the note goes, the colour picture comes
    count = runs_done(page)
    page.select_option("#nv-network", "tiny-vgg")
    wait_for_run_after(page, count)
    page.wait_for_function(f"document.querySelector('{NOTE}').textContent === ''")
    assert page.locator(".nv-layer[data-index='-1'] .nv-colour").is_visible()
    # a grey picture has nothing to lose
    page.select_option("#nv-network", "edges")
    upload(page, grey)
    page.wait_for_function("document.querySelector('#nv-input .ip-upload-name').textContent.startsWith('Using grey')")
    assert page.inner_text(NOTE) == ""
    # the Autoencoder page reads a colour upload in grey too, and says so
    page.goto(f"/autoencoder?input=upload:{image_id}:256x256")
    page.wait_for_function(f"document.querySelector('#ae-input .ip-upload-note')?.textContent === '{GREY_NOTE}'")
