"""The Network view's own stack of layers, driven as a person would: open it, change a layer's settings
with the keyboard, add, move and remove layers, break a layer and mend it, share the link.

Shapes are checked against the engine's own shape rules (`Sequential.output_shapes` of the same spec),
values against the layer above them (a ReLU row against the download of the convolution before it), so a
stack the page draws wrongly cannot pass.
"""

from __future__ import annotations

import json
import re
import urllib.parse

import numpy as np

from engine.spec import network_from_spec
from tests.browser.conftest import screenshot
from tests.browser.test_live import start_session
from tests.browser.test_network import VIEW, download_layer, layer_rows, model, runs_done, wait_for_run_after

DEFAULT_KINDS = ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear", "Softmax"]
STACK_ROWS = "#nv-stack-layers > li"


def open_stack(page, query: str = "") -> None:
    page.goto(f"/network?network=custom{query}")
    wait_for_run_after(page, 0)


def stack_row(page, index: int):
    return page.locator(STACK_ROWS).nth(index)


def stack_kinds(page) -> list[str]:
    return page.locator(f"{STACK_ROWS} .nv-stack-kind").all_inner_texts()


def shown_kinds(page) -> list[str]:
    return layer_rows(page).locator(".nv-kind").all_inner_texts()


def stack_in_url(page) -> dict:
    # the page writes its URL 100 ms after a change, and a run can be done before that: read it once it has
    # stayed the same for longer than that
    page.wait_for_function("""() => new Promise((resolve) => {
      const before = location.href;
      setTimeout(() => resolve(location.href === before && new URLSearchParams(location.search).has("stack")), 250);
    })""")
    query = urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)
    return json.loads(query["stack"][0])


def engine_shapes(stack: dict) -> list[str]:
    """Each layer's output shape per sample, as the engine computes it for the same spec."""
    spec = {"name": "reference", "input_shape": stack["input"],
            "layers": [{"kind": layer["kind"], "params": layer["params"]} for layer in stack["layers"]]}
    network = network_from_spec(spec)
    return ["×".join(map(str, shape[1:])) for shape in network.output_shapes((1, *stack["input"]))]


def editor_shapes(page) -> list[str]:
    return [text.removeprefix("→ ") for text in page.locator(f"{STACK_ROWS} .nv-stack-shape").all_inner_texts()]


def unfold(page, index: int) -> None:
    toggle = stack_row(page, index).locator(".nv-stack-toggle")
    if toggle.get_attribute("aria-expanded") != "true":
        toggle.click()


def press_on(page, selector: str, key: str, times: int = 1) -> None:
    page.focus(selector)
    for _ in range(times):
        page.keyboard.press(key)


def test_the_default_stack_runs_with_the_engines_shapes_and_values(page):
    open_stack(page)
    screenshot(page, "network-stack-default")
    assert page.locator("#nv-network").input_value() == "custom"
    assert page.is_visible("#nv-stack")
    assert stack_kinds(page) == DEFAULT_KINDS
    assert shown_kinds(page) == DEFAULT_KINDS
    stack = {"input": [1, 28, 28], "layers": [
        {"kind": "Conv2d", "params": {"out_channels": 8, "padding": 1}}, {"kind": "ReLU", "params": {}},
        {"kind": "MaxPool2d", "params": {}}, {"kind": "Conv2d", "params": {"out_channels": 16, "padding": 1}},
        {"kind": "ReLU", "params": {}}, {"kind": "MaxPool2d", "params": {}}, {"kind": "Flatten", "params": {}},
        {"kind": "Linear", "params": {"out_features": 10}}, {"kind": "Softmax", "params": {}}]}
    expected = engine_shapes(stack)
    assert expected[:3] == ["8×28×28", "8×28×28", "8×14×14"]
    assert editor_shapes(page) == expected
    # the layer list draws what the server computed: the ReLU row is max(conv, 0) of the row above it
    conv, relu = download_layer(page, 0), download_layer(page, 1)
    assert conv.shape == relu.shape == (1, 8, 28, 28)
    assert (conv < 0).any() and (conv > 0).any()
    np.testing.assert_array_equal(relu, np.maximum(conv, 0))
    probabilities = download_layer(page, 8)
    np.testing.assert_allclose(probabilities.sum(), 1.0, rtol=1e-5)
    assert not page.is_visible("#nv-scores"), "an untrained stack has no class names to score"
    # presenter mode hides help text, but the shapes and settings are the stack's content: they stay
    page.click("#presenter-toggle")
    page.wait_for_function("document.body.classList.contains('presenter')")
    assert stack_row(page, 0).locator(".nv-stack-shape").is_visible()
    assert stack_row(page, 0).locator(".nv-stack-settings").is_visible()
    assert page.is_hidden("#nv-stack .help")
    page.click("#presenter-toggle")
    # a built-in network hides the stack, and choosing the stack again brings it back as it was
    count = runs_done(page)
    page.select_option("#nv-network", "digits-cnn")
    wait_for_run_after(page, count)
    assert page.is_hidden("#nv-stack")
    assert shown_kinds(page)[0] == "Conv2d" and layer_rows(page).count() == 9
    count = runs_done(page)
    page.go_back()
    wait_for_run_after(page, count)
    assert page.is_visible("#nv-stack") and stack_kinds(page) == DEFAULT_KINDS


