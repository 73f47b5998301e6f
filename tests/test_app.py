"""The colouring page's server (anime_colorize.app): endpoints, limits, errors, concurrency."""
import base64
import io
import json
import logging
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from importlib import resources

import numpy as np
import pytest
from PIL import Image

from anime_colorize import app as app_lib

Z_DIM = 4


def tiny_generator(input_kind="lineart", hint_kinds=("points", "scribble", "blur", "histogram", "reference")):
    """An untrained 32 px generator (the endpoints' plumbing does not need a trained one); line
    art with region pooling and the hint fill, as training builds it."""
    from anime_colorize.export import LoadedGenerator
    from anime_colorize.models import UNetGenerator

    model = UNetGenerator(z_dim=Z_DIM, depth=2, filters=8, input_kind=input_kind, working_size=32,
                          hint_kinds=hint_kinds, region_pooling=input_kind == "lineart", hint_fill=True)
    return LoadedGenerator.from_model(model, f"tiny_{input_kind}.keras")


@pytest.fixture(scope="module")
def hint_generator():
    return tiny_generator()


@pytest.fixture(scope="module")
def plain_generator():
    return tiny_generator("gray", ())


class Client:
    """A running AppServer on a free port and helpers to call it."""

    def __init__(self, service):
        self.service = service
        self.server = app_lib.AppServer(("127.0.0.1", 0), service)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def request(self, path, body=None, content_type="application/json", method=None, raw=None):
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.server.url.rstrip("/") + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def post(self, path, body, **kwargs):
        status, _, payload = self.request(path, body, **kwargs)
        return status, json.loads(payload)


@pytest.fixture
def serve():
    clients = []

    def start(generator, **limits):
        client = Client(app_lib.ColorizeService(generator, app_lib.Limits(**limits)))
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.close()


def png_b64(arr, mode=None) -> str:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(arr, np.uint8), mode).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def decode_png(b64) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


def drawing(height=53, width=75) -> np.ndarray:
    """Line art: black lines on white, uint8 (H, W, 3)."""
    img = np.full((height, width, 3), 255, np.uint8)
    img[height // 3, :] = 0
    img[:, width // 2] = 0
    img[5:9, 5:30] = 40
    return img


def stroke_layer(height=53, width=75) -> np.ndarray:
    rgba = np.zeros((height, width, 4), np.uint8)
    rgba[25:40, 5:30] = (230, 40, 30, 255)
    rgba[25:40, 45:70] = (30, 70, 220, 255)
    return rgba


POINTS = {"points": [{"x": 10, "y": 30, "rgb": [20, 200, 40], "size": 5}, {"x": 60, "y": 10, "rgb": [250, 220, 0]}]}


def library_colorize(generator, image_u8, variants, seed, hints=None):
    """What the server should return, computed with the library directly (uint8 like the PNGs)."""
    from anime_colorize import sampling

    z = sampling.random_sweep(variants, generator.z_dim, seed)
    out = sampling.colorize(generator, image_u8.astype(np.float32) / 255.0, z, hints)
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)


# --- the page -----------------------------------------------------------------------------------
def test_page_assets_and_info_are_served(serve, hint_generator):
    client = serve(hint_generator, max_pixels=12345, max_variants=5)
    status, headers, page = client.request("/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    page = page.decode()
    for element in ('id="hint-canvas"', 'id="color-input"', 'id="size-input"', 'data-tool="eraser"',
                    'data-tool="point"', 'id="undo-button"', 'id="reference-input"', 'id="variants"',
                    'id="download-result"', 'id="download-hints-png"', 'id="download-points"'):
        assert element in page
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page):
        status, _, body = client.request(asset)
        assert status == 200 and body, asset
    status, headers, _ = client.request("/static/app.js")
    assert headers["Content-Type"].startswith("text/javascript")
    status, _, info = client.request("/api/info")
    info = json.loads(info)
    assert status == 200
    assert info["input_kind"] == "lineart" and info["z_dim"] == Z_DIM and info["working_size"] == 32
    assert info["spatial_hints"] and info["reference_hints"] and "scribble" in info["hint_kinds"]
    assert info["max_pixels"] == 12345 and info["max_variants"] == 5 and info["busy"] is False


@pytest.mark.parametrize("path, status", [("/static/../app.py", 404), ("/static/nothing.js", 404),
                                          ("/static/%2e%2e%2fapp.py", 404), ("/etc/passwd", 404),
                                          ("/api/colorize", 405), ("/api/nothing", 404)])
def test_unknown_paths_get_json_errors(serve, hint_generator, path, status):
    got, headers, body = serve(hint_generator).request(path)
    assert got == status
    assert headers["Content-Type"] == "application/json" and "error" in json.loads(body)


def test_page_loads_nothing_from_other_hosts(serve, hint_generator):
    """The page must work offline: no URL to another host in any asset, and a Content-Security-
    Policy that lets the browser talk to this server only."""
    folder = resources.files("anime_colorize") / "app_static"
    names = [f.name for f in folder.iterdir() if f.is_file()]
    assert {"index.html", "app.js", "app.css"} <= set(names)
    client = serve(hint_generator)
    for name in names:
        status, headers, body = client.request(f"/static/{name}")
        assert status == 200
        text = body.decode("utf-8")
        urls = re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"'<>)]*", text)
        # an SVG's namespace is a name, never fetched
        assert [u for u in urls if u != "http://www.w3.org/2000/svg"] == [], name
        assert not re.search(r"@import|<link[^>]+href=\"(?!/static/)", text), name
        csp = headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "script-src 'self'" in csp


