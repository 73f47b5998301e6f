"""The colouring page end to end, in a real headless browser (Debian's chromium, driven by
Playwright): upload line art, paint a stroke, place a point, colour, download.

The browser is Debian's ``chromium`` package, installed here with apt-get when it is missing
and this user may (root or password-less sudo); Playwright never downloads one. Set
ANIME_COLORIZE_CHROMIUM to use another Chromium binary. Where no browser can be had, the tests
skip and say why.

The model is trained here, briefly (300 steps at 32 px, about 20-40 s on two CPU cores), with
a strong hint weight, so a hint's colour really shows up in the colouring: nothing in the
server lays hint colours over the result.

The README's screenshots (assets/app.png, assets/app_fill.png) are pictures, not checks: they are
taken by ``experiments/app_screenshot.py``.
"""
import base64
import io
import json
import os
import shlex
import shutil
import subprocess
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from anime_colorize import app as app_lib
from anime_colorize import colorize as colorize_cli

WIDTH, HEIGHT = 240, 180
RED, BLUE = (220, 30, 30), (30, 60, 220)
BRUSH = 18
APT_TIMEOUT = 900

# It installs a browser and trains a model for a minute: not for the default suite.
pytestmark = pytest.mark.slow


def _chromium_on_path():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _install_chromium():
    """Installs Debian's chromium package; returns None or the reason it could not be done."""
    if not shutil.which("apt-get"):
        return "no chromium on PATH and no apt-get to install it (set ANIME_COLORIZE_CHROMIUM)"
    prefix = []
    if os.geteuid() != 0:
        sudo = shutil.which("sudo")
        if not sudo or subprocess.run([sudo, "-n", "true"], capture_output=True).returncode != 0:
            return "no chromium on PATH, and installing it needs root or password-less sudo"
        prefix = [sudo, "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = prefix + ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
    result = None
    for attempt in ("install", "update", "install"):
        command = prefix + ["apt-get", "update", "-q"] if attempt == "update" else install
        try:
            result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=APT_TIMEOUT)
        except subprocess.TimeoutExpired:
            return f"'{' '.join(command)}' did not finish in {APT_TIMEOUT} s"
        if attempt == "install" and result.returncode == 0:
            return None
    tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
    return f"'{' '.join(install)}' failed: {' | '.join(tail)}"


@pytest.fixture(scope="session")
def chromium_path():
    """Debian's chromium (installed now if needed), or a skip with the reason."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright Python package is not installed (pip install -e '.[test]')")
    path = os.environ.get("ANIME_COLORIZE_CHROMIUM") or _chromium_on_path()
    if not path:
        reason = _install_chromium()
        path = _chromium_on_path()
        if not path:
            pytest.skip(f"no browser for the end-to-end test: {reason or 'chromium installed but not on PATH'}")
    return path


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=chromium_path, headless=True,
                                        args=["--no-sandbox", "--disable-gpu"])
        except Error as e:
            pytest.skip(f"{chromium_path} would not start under Playwright: {str(e).splitlines()[0]}")
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def obedient_model(tmp_path_factory):
    """A line-art model with every hint kind, trained just long enough to follow hints."""
    from anime_colorize import training
    from anime_colorize.config import RunConfig, apply_overrides

    out = tmp_path_factory.mktemp("hint_model")
    config = apply_overrides(RunConfig(), {
        "out": str(out), "size": 32, "batch_size": 8, "num_images": 64, "depth": 2, "filters": 8, "z_dim": 4,
        "steps": 300, "log_every": 100, "sample_every": 10_000, "checkpoint_every": 10_000, "algo": "dcgan",
        "hints": "mix", "input": "lineart", "lambda_hint": 100.0, "lambda_adv": 0.1})
    return training.fit(config, progress=False)["keras"]


def serve_model(model_path, **limits):
    from anime_colorize.export import load_generator

    service = app_lib.ColorizeService(load_generator(model_path), app_lib.Limits(**limits))
    server = app_lib.AppServer(("127.0.0.1", 0), service)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="session")
def server(obedient_model):
    server = serve_model(obedient_model)
    yield server
    server.shutdown()
    server.server_close()


def line_art(path: Path) -> Path:
    """Black outlines on white: two big boxes and a circle, WIDTH x HEIGHT."""
    import cv2

    img = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)
    cv2.rectangle(img, (10, 10), (110, 170), (0, 0, 0), 2)
    cv2.rectangle(img, (130, 10), (230, 170), (0, 0, 0), 2)
    cv2.circle(img, (60, 130), 22, (0, 0, 0), 2)
    Image.fromarray(img).save(path)
    return path


def decode_data_url(url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def page_point(page, x, y):
    """Picture pixel (x, y) -> page coordinates of its centre on the hint canvas."""
    box = page.locator("#hint-canvas").bounding_box()
    return box["x"] + (x + 0.5) * box["width"] / WIDTH, box["y"] + (y + 0.5) * box["height"] / HEIGHT


def set_range(page, selector, value):
    page.eval_on_selector(selector, "(el, v) => { el.value = v; el.dispatchEvent(new Event('input')); }", value)


def wait_coloured(page):
    page.wait_for_function("() => { const s = document.getElementById('status');"
                           " return s.className === 'ok' && s.textContent.startsWith('Coloured'); }", timeout=60_000)


def download_result(page) -> np.ndarray:
    """The chosen variant, as the download button saves it: at the upload's full size."""
    with page.expect_request(lambda r: r.url.endswith("/api/colorize")) as sent, page.expect_download() as saved:
        page.click("#download-result")
    assert "max_side" not in sent.value.post_data_json and sent.value.post_data_json["variant"] == 0
    result = np.asarray(Image.open(saved.value.path()))
    assert result.shape == (HEIGHT, WIDTH, 3)
    return result