def test_changing_a_layer_reruns_the_stack_and_the_link_brings_it_back(page, new_page):
    open_stack(page)
    unfold(page, 0)
    slider = "#nv-stack-0-out_channels"
    assert page.input_value(slider) == "8"
    count = runs_done(page)
    press_on(page, slider, "ArrowLeft", 5)  # 8 -> 3 output channels
    wait_for_run_after(page, count)
    page.wait_for_function(
        "document.querySelectorAll(\".nv-layer[data-index='0'] button.map\").length === 3")
    assert stack_row(page, 0).locator(".nv-stack-settings").inner_text() == "out channels 3, padding 1"
    page.wait_for_function("new URLSearchParams(location.search).get('stack')?.includes('\"out_channels\":3')")
    stack = stack_in_url(page)
    assert stack["layers"][0] == {"kind": "Conv2d", "params": {"out_channels": 3, "padding": 1}}
    assert editor_shapes(page) == engine_shapes(stack)
    assert editor_shapes(page)[0] == "3×28×28"
    # a kernel size of 5 without more padding shrinks every map below it by 2 pixels a side
    count = runs_done(page)
    press_on(page, "#nv-stack-0-kernel_size", "ArrowRight", 2)
    wait_for_run_after(page, count)
    page.wait_for_function("document.querySelector('#nv-stack-layers .nv-stack-shape').textContent === '→ 3×26×26'")
    page.wait_for_function("new URLSearchParams(location.search).get('stack')?.includes('\"kernel_size\":5')")
    stack = stack_in_url(page)
    assert editor_shapes(page) == engine_shapes(stack)
    screenshot(page, "network-stack-edited")

    # the link reproduces the stack in a fresh tab
    other = new_page()
    other.goto(page.url)
    wait_for_run_after(other, 0)
    assert other.locator("#nv-network").input_value() == "custom"
    assert stack_row(other, 0).locator(".nv-stack-settings").inner_text() == "out channels 3, kernel size 5, padding 1"
    assert editor_shapes(other) == engine_shapes(stack)
    assert other.locator(".nv-layer[data-index='0'] button.map").count() == 3
    np.testing.assert_array_equal(download_layer(other, 0), download_layer(page, 0))

    # the layer's link opens the Layer lab on the same kind and settings
    unfold(other, 0)
    other.click("#nv-stack-layers > li >> nth=0 >> .nv-stack-lab")
    other.wait_for_url(re.compile(r"/\?kind=Conv2d"))
    other.wait_for_selector("#param-out_channels")
    assert other.input_value("#param-out_channels") == "3"
    assert other.input_value("#param-kernel_size") == "5"
    assert other.input_value("#param-padding") == "1"