# --- colouring ----------------------------------------------------------------------------------
def test_colorize_returns_the_library_colourings_at_full_resolution(serve, hint_generator):
    client = serve(hint_generator)
    image = drawing()
    status, answer = client.post("/api/colorize", {"image": "data:image/png;base64," + png_b64(image),
                                                   "variants": 3, "seed": 7, "mode": "smooth"})
    assert status == 200, answer
    assert (answer["width"], answer["height"], answer["seed"]) == (75, 53, 7)
    got = np.stack([decode_png(v) for v in answer["variants"]])
    assert got.shape == (3, 53, 75, 3)
    np.testing.assert_allclose(got, library_colorize(hint_generator, image, 3, 7), atol=1)
    assert np.abs(got[0].astype(int) - got[1]).max() > 0  # the variants differ in z
    _, again = client.post("/api/colorize", {"image": png_b64(image), "variants": 3, "seed": 7, "mode": "smooth"})
    assert again["variants"] == answer["variants"]  # same seed, same colourings


def test_colorize_uses_strokes_points_and_reference(serve, hint_generator):
    """Strokes, points (overwriting strokes where both) and the reference's histogram reach the
    model exactly as the library's hint loaders make them."""
    import tensorflow as tf

    from anime_colorize.data import hints as H

    client = serve(hint_generator)
    image, rgba = drawing(), stroke_layer()
    reference = np.zeros((20, 30, 3), np.uint8)
    reference[:, :15] = (200, 30, 160)
    body = {"image": png_b64(image), "hints_png": png_b64(rgba, "RGBA"), "points": POINTS,
            "reference": png_b64(reference), "variants": 2, "seed": 1, "mode": "smooth"}
    status, answer = client.post("/api/colorize", body)
    assert status == 200, answer
    strokes, points = H.hints_from_stroke_png(rgba), H.hints_from_points_json(POINTS, 53, 75)
    expected_hints = {
        "hint_ab": tf.where(points["hint_mask"] > 0, points["hint_ab"], strokes["hint_ab"]),
        "hint_mask": tf.maximum(points["hint_mask"], strokes["hint_mask"]),
        "hint_hist": H.reference_histogram(reference.astype(np.float32) / 255.0)}
    got = np.stack([decode_png(v) for v in answer["variants"]])
    np.testing.assert_allclose(got, library_colorize(hint_generator, image, 2, 1, expected_hints), atol=1)
    without = np.stack([decode_png(v) for v in client.post("/api/colorize", dict(
        body, hints_png=None, points=None, reference=None))[1]["variants"]])
    assert np.abs(got.astype(int) - without).max() > 0  # the hints changed the colouring