def redness(rgb: np.ndarray) -> float:
    rgb = rgb.astype(np.float32)
    return float(np.mean(rgb[..., 0] - (rgb[..., 1] + rgb[..., 2]) / 2))


def blueness(rgb: np.ndarray) -> float:
    rgb = rgb.astype(np.float32)
    return float(np.mean(rgb[..., 2] - (rgb[..., 0] + rgb[..., 1]) / 2))


def test_paint_a_stroke_and_colour_it(browser, server, obedient_model, tmp_path, monkeypatch):
    from anime_colorize.data import hints as H

    picture = line_art(tmp_path / "drawing.png")
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not a PNG")
    context = browser.new_context(viewport={"width": 1400, "height": 800}, accept_downloads=True)
    page = context.new_page()
    errors, foreign = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: None if r.url.startswith((server.url, "data:", "blob:")) else foreign.append(r.url))
    page.goto(server.url)
    page.wait_for_function("() => document.getElementById('model-info').textContent.includes('lineart')")

    # quick previews at 120 px; downloads are coloured again at the upload's full size
    page.eval_on_selector("#preview-select", "el => { el.add(new Option('120 px', '120')); el.value = '120'; }")

    # upload: the page colours it once without hints
    with page.expect_response("**/api/colorize") as first:
        page.set_input_files("#file-input", str(picture))
    assert first.value.json()["width"] == 120 and len(first.value.json()["variants"]) == 4
    wait_coloured(page)
    assert "240×180 px" in page.locator("#picture-info").inner_text()
    assert "preview 120×90 px (downloads: 240×180)" in page.locator("#result-info").inner_text()
    before = download_result(page)

    # a red stroke across the left box; the page colours again on its own when it ends
    page.fill("#color-input", "#%02x%02x%02x" % RED)
    page.click("[data-tool=brush]")
    set_range(page, "#size-input", BRUSH)
    y, xs = 80, (30, 90)
    with page.expect_request(lambda r: r.url.endswith("/api/colorize") and "hints_png" in (r.post_data or "")) as sent:
        page.mouse.move(*page_point(page, xs[0], y))
        page.mouse.down()
        for x in range(xs[0], xs[1] + 1, 6):
            page.mouse.move(*page_point(page, x, y))
        page.mouse.up()
    body = sent.value.post_data_json
    wait_coloured(page)
    layer = decode_data_url(body["hints_png"])
    assert layer.shape == (HEIGHT, WIDTH, 4)
    assert (layer[y, xs[0]:xs[1] + 1] == RED + (255,)).all()  # exactly the painted colour, full size
    assert set(np.unique(layer[..., 3])) == {0, 255}  # a hard mask, as hints_from_stroke_png reads it
    assert layer[y - BRUSH // 2 + 2, 60, 3] == 255 and layer[y - BRUSH // 2 - 3, 60, 3] == 0
    assert layer[:, 120:, 3].max() == 0 and layer[:50, :, 3].max() == 0

    # the colouring is red where the stroke was, and it was not before
    result = download_result(page)
    band = np.s_[y - 5:y + 6, xs[0] + 5:xs[1] - 5]
    assert redness(result[band]) > 60, redness(result[band])
    assert redness(result[band]) > redness(before[band]) + 40
    assert redness(result[band]) > redness(result[y - 5:y + 6, 150:210]) + 40  # not everywhere

    # a blue colour point in the right box
    page.fill("#color-input", "#%02x%02x%02x" % BLUE)
    page.click("[data-tool=point]")
    with page.expect_request(lambda r: r.url.endswith("/api/colorize") and '"points"' in (r.post_data or "")) as sent:
        page.mouse.click(*page_point(page, 180, 90))
    assert sent.value.post_data_json["points"] == {"points": [{"x": 180, "y": 90, "rgb": list(BLUE), "size": BRUSH}]}
    wait_coloured(page)
    result = download_result(page)
    assert blueness(result[85:96, 175:186]) > max(30, blueness(result[band]) + 40)

    # the hint downloads are what the library's loaders read, and hold what was sent
    with page.expect_download() as png_download:
        page.click("#download-hints-png")
    with page.expect_download() as json_download:
        page.click("#download-points")
    assert png_download.value.suggested_filename == "drawing_hints.png"
    saved_layer = np.asarray(Image.open(png_download.value.path()))
    np.testing.assert_array_equal(saved_layer, layer)
    stroke_hints = H.hints_from_stroke_png(saved_layer)
    np.testing.assert_array_equal(np.asarray(stroke_hints["hint_mask"])[0, ..., 0], layer[..., 3] > 0)
    points = json.loads(Path(json_download.value.path()).read_text())
    point_hints = H.hints_from_points_json(points, HEIGHT, WIDTH)
    assert np.asarray(point_hints["hint_mask"])[0, 82:100, 172:190].min() == 1

    # the hints folder and the command shown on the page give the same colouring from the command line
    with page.expect_download() as zip_download:
        page.click("#download-hints-zip")
    with zipfile.ZipFile(zip_download.value.path()) as archive:
        assert sorted(archive.namelist()) == ["hints/drawing.json", "hints/drawing.png"]
        archive.extractall(tmp_path)
    command = shlex.split(page.locator("#command-line").inner_text())
    assert command[:3] == ["python", "-m", "anime_colorize.colorize"]
    assert command[command.index("--model") + 1] == obedient_model and "--hints-dir" in command
    monkeypatch.chdir(tmp_path)
    assert colorize_cli.main(command[3:] + ["--quiet"]) == 0
    from_cli = np.asarray(Image.open(tmp_path / "colored" / "drawing_0.png"))
    assert np.abs(from_cli.astype(int) - result).max() <= 2

    # undo takes the point away; the stroke stays
    with page.expect_request(lambda r: r.url.endswith("/api/colorize")) as sent:
        page.click("#undo-button")
    assert "points" not in sent.value.post_data_json and "hints_png" in sent.value.post_data_json
    assert page.locator("#download-points").is_disabled()
    wait_coloured(page)

    # a broken upload gets a message, and the page keeps the drawing
    page.set_input_files("#file-input", str(bad))
    page.wait_for_function("() => document.getElementById('status').className === 'error'")
    message = page.locator("#status").inner_text()
    assert "could not be read" in message and "Traceback" not in message
    assert page.locator("#picture-info").inner_text().startswith("drawing.png")

    assert errors == [] and foreign == []
    context.close()


GREEN = (40, 180, 60)


def region_overlay_box(page):
    """The bounding box, in picture pixels, of what the region outline canvas shows, or None."""
    return page.evaluate("""() => {
        const c = document.getElementById('region-canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let x0 = Infinity, y0 = Infinity, x1 = -1, y1 = -1;
        for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) {
            if (d[4 * (y * c.width + x) + 3] > 0) { x0 = Math.min(x0, x); y0 = Math.min(y0, y);
                                                    x1 = Math.max(x1, x); y1 = Math.max(y1, y); }
        }
        const s = c.width / %d;
        return x1 < 0 ? null : [x0 / s, y0 / s, (x1 + 1) / s, (y1 + 1) / s];
    }""" % WIDTH)


def test_fill_brush_fills_a_region_and_not_across_a_line(browser, server, tmp_path):
    from psd_tools import PSDImage

    picture = line_art(tmp_path / "drawing.png")
    context = browser.new_context(viewport={"width": 1400, "height": 800}, accept_downloads=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url)
    page.wait_for_function("() => document.getElementById('model-info').textContent.includes('lineart')")
    assert page.locator("#mode-select").input_value() == "flat"  # the default for line-art models
    page.set_input_files("#file-input", str(picture))
    wait_coloured(page)
    assert page.locator("#picture-info").inner_text().endswith("4 regions")  # two boxes, a circle, the paper

    # the region under the cursor is outlined: the right box, nothing beyond its lines
    page.fill("#color-input", "#%02x%02x%02x" % GREEN)
    page.click("[data-tool=fill]")
    page.mouse.move(*page_point(page, 180, 90))
    box = region_overlay_box(page)
    assert box is not None and 128 <= box[0] <= 134 and 166 <= box[3] <= 172 and box[2] <= 232, box

    # a click fills the whole left box (not the circle inside it, not the paper around it)
    with page.expect_request(lambda r: r.url.endswith("/api/colorize") and "hints_png" in (r.post_data or "")) as sent:
        page.mouse.click(*page_point(page, 60, 50))
    body = sent.value.post_data_json
    assert body["mode"] == "flat"
    layer = decode_data_url(body["hints_png"])
    alpha = layer[..., 3]
    assert (alpha[14:100, 14:107] == 255).all() and (layer[14:100, 14:107, :3] == GREEN).all()
    assert alpha[130, 60] == 0 and alpha[90, 180] == 0 and alpha[90, 120] == 0 and alpha[3, 3] == 0
    wait_coloured(page)
    with page.expect_download() as saved:  # coloured at full size already: saved as shown
        page.click("#download-result")
    result = np.asarray(Image.open(saved.value.path()))
    assert np.abs(result[20:95, 20:100].astype(int) - GREEN).max() <= 3  # a flat of the chosen colour
    assert np.abs(result[125:136, 55:66].astype(int) - GREEN).sum(axis=-1).min() > 30  # the circle: not filled
    assert np.abs(result[80:100, 150:210].astype(int) - GREEN).sum(axis=-1).min() > 30  # the right box neither

    # a fill stroke from the right box across its line fills both regions it crosses, and only those
    with page.expect_request(lambda r: r.url.endswith("/api/colorize") and "hints_png" in (r.post_data or "")) as sent:
        page.mouse.move(*page_point(page, 200, 60))
        page.mouse.down()
        for x in range(200, 240, 4):
            page.mouse.move(*page_point(page, x, 60))
        page.mouse.up()
    alpha = decode_data_url(sent.value.post_data_json["hints_png"])[..., 3]
    assert alpha[90, 180] == 255 and alpha[90, 120] == 255 and alpha[3, 3] == 255  # right box and the paper
    assert alpha[130, 60] == 0  # the circle stays unhinted
    wait_coloured(page)

    # the layers and the PSD download at full size
    with page.expect_download() as zipped:
        page.click("#download-layers")
    with zipfile.ZipFile(zipped.value.path()) as archive:
        names = sorted(archive.namelist())
        assert names == sorted(f"drawing_colored_seed0_0{tail}" for tail in (".png", "_flat.png", "_shade.png",
                                                                             "_lines.png"))
        flat = np.asarray(Image.open(archive.open("drawing_colored_seed0_0_flat.png")))
    assert flat.shape == (HEIGHT, WIDTH, 3) and np.abs(flat[20:95, 20:100].astype(int) - GREEN).max() <= 3
    with page.expect_download() as psd_file:
        page.click("#download-psd")
    psd = PSDImage.open(psd_file.value.path())
    assert [layer.name for layer in psd] == ["flat", "shade", "lines"] and psd.size == (WIDTH, HEIGHT)

    # undo takes the stroke's fill away; smooth mode has no layers to download
    with page.expect_request(lambda r: r.url.endswith("/api/colorize")) as sent:
        page.click("#undo-button")
    assert decode_data_url(sent.value.post_data_json["hints_png"])[90, 180, 3] == 0
    wait_coloured(page)
    with page.expect_request(lambda r: r.url.endswith("/api/colorize")) as sent:
        page.select_option("#mode-select", "smooth")
    assert sent.value.post_data_json["mode"] == "smooth"
    wait_coloured(page)
    assert page.locator("#download-psd").is_disabled() and page.locator("#shading-input").is_disabled()
    assert errors == []
    context.close()