def test_a_groups_slider_goes_up_to_the_channels_its_layer_gets(page):
    open_stack(page)  # 1 input channel -> conv 8 -> relu -> pool -> conv (gets 8) -> ...
    groups_max = "(index) => document.querySelector(`#nv-stack-${index}-groups`).max"
    assert page.evaluate(groups_max, 0) == "1"
    page.wait_for_function(f"({groups_max})(3) === '8'")  # known once a run has told the page the shapes
    unfold(page, 0)
    count = runs_done(page)
    press_on(page, "#nv-stack-0-out_channels", "ArrowLeft", 4)  # 8 -> 4 channels into layer 3
    wait_for_run_after(page, count)
    page.wait_for_function(f"({groups_max})(3) === '4'")
    unfold(page, 3)
    press_on(page, "#nv-stack-3-groups", "End")
    assert page.input_value("#nv-stack-3-groups") == "4"


def add_layer(page, kind: str) -> None:
    count = runs_done(page)
    page.select_option("#nv-stack-kind", kind)
    page.click("#nv-stack-add")
    wait_for_run_after(page, count)


def test_layers_can_be_added_moved_and_removed(page):
    open_stack(page)
    add_layer(page, "Tanh")
    assert stack_kinds(page) == [*DEFAULT_KINDS, "Tanh"]
    page.wait_for_function(f"document.querySelectorAll(\"{VIEW} .nv-layer\").length === 11")
    assert shown_kinds(page) == [*DEFAULT_KINDS, "Tanh"]
    assert stack_row(page, 9).locator(".nv-stack-toggle").get_attribute("aria-expanded") == "true"
    assert "This layer has no settings." in stack_row(page, 9).inner_text()
    # the keyboard goes on from the new layer's name, which says where it went
    assert page.evaluate("document.activeElement === document.querySelectorAll('#nv-stack-layers .nv-stack-toggle')[9]")
    # the kinds offered are those that take images or vectors: the recurrent cells live on /sequence
    offered = page.locator("#nv-stack-kind option").all_inner_texts()
    assert {"Conv2d", "ConvTranspose2d", "MaxPool2d", "Linear", "ReLU", "Upsample"} <= set(offered)
    assert not {"RNN", "LSTM", "GRU"} & set(offered)

    # Tanh before the softmax: Linear, Tanh, Softmax
    count = runs_done(page)
    stack_row(page, 9).locator(".nv-stack-up").click()
    wait_for_run_after(page, count)
    assert stack_kinds(page)[-3:] == ["Linear", "Tanh", "Softmax"]
    page.wait_for_function(f"[...document.querySelectorAll('{VIEW} .nv-layer .nv-kind')].slice(-2)"
                           ".map((e) => e.textContent).join() === 'Tanh,Softmax'")
    tanh, linear = download_layer(page, 8), download_layer(page, 7)
    np.testing.assert_allclose(tanh, np.tanh(linear), rtol=1e-6, atol=1e-7)

    # removing the first convolution: the stack starts with a ReLU of the image itself
    count = runs_done(page)
    stack_row(page, 0).locator(".nv-stack-remove").click()
    wait_for_run_after(page, count)
    assert stack_kinds(page)[:3] == ["ReLU", "MaxPool2d", "Conv2d"]
    page.wait_for_function(f"document.querySelector(\"{VIEW} .nv-layer[data-index='0'] .nv-kind\").textContent === 'ReLU'")
    assert editor_shapes(page)[:3] == ["1×28×28", "1×14×14", "16×14×14"]
    assert stack_row(page, 0).locator(".nv-stack-up").is_disabled()
    assert stack_row(page, len(stack_kinds(page)) - 1).locator(".nv-stack-down").is_disabled()

    # "Start again" brings back the stack a new visitor sees, and the link loses its stack
    count = runs_done(page)
    page.click("#nv-stack-reset")
    wait_for_run_after(page, count)
    assert stack_kinds(page) == DEFAULT_KINDS
    page.wait_for_function(f"document.querySelectorAll(\"{VIEW} .nv-layer\").length === {len(DEFAULT_KINDS) + 1}")
    assert shown_kinds(page) == DEFAULT_KINDS
    page.wait_for_url(lambda url: "stack=" not in url)