def test_previews_are_shrunk_and_one_variant_can_be_asked_for(serve, hint_generator):
    """max_side colours the picture and its hints shrunk alike (the page's quick previews);
    variant=k colours only z row k, as in the full set (the page's full-size download)."""
    from anime_colorize import sampling
    from anime_colorize.data import hints as H

    client = serve(hint_generator)
    image, rgba = drawing(), stroke_layer()
    body = {"image": png_b64(image), "hints_png": png_b64(rgba, "RGBA"), "variants": 3, "seed": 2, "mode": "smooth"}
    status, preview = client.post("/api/colorize", dict(body, max_side=40))
    assert status == 200, preview
    assert (preview["width"], preview["height"], preview["full_width"], preview["full_height"]) == (40, 28, 75, 53)
    small = sampling.fit_within(image.astype(np.float32) / 255.0, 40)
    hints = H.resize_hints(H.hints_from_stroke_png(rgba), 28, 40)
    expected = sampling.colorize(hint_generator, small, sampling.random_sweep(3, Z_DIM, 2), hints)
    got = np.stack([decode_png(v) for v in preview["variants"]])
    np.testing.assert_allclose(got, (expected * 255 + 0.5).astype(np.uint8), atol=1)

    _, full = client.post("/api/colorize", body)
    _, one = client.post("/api/colorize", dict(body, variant=2))
    assert (one["width"], one["height"], one["first_variant"]) == (75, 53, 2)
    assert one["variants"] == full["variants"][2:]
    _, big = client.post("/api/colorize", dict(body, max_side=5000))  # never enlarged
    assert big["variants"] == full["variants"]


def test_points_outside_the_picture_are_clipped_with_a_warning(serve, hint_generator):
    status, answer = serve(hint_generator).post("/api/colorize", {
        "image": png_b64(drawing()), "variants": 1,
        "points": {"points": [{"x": 500, "y": 3, "rgb": [255, 0, 0]}]}})
    assert status == 200 and len(answer["warnings"]) == 1 and "outside" in answer["warnings"][0]


def test_prepare_returns_the_picture_as_the_tools_read_it(serve, hint_generator):
    rgba = np.zeros((21, 34, 4), np.uint8)
    rgba[:, :10] = (10, 20, 30, 255)  # the rest transparent: composited onto white paper
    status, answer = serve(hint_generator).post("/api/prepare", {"image": png_b64(rgba, "RGBA")})
    assert status == 200
    assert (answer["width"], answer["height"]) == (34, 21)
    preview = decode_png(answer["preview"])
    assert preview.shape == (21, 34, 3)
    assert (preview[:, :10] == (10, 20, 30)).all() and (preview[:, 10:] == 255).all()


def test_prepare_returns_the_regions_the_flat_mode_fills(serve, hint_generator, plain_generator):
    from anime_colorize import regions, sampling
    from anime_colorize.regions.colouring import input_regions

    image = drawing()
    status, answer = serve(hint_generator).post("/api/prepare", {"image": png_b64(image)})
    assert status == 200, answer
    encoded = decode_png(answer["regions"]).astype(np.int64)
    ids = encoded[..., 0] + 256 * encoded[..., 1] + 65536 * (encoded[..., 2] & 127)
    found = input_regions(sampling.prepare_input(image / 255.0, "lineart"), "lineart").regions
    assert answer["region_count"] == found.count == 4  # the cross cuts the paper in four
    np.testing.assert_array_equal(ids, found.labels)
    np.testing.assert_array_equal(encoded[..., 2] >= 128, found.ink)
    np.testing.assert_array_equal(regions.encode_label_map(found), decode_png(answer["regions"]))
    _, without = serve(hint_generator).post("/api/prepare", {"image": png_b64(image), "regions": False})
    assert "regions" not in without
    _, plain = serve(plain_generator).post("/api/prepare", {"image": png_b64(image)})
    assert "regions" not in plain  # no hints, no fill brush
    from anime_colorize.inference import memory

    client = serve(hint_generator)  # a budget that holds the picture but not its segmentation
    body = {"image": png_b64(image)}
    picture = (memory.DECODE_BYTES_PER_PIXEL + memory.RENDER_BYTES_PER_PIXEL + memory.PNG_BYTES_PER_PIXEL) * 53 * 75
    client.service.budget = memory.MemoryBudget(3 * len(json.dumps(body)) + picture + 1000)
    status, small = client.post("/api/prepare", body)
    assert status == 200 and "regions" not in small and "fill brush" in small["warnings"][0]