def test_an_image_layer_goes_before_the_flatten_and_a_failed_run_dims_the_last_good_maps(page):
    open_stack(page)
    add_layer(page, "Conv2d")
    page.wait_for_function(f"document.querySelector('{VIEW}').dataset.runState === 'done'")
    with_conv = [*DEFAULT_KINDS[:6], "Conv2d", *DEFAULT_KINDS[6:]]
    assert stack_kinds(page) == with_conv  # after the last pool, whose maps it can take
    good = stack_in_url(page)
    assert editor_shapes(page) == engine_shapes(good)
    assert stack_row(page, 6).locator(".nv-stack-toggle").get_attribute("aria-expanded") == "true"

    # moved past the Flatten, the convolution gets a vector: the run fails
    stack_row(page, 6).locator(".nv-stack-down").click()
    page.wait_for_function(f"document.querySelector('{VIEW}').dataset.runState === 'error'")
    assert "expects a 4-D input" in stack_row(page, 7).locator(".nv-stack-body > .error").inner_text()
    # the maps still on screen are the last good run's: dimmed, and the progress line says so
    assert set(layer_rows(page).evaluate_all("rows => rows.map((row) => row.dataset.state)")) == {"stale"}
    assert "The maps below, dimmed, are from the last run that worked." in page.inner_text("#nv-progress-text")
    # screen readers hear that the run stopped (the reason is in the row's alert), not every layer's progress
    assert page.text_content("#nv-run-said") == "Stopped: the server could not compute this run."
    # a row keeps a shape known for the same layers above it (the Flatten's from the first run, before the
    # convolution was added); the moved convolution and the rows below it have none until a run works
    assert editor_shapes(page) == engine_shapes(good)[:6] + ["784", "", "", ""]
    screenshot(page, "network-stack-failed-run")


def test_a_layer_that_cannot_run_says_why_in_its_own_row_and_the_stack_recovers(page):
    open_stack(page)
    unfold(page, 3)  # the second convolution reads 8×14×14 maps
    count = runs_done(page)
    press_on(page, "#nv-stack-3-kernel_size", "End")  # kernel 31 > 14 pixels
    page.wait_for_function(f"document.querySelector('{VIEW}').dataset.runState === 'error'")
    error = stack_row(page, 3).locator(".nv-stack-body > .error")
    # the engine's words, with the numbers: 14 pixels plus padding 1 a side is 16, less than the kernel
    assert "the dilated kernel 31 is larger than the padded input 16" in error.inner_text()
    assert not error.inner_text().startswith("layer 3"), "the row already says which layer"
    assert page.inner_text("#nv-stack-error") == (
        "Layer 3 cannot run: see its settings. Layers 4 to 8 were checked for their own settings only: what they get "
        "depends on layer 3, which cannot run.")
    # the layers above keep their shapes; that one and those after it have none (the last run's would mislead)
    shapes = editor_shapes(page)
    assert all(shapes[:3]) and not any(shapes[3:]), shapes
    screenshot(page, "network-stack-error")
    # a colour input refused too: the input row keeps the last run's gray picture (one map, not the three
    # channels of the input that run never used)
    input_maps = page.locator(".nv-layer[data-index='-1'] button.map")
    assert input_maps.count() == 1
    page.evaluate(f"""() => {{
      const view = document.querySelector("{VIEW}");
      window.__refused = 0;  // runs that ended in an error from now on
      new MutationObserver(() => {{ if (view.dataset.runState === "error") window.__refused++; }})
        .observe(view, {{ attributes: true, attributeFilter: ["data-run-state"] }});
    }}""")
    page.select_option("#nv-stack-channels", "3")
    page.wait_for_function("window.__refused > 0")
    assert input_maps.count() == 1
    page.select_option("#nv-stack-channels", "1")
    # opened again from its link, the stack has no good run to show: the empty list says why
    page.wait_for_function("new URLSearchParams(location.search).get('stack')?.includes('[1,')")
    page.reload()
    page.wait_for_function(f"document.querySelector('{VIEW}').dataset.runState === 'error'")
    assert page.locator("#nv-layers > *").count() == 0
    assert "the server could not compute this run" in page.evaluate(
        "getComputedStyle(document.querySelector('#nv-layers'), '::before').content")
    unfold(page, 3)
    count = runs_done(page)
    # back to a kernel that fits: the error goes and the stack runs again
    press_on(page, "#nv-stack-3-kernel_size", "Home")
    wait_for_run_after(page, count)
    page.wait_for_function(f"document.querySelector('{VIEW}').dataset.runState === 'done'")
    assert error.inner_text() == ""
    assert page.inner_text("#nv-stack-error") == ""
    page.wait_for_function("new URLSearchParams(location.search).get('stack')?.includes('\"kernel_size\":1')")
    assert editor_shapes(page) == engine_shapes(stack_in_url(page))
    assert editor_shapes(page)[3] == "16×16×16"  # Home: the smallest kernel, 1, with padding 1 a side