def test_flat_and_smooth_modes_and_the_layer_downloads(serve, hint_generator):
    from psd_tools import PSDImage

    client = serve(hint_generator)
    assert client.service.info()["mode"] == "flat" and client.service.info()["modes"] == ["smooth", "flat"]
    image, rgba = drawing(), stroke_layer()
    body = {"image": png_b64(image), "hints_png": png_b64(rgba, "RGBA"), "variants": 2, "seed": 3}
    _, flat = client.post("/api/colorize", body)
    _, smooth = client.post("/api/colorize", dict(body, mode="smooth"))
    assert flat["mode"] == "flat" and smooth["mode"] == "smooth" and flat["variants"] != smooth["variants"]
    got = decode_png(flat["variants"][0]).astype(int)
    assert np.abs(got[25:40, 5:30] - (230, 40, 30)).max() <= 2  # the stroke's region, flat in its colour
    _, shaded = client.post("/api/colorize", dict(body, shading=True))
    assert (decode_png(shaded["variants"][0]).astype(int) <= got + 1).all()
    status, one = client.post("/api/colorize", dict(body, variant=1, files=True))
    assert status == 200, one
    assert sorted(one["files"]) == [".psd", "_flat.png", "_lines.png", "_shade.png"]
    assert one["variants"] == flat["variants"][1:]
    psd = PSDImage.open(io.BytesIO(base64.b64decode(one["files"][".psd"])))
    assert [layer.name for layer in psd] == ["flat", "shade", "lines"] and psd.size == (75, 53)
    assert decode_png(one["files"]["_lines.png"]).shape == (53, 75, 4)
    for bad, words in ((dict(body, files=True), "'files'"), (dict(body, variant=0, files=True, mode="smooth"),
                                                              "no layers"),
                       (dict(body, mode="wash"), "'mode'"), (dict(body, shading="yes"), "'shading'")):
        status, answer = client.post("/api/colorize", bad)
        assert status == 400 and words in answer["error"], answer


# --- bad requests get a message, not a traceback ------------------------------------------------
def truncated_png() -> str:
    data = base64.b64decode(png_b64(np.random.default_rng(0).integers(0, 255, (30, 30, 3))))
    return base64.b64encode(data[: len(data) // 2]).decode()


BAD_REQUESTS = [
    ("no image", {}, 400, "'image'"),
    ("not base64", {"image": "#### not base64"}, 400, "not valid base64"),
    ("not an image", {"image": base64.b64encode(b"hello, this is text").decode()}, 400, "could not be read"),
    ("truncated", {"image": truncated_png()}, 400, "truncated"),
    ("too many pixels", {"image": png_b64(np.zeros((80, 80), np.uint8))}, 413, "--max-pixels"),
    ("hint layer size", {"image": png_b64(drawing()), "hints_png": png_b64(stroke_layer(10, 10), "RGBA")},
     400, "hint layer is 10x10"),
    ("hint layer not png", {"image": png_b64(drawing()), "hints_png": base64.b64encode(b"xyz").decode()},
     400, "hint layer"),
    ("points", {"image": png_b64(drawing()), "points": {"points": [{"x": 1, "y": 2, "rgb": [300, 0, 0]}]}},
     400, "points[0].rgb"),
    ("variants", {"image": png_b64(drawing()), "variants": 99}, 400, "'variants'"),
    ("seed", {"image": png_b64(drawing()), "seed": -1}, 400, "'seed'"),
    ("variant", {"image": png_b64(drawing()), "variants": 2, "variant": 2}, 400, "'variant'"),
    ("max_side", {"image": png_b64(drawing()), "max_side": "big"}, 400, "'max_side'"),
    ("reference", {"image": png_b64(drawing()), "reference": base64.b64encode(b"nope").decode()}, 400,
     "reference picture could not be read"),
]


@pytest.mark.parametrize("name, body, status, words", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_uploads_get_a_clear_message(serve, hint_generator, name, body, status, words):
    got, answer = serve(hint_generator, max_pixels=5000).post("/api/colorize", body)
    assert got == status
    assert words in answer["error"]
    assert "Traceback" not in answer["error"] and "File \"" not in answer["error"]


def test_request_size_and_format_limits(serve, hint_generator):
    client = serve(hint_generator, max_upload_bytes=2000)
    status, answer = client.post("/api/colorize", {"image": "A" * 4000})
    assert status == 413 and "--max-upload-mb" in answer["error"]
    assert client.post("/api/colorize", {"image": "x"}, content_type="text/plain")[0] == 415
    status, answer = client.post("/api/colorize", None, raw=b"{not json")
    assert status == 400 and "not valid JSON" in answer["error"]
    status, answer = client.post("/api/colorize", None, raw=b"[1, 2]")
    assert status == 400 and "JSON object" in answer["error"]
    assert client.request("/api/info")[0] == 200  # the server lives on


def test_an_internal_error_is_logged_not_sent(serve, hint_generator, caplog, monkeypatch):
    from anime_colorize import sampling

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals /home/someone/model")

    monkeypatch.setattr(sampling, "predict_working", broken)  # the network call of every colouring
    with caplog.at_level(logging.ERROR, logger="anime_colorize.app"):
        status, answer = serve(hint_generator).post("/api/colorize", {"image": png_b64(drawing())})
    assert status == 500
    assert "secret" not in answer["error"] and "its log has the details" in answer["error"]
    assert any(r.exc_info and "secret internals" in str(r.exc_info[1]) for r in caplog.records)


def test_a_model_without_hints_says_so(serve, plain_generator):
    client = serve(plain_generator)
    image = drawing()
    strokes = png_b64(stroke_layer(), "RGBA")
    status, answer = client.post("/api/colorize", {"image": png_b64(image), "hints_png": strokes})
    assert status == 400 and "without stroke or point hints" in answer["error"]
    status, answer = client.post("/api/colorize", {"image": png_b64(image), "reference": png_b64(image)})
    assert status == 400 and "without reference" in answer["error"]
    empty_layer = np.zeros((53, 75, 4), np.uint8)  # what the page sends before any stroke: no hint
    status, answer = client.post("/api/colorize", {"image": png_b64(image), "hints_png": png_b64(empty_layer, "RGBA"),
                                                   "variants": 1})
    assert status == 200
    np.testing.assert_allclose(decode_png(answer["variants"][0]), library_colorize(plain_generator, image, 1, 0)[0],
                               atol=1)


# --- concurrency and files ------------------------------------------------------------------------
def test_pages_are_served_while_a_colouring_runs(serve, hint_generator):
    """One colouring at a time; meanwhile the page and /api/info answer, and a second colouring
    waits, then is told the server is busy."""
    started, release = threading.Event(), threading.Event()

    class SlowGenerator:
        def __init__(self, inner):
            self.inner = inner
            self.__dict__.update({k: getattr(inner, k) for k in
                                  ("z_dim", "stride", "working_size", "input_kind", "hint_kinds", "path")})

        def __call__(self, *args, **kwargs):
            started.set()
            assert release.wait(30)
            return self.inner(*args, **kwargs)

    client = serve(SlowGenerator(hint_generator), busy_timeout=0.3)
    first = {}
    worker = threading.Thread(target=lambda: first.update(
        answer=client.post("/api/colorize", {"image": png_b64(drawing()), "variants": 1})))
    worker.start()
    try:
        assert started.wait(30)
        t0 = time.perf_counter()
        assert client.request("/")[0] == 200
        assert client.request("/static/app.js")[0] == 200
        status, _, info = client.request("/api/info")
        assert status == 200 and json.loads(info)["busy"] is True
        assert time.perf_counter() - t0 < 5
        status, answer = client.post("/api/colorize", {"image": png_b64(drawing()), "variants": 1})
        assert status == 503 and "busy" in answer["error"]
    finally:
        release.set()
        worker.join(60)
    assert first["answer"][0] == 200 and len(first["answer"][1]["variants"]) == 1


def test_nothing_is_written_outside_a_temporary_folder_nor_kept(serve, hint_generator, tmp_path, monkeypatch):
    import tempfile

    temp, cwd = tmp_path / "temp", tmp_path / "cwd"
    temp.mkdir()
    cwd.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.chdir(cwd)
    client = serve(hint_generator, max_pixels=100_000)
    image = png_b64(drawing())
    assert client.post("/api/prepare", {"image": image})[0] == 200
    assert client.post("/api/colorize", {"image": image, "reference": image, "variants": 1,
                                         "hints_png": png_b64(stroke_layer(), "RGBA")})[0] == 200
    assert client.post("/api/colorize", {"image": truncated_png()})[0] == 400
    seen = []
    real_read = app_lib.ColorizeService.read_picture

    def spy(self, data, what):
        seen.extend(temp.iterdir())  # nothing from earlier requests
        return real_read(self, data, what)

    monkeypatch.setattr(app_lib.ColorizeService, "read_picture", spy)
    assert client.post("/api/prepare", {"image": image})[0] == 200
    assert seen == [] and list(temp.iterdir()) == [] and list(cwd.iterdir()) == []


def test_hint_files_from_the_page_formats_round_trip(tmp_path, hint_generator):
    """The page downloads the hint layer as an RGBA PNG and the points as JSON; files in those
    formats, read back by the library's loaders, give the hints the server used."""
    from anime_colorize.data import hints as H

    rgba = stroke_layer()
    png_path, json_path = tmp_path / "x_hints.png", tmp_path / "x_points.json"
    Image.fromarray(rgba, "RGBA").save(png_path)
    json_path.write_text(json.dumps(POINTS))
    service = app_lib.ColorizeService(hint_generator)
    body = {"hints_png": base64.b64encode(png_path.read_bytes()).decode(), "points": json.loads(json_path.read_text())}
    server_hints = service.build_hints(body, 53, 75, [])
    from_files = H.hints_from_stroke_png(np.asarray(Image.open(png_path)))
    points = H.hints_from_points_json(json.loads(json_path.read_text()), 53, 75)
    mask = np.asarray(server_hints["hint_mask"])
    np.testing.assert_array_equal(mask, np.maximum(from_files["hint_mask"], points["hint_mask"]))
    stroke_only = (np.asarray(points["hint_mask"]) == 0) & (np.asarray(from_files["hint_mask"]) > 0)
    np.testing.assert_allclose(np.asarray(server_hints["hint_ab"])[stroke_only[..., 0]],
                               np.asarray(from_files["hint_ab"])[stroke_only[..., 0]])


# --- the command ----------------------------------------------------------------------------------
def test_command_refuses_a_missing_model(tmp_path, capsys):
    assert app_lib.main(["--model", str(tmp_path / "none.keras")]) == 2
    assert "model not found" in capsys.readouterr().err
    assert app_lib.main(["--model", str(tmp_path), "--max-pixels", "0"]) == 2
    assert "--max-pixels" in capsys.readouterr().err


def test_command_serves_an_exported_model(tmp_path):
    from anime_colorize.export import save_keras
    from anime_colorize.models import UNetGenerator

    path = save_keras(UNetGenerator(z_dim=Z_DIM, depth=2, filters=8, input_kind="gray", working_size=32),
                      tmp_path / "generator.keras")
    proc = subprocess.Popen([sys.executable, "-m", "anime_colorize.app", "--model", str(path), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        line = proc.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        assert match, line + proc.stderr.read() if proc.poll() is not None else line
        with urllib.request.urlopen(match.group(1) + "api/info", timeout=30) as r:
            info = json.loads(r.read())
        assert info["input_kind"] == "gray" and info["hint_kinds"] == [] and info["model"] == str(path)
    finally:
        proc.terminate()
        proc.wait(30)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["generator.keras"]


# --- memory, timeouts, clients that hang up (#18) -------------------------------------------------
def test_requests_over_the_memory_budget_are_shrunk_or_refused(serve, hint_generator):
    """Several full-size variants that do not fit the budget are coloured at the largest
    preview that does (said in 'warnings'); one variant at full size that does not fit, or a
    request that can never fit, gets 413 naming --max-memory-mb."""
    from anime_colorize.inference.memory import MemoryBudget

    client = serve(hint_generator)
    service = client.service
    image = drawing(300, 400)
    body = {"image": png_b64(image), "variants": 8, "seed": 3}
    one_full = service.plan(300, 400, None, 1, 0, 0, [], render=service.mode.render_cost())[3]  # flat
    request = 3 * len(json.dumps(body))  # what the body itself reserves
    service.budget = MemoryBudget(request + one_full + 1000)
    status, answer = client.post("/api/colorize", body)
    assert status == 200, answer
    assert (answer["full_width"], answer["full_height"]) == (400, 300)
    assert answer["width"] < 400 and len(answer["variants"]) == 8 and "memory budget" in answer["warnings"][0]
    status, one = client.post("/api/colorize", dict(body, variant=5))
    assert status == 200 and (one["width"], one["height"]) == (400, 300)
    service.budget = MemoryBudget(request + one_full // 2)
    status, refused = client.post("/api/colorize", dict(body, variant=5))
    assert status == 413 and "--max-memory-mb" in refused["error"]
    service.budget = MemoryBudget(1000)
    status, refused = client.post("/api/colorize", body)
    assert status == 413 and "reading this request" in refused["error"]
    assert client.request("/api/info")[0] == 200


def test_memory_taken_by_other_work_makes_a_request_wait_then_busy(serve, hint_generator):
    client = serve(hint_generator, busy_timeout=0.2)
    with client.service.budget.reserve(client.service.budget.total - 100, timeout=0):
        status, answer = client.post("/api/colorize", {"image": png_b64(drawing()), "variants": 1})
    assert status == 503 and "memory" in answer["error"]
    assert client.post("/api/colorize", {"image": png_b64(drawing()), "variants": 1})[0] == 200


def test_slow_and_idle_clients_are_timed_out(serve, hint_generator):
    import socket

    client = serve(hint_generator, request_timeout=0.5)
    host, port = client.server.server_address[:2]
    with socket.create_connection((host, port), timeout=30) as sock:  # a body shorter than its Content-Length
        sock.sendall(b"POST /api/colorize HTTP/1.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"image\": ")
        answer = b""
        while chunk := sock.recv(65536):  # the server closes the connection after answering
            answer += chunk
        answer = answer.decode()
    assert answer.startswith("HTTP/1.0 408") and "did not arrive within 0.5 s" in answer
    with socket.create_connection((host, port), timeout=30) as sock:  # says nothing at all
        t0 = time.perf_counter()
        assert sock.recv(100) == b""
        assert time.perf_counter() - t0 < 20
    assert client.request("/api/info")[0] == 200


def test_a_client_that_hangs_up_is_one_log_line(hint_generator, caplog, capsys, monkeypatch):
    # only pytest's own log handlers: a command run by an earlier test may have left one on a closed stream
    monkeypatch.setattr(logging.root, "handlers", [h for h in logging.root.handlers
                                                   if type(h).__module__.startswith("_pytest")])
    class HungUp:
        def write(self, data):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass

    handler = app_lib.AppHandler.__new__(app_lib.AppHandler)
    handler.wfile, handler.client_address = HungUp(), ("10.0.0.7", 5555)
    handler.request_version, handler.command, handler.path, handler.requestline = "HTTP/1.1", "POST", "/api/x", ""
    with caplog.at_level(logging.INFO, logger="anime_colorize.app"):
        handler._json(200, {"variants": [b"AAAA"]})
        server = app_lib.AppServer.__new__(app_lib.AppServer)
        try:
            raise ConnectionResetError(104, "Connection reset by peer")
        except ConnectionResetError:
            server.handle_error(None, ("10.0.0.7", 5555))
    mine = [r for r in caplog.records if "10.0.0.7" in r.getMessage()]  # other tests' servers may log too
    assert len(mine) == 2 and "hung up" in mine[0].getMessage() and "connection closed" in mine[1].getMessage()
    assert not any(r.exc_info for r in mine)
    assert "Traceback" not in capsys.readouterr().err
    assert handler.close_connection is True


def test_answers_hold_the_pictures_as_they_are():
    parts = app_lib.json_parts({"a": 1, "variants": [b"QUJD", b"REVG"], "warnings": ["x"]})
    assert json.loads(b"".join(parts)) == {"a": 1, "variants": ["QUJD", "REVG"], "warnings": ["x"]}


def test_the_page_chooses_the_working_size(serve, hint_generator):
    client = serve(hint_generator)
    info = json.loads(client.request("/api/info")[2])
    assert (info["working_size"], info["trained_size"], info["max_working_size"]) == (32, 32, 128)
    body = {"image": png_b64(drawing()), "variants": 1, "seed": 4}
    _, default = client.post("/api/colorize", body)
    status, larger = client.post("/api/colorize", dict(body, working_size=64))
    assert status == 200 and (default["working_size"], larger["working_size"]) == (32, 64)
    assert (larger["width"], larger["height"]) == (75, 53)
    assert np.abs(decode_png(larger["variants"][0]).astype(int) - decode_png(default["variants"][0])).max() > 0
    assert client.post("/api/colorize", dict(body, working_size=256))[0] == 400