def stack_errors(page) -> dict[int, str]:
    """Each stack row's own error line, by index, for the rows that show one."""
    texts = page.locator(f"{STACK_ROWS} .nv-stack-body > .error").all_inner_texts()
    return {index: text for index, text in enumerate(texts) if text}


def test_every_layer_that_cannot_run_is_named_at_once_and_the_rest_said_to_be_unchecked(page):
    stack = {"input": [1, 28, 28], "layers": [
        {"kind": "Conv2d", "params": {"out_channels": 8}},  # 26×26
        {"kind": "MaxPool2d", "params": {"padding": 2}},  # padding past half the kernel, whatever its input
        {"kind": "Conv2d", "params": {"kernel_size": 15}},  # larger than the 13×13 it gets once the pool is mended
        {"kind": "ReLU", "params": {}},
        {"kind": "MaxPool2d", "params": {"padding": 3}},  # at fault whatever its input, so named at once too
        {"kind": "Flatten", "params": {}}, {"kind": "Linear", "params": {"out_features": 10}}]}
    page.goto(f"/network?network=custom&stack={urllib.parse.quote(json.dumps(stack))}")
    page.wait_for_function(f"document.querySelector('{VIEW}').dataset.runState === 'error'")
    half = "MaxPool2d: padding ({0}, {0}) must be at most half of kernel_size (2, 2)"
    assert stack_errors(page) == {1: half.format(2), 4: half.format(3)}
    for index in (1, 4):
        assert stack_row(page, index).locator(".nv-stack-toggle").get_attribute("aria-expanded") == "true"
    assert page.inner_text("#nv-stack-error") == (
        "Layers 1 and 4 cannot run: see their settings. Layers 2 to 6 were checked for their own settings only: what "
        "they get depends on layer 1, which cannot run.")
    screenshot(page, "network-stack-several-errors")

    # the first pool mended: the convolution below it now meets its input, and is named with the second pool
    count = runs_done(page)
    press_on(page, "#nv-stack-1-padding", "Home")
    page.wait_for_function("document.querySelector('#nv-stack-error').textContent.startsWith('Layers 2 and 4')")
    errors = stack_errors(page)
    assert sorted(errors) == [2, 4] and "the dilated kernel 15 is larger than the padded input 13" in errors[2]
    assert page.inner_text("#nv-stack-error").endswith(
        "Layers 3 to 6 were checked for their own settings only: what they get depends on layer 2, which cannot run.")

    # a larger input gives the convolution room: its row's error goes, though the row itself was not touched
    press_on(page, "#nv-stack-size", "ArrowRight", times=8)  # 36 px: 34, pooled to 17
    page.wait_for_function("document.querySelector('#nv-stack-error').textContent.startsWith('Layer 4 cannot run')")
    assert stack_errors(page) == {4: half.format(3)}
    assert page.inner_text("#nv-stack-error") == (
        "Layer 4 cannot run: see its settings. Layers 5 and 6 were checked for their own settings only: what they "
        "get depends on layer 4, which cannot run.")

    # the last one mended: the stack runs, with the engine's shapes
    press_on(page, "#nv-stack-4-padding", "Home")
    wait_for_run_after(page, count)
    page.wait_for_function(f"document.querySelector('{VIEW}').dataset.runState === 'done'")
    assert stack_errors(page) == {} and page.inner_text("#nv-stack-error") == ""
    assert editor_shapes(page) == engine_shapes(stack_in_url(page))
    assert editor_shapes(page)[2] == "4×3×3"


def test_an_output_past_the_size_limit_is_named_in_its_row_without_repeating_the_layer(page):
    stack = {"input": [3, 256, 256], "layers": [{"kind": "Upsample", "params": {"scale_factor": 8}},
                                                {"kind": "Upsample", "params": {"scale_factor": 8}}]}
    page.goto(f"/network?network=custom&stack={urllib.parse.quote(json.dumps(stack))}")
    page.wait_for_function(f"document.querySelector('{VIEW}').dataset.runState === 'error'")
    error = stack_row(page, 1).locator(".nv-stack-body > .error").inner_text()
    assert error.startswith("its output [1, 3, 16384, 16384] would hold 805,306,368 values; the limit is "), error
    assert page.inner_text("#nv-stack-error") == "Layer 1 cannot run: see its settings."


def test_a_links_settings_that_a_layer_cannot_take_are_named_and_replaced(page):
    stack = {"input": [1, 28, 28], "layers": [{"kind": "Conv2d", "params": {"out_channels": "abc", "stride": -3}},
                                              {"kind": "ReLU", "params": {}}]}
    open_stack(page, f"&stack={urllib.parse.quote(json.dumps(stack))}")
    items = page.locator("#link-notice li").all_inner_texts()
    assert items == ["stack layer 0.out_channels=abc: not a value Conv2d takes here.",
                     "stack layer 0.stride=-3: held to 1, what the stack can show."]
    unfold(page, 0)
    # the row's controls show what the layer runs with (the slider had shown "abc" half way along)
    assert page.text_content("[data-param='out_channels'] output") == "4"
    assert page.text_content("[data-param='stride'] output") == "1"
    assert stack_in_url(page)["layers"][0]["params"] == {"stride": 1}
    assert editor_shapes(page)[0] == "4×26×26"


def test_the_input_shape_and_an_unreadable_link(page):
    open_stack(page)
    count = runs_done(page)
    page.select_option("#nv-stack-channels", "3")
    wait_for_run_after(page, count)
    page.wait_for_function(f"document.querySelector(\"{VIEW} .nv-layer[data-index='-1'] .nv-shape\").textContent === '1×3×28×28'")
    count = runs_done(page)
    press_on(page, "#nv-stack-size", "ArrowRight", 4)
    wait_for_run_after(page, count)
    page.wait_for_function(f"document.querySelector(\"{VIEW} .nv-layer[data-index='-1'] .nv-shape\").textContent === '1×3×32×32'")
    assert page.inner_text("#nv-stack-size-shown") == "32 px"
    assert editor_shapes(page)[:3] == ["8×32×32", "8×32×32", "8×16×16"]
    assert stack_in_url(page)["input"] == [3, 32, 32]
    count = runs_done(page)
    page.click("#nv-stack-reset")
    wait_for_run_after(page, count)
    assert page.input_value("#nv-stack-channels") == "1" and page.inner_text("#nv-stack-size-shown") == "28 px"
    page.wait_for_function(f"document.querySelector(\"{VIEW} .nv-layer[data-index='-1'] .nv-shape\").textContent === '1×1×28×28'")

    # a link whose stack is not one (hand-edited, cut short) falls back to the default stack and says so
    # and what in it could not be used
    for broken, why in (("not-json", "it is not JSON"),
                        (json.dumps({"input": [2, 28, 28], "layers": []}), "its input is [2,28,28], not [channels, "),
                        (json.dumps({"input": [1, 28, 28], "layers": []}), "it has no layers"),
                        (json.dumps({"input": [1, 28, 28], "layers": [{"kind": "ReLU", "params": {}},
                                                                      {"kind": "Teleport", "params": {}}]}),
                         "layer 1's kind \"Teleport\" is not one of Conv2d, "),
                        (json.dumps({"input": [1, 28, 28], "layers": [{"kind": "ReLU", "params": [1]}]}),
                         "layer 0's params are [1], not an object of settings")):
        page.goto(f"/network?network=custom&stack={urllib.parse.quote(broken)}")
        wait_for_run_after(page, 0)
        assert stack_kinds(page) == DEFAULT_KINDS
        error = page.inner_text("#nv-stack-error")
        assert error.startswith(f"The stack in this link could not be read: {why}"), error
        assert error.endswith(". This is the stack to start from."), error


def test_a_live_follower_sees_the_presenters_stack_change(new_page):
    presenter = new_page()
    open_stack(presenter)
    code = start_session(presenter)
    follower = new_page()
    follower.goto(f"/?follow={code}")
    follower.wait_for_url(re.compile(r"/network\?network=custom"))
    wait_for_run_after(follower, 0)
    assert follower.is_visible("#nv-stack") and stack_kinds(follower) == DEFAULT_KINDS

    before = runs_done(follower)
    presenter.select_option("#nv-stack-kind", "Sigmoid")
    presenter.click("#nv-stack-add")
    wait_for_run_after(follower, before)
    follower.wait_for_function("document.querySelectorAll('#nv-stack-layers > li').length === 10")
    assert stack_kinds(follower) == [*DEFAULT_KINDS, "Sigmoid"]
    follower.wait_for_function(f"document.querySelectorAll(\"{VIEW} .nv-layer\").length === 11")
    assert shown_kinds(follower) == shown_kinds(presenter)
    np.testing.assert_array_equal(download_layer(follower, 9), download_layer(presenter, 9))


def test_a_built_in_networks_layers_can_be_copied_into_the_stack(page, server_url):
    for name in ("digits-cnn", "digits-autoencoder"):
        page.goto(f"/network?network={name}")
        wait_for_run_after(page, 0)
        built_in = shown_kinds(page)
        assert page.is_hidden("#nv-stack")
        count = runs_done(page)
        page.click("#nv-copy-stack")
        wait_for_run_after(page, count)
        page.wait_for_url(re.compile(r"network=custom"))
        assert page.is_visible("#nv-stack") and page.is_hidden("#nv-copy-stack")
        spec = model(server_url, name)["spec"]
        assert stack_kinds(page) == [layer["kind"] for layer in spec["layers"]] == built_in
        page.wait_for_function(f"document.querySelectorAll(\"{VIEW} .nv-layer\").length === {len(built_in) + 1}")
        assert shown_kinds(page) == built_in
        reference = {"input": spec["input_shape"], "layers": spec["layers"]}
        assert editor_shapes(page) == engine_shapes(reference) == engine_shapes(stack_in_url(page))
        assert page.get_attribute(VIEW, "data-run-state") == "done"
        if name == "digits-autoencoder":
            # the decoder's dense layer keeps its 784 features although the slider usually stops at 256
            settings = page.locator(f"{STACK_ROWS} .nv-stack-settings").all_inner_texts()
            assert "out features 784" in settings, settings
            index = settings.index("out features 784")
            unfold(page, index)
            assert page.input_value(f"#nv-stack-{index}-out_features") == "784"
        # Back returns to the trained network
        count = runs_done(page)
        page.go_back()
        wait_for_run_after(page, count)
        assert page.locator("#nv-network").input_value() == name


def test_copying_a_network_keeps_the_keyboard_in_the_stack(page):
    """The copy button hides itself once pressed: the focus goes to the stack it revealed, not to the page's body."""
    page.goto("/network?network=digits-cnn")
    wait_for_run_after(page, 0)
    count = runs_done(page)
    page.focus("#nv-copy-stack")
    page.keyboard.press("Enter")
    wait_for_run_after(page, count)
    assert page.is_hidden("#nv-copy-stack")
    assert page.evaluate("document.activeElement.id") == "nv-stack-title"
    page.keyboard.press("Tab")  # and Tab goes on into the stack's controls
    assert page.evaluate("document.activeElement.closest('#nv-stack') !== null")


def test_add_turns_off_at_the_servers_layer_limit_and_says_why(page):
    stack = {"input": [1, 28, 28], "layers": [{"kind": "ReLU", "params": {}}] * 63}
    open_stack(page, f"&stack={urllib.parse.quote(json.dumps(stack))}")
    assert page.is_enabled("#nv-stack-add") and page.is_hidden("#nv-stack-full")
    page.select_option("#nv-stack-kind", "ReLU")
    count = runs_done(page)
    page.click("#nv-stack-add")
    wait_for_run_after(page, count)
    assert len(stack_kinds(page)) == 64
    assert page.is_disabled("#nv-stack-add")
    assert page.inner_text("#nv-stack-full") == ("The stack has 64 layers, as many as the server runs (64): remove "
                                                 "one to add another.")
    stack_row(page, 0).locator(".nv-stack-remove").click()
    assert page.is_enabled("#nv-stack-add") and page.is_hidden("#nv-stack-full")
