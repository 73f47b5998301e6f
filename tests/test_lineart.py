"""Line-art extraction (training pairs) and real-drawing preparation (inference)."""
import time

import cv2
import numpy as np
import pytest
from skimage.color import rgb2lab

from anime_colorize.data import lineart as la

SIZE = 96


def _drawing():
    """A red disc and a blue rectangle on white, no outlines: (rgb uint8, shape mask bool)."""
    rgb = np.full((SIZE, SIZE, 3), 255, np.uint8)
    cv2.circle(rgb, (30, 34), 18, (220, 60, 60), -1)
    cv2.rectangle(rgb, (52, 50), (84, 82), (60, 90, 200), -1)
    return rgb, (rgb != 255).any(axis=2)


def _boundary_and_far():
    """Pixels on a shape boundary, and pixels more than 6 px from any boundary."""
    _, mask = _drawing()
    m = mask.astype(np.uint8)
    boundary = cv2.morphologyEx(m, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)).astype(bool)
    dist = cv2.distanceTransform((~boundary).astype(np.uint8), cv2.DIST_L2, 3)
    return boundary, dist > 6, mask


@pytest.fixture(scope="module")
def drawing():
    return _drawing()[0]


@pytest.mark.parametrize("method", la.METHODS)
@pytest.mark.parametrize("as_float", [False, True])
def test_methods_shape_dtype_range(drawing, method, as_float):
    rgb = drawing.astype(np.float64) / 255.0 if as_float else drawing
    out = la.extract_lines(rgb, method)
    assert out.shape == (SIZE, SIZE)
    assert out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert out.min() < 0.2  # there is ink
    assert np.median(out) > 0.99  # mostly paper


@pytest.mark.parametrize("method", la.METHODS)
def test_lines_on_boundaries_and_flat_regions_white(drawing, method):
    boundary, far, mask = _boundary_and_far()
    out = la.extract_lines(drawing, method)
    # Within 2 px of every boundary pixel there is a dark line pixel ...
    darkest_near = cv2.erode(out, np.ones((5, 5), np.uint8))
    assert np.mean(darkest_near[boundary] < 0.5) > 0.9
    # ... while everything far from a boundary (inside the shapes or on the background,
    # image frame included) stays white.
    assert out[far].min() > 0.95
    assert out[far & mask].size > 300 and out[far & ~mask].size > 1000
    assert out[boundary].mean() < out[far].mean() - 0.2


@pytest.mark.parametrize("method", la.METHODS)
def test_direct_method_functions_match_extract_lines(drawing, method):
    gray = cv2.cvtColor(drawing, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    fn = {"xdog": la.xdog, "canny": la.canny_lines, "adaptive": la.adaptive_lines}[method]
    direct = fn(gray)
    assert direct.shape == gray.shape and direct.dtype == np.float32
    np.testing.assert_allclose(direct, la.extract_lines(drawing, method), atol=1e-4)


def test_flat_image_stays_white():
    for value in (0.05, 0.5, 1.0):
        flat = np.full((40, 50, 3), value, np.float32)
        for method in la.METHODS:
            out = la.extract_lines(flat, method)
            assert out.min() > 0.99, (method, value)


@pytest.mark.parametrize("method", la.METHODS)
def test_thickness_darkens_more_pixels(drawing, method):
    thin = la.extract_lines(drawing, method, thickness=1)
    thick = la.extract_lines(drawing, method, thickness=2)
    thicker = la.extract_lines(drawing, method, thickness=3)
    n1, n2, n3 = ((x < 0.5).sum() for x in (thin, thick, thicker))
    assert n2 > 1.3 * n1 and n3 > n2
    assert np.all(thick <= thin + 1e-6)  # a min filter only darkens


@pytest.mark.parametrize("method", la.METHODS)
def test_darkness_scales_the_ink(drawing, method):
    full = la.extract_lines(drawing, method)
    half = la.extract_lines(drawing, method, darkness=0.5)
    assert full.min() < 0.05
    assert abs(half.min() - 0.5) < 0.03
    np.testing.assert_allclose(half, 1.0 - 0.5 * (1.0 - full), atol=1e-6)


def test_xdog_parameters_matter(drawing):
    gray = cv2.cvtColor(drawing, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    crisp = la.xdog(gray, phi=1000.0)
    soft = la.xdog(gray, phi=5.0)
    mid = lambda x: np.mean((x > 0.1) & (x < 0.9))  # noqa: E731
    assert mid(soft) > 2 * mid(crisp)  # small phi gives soft gray lines
    # epsilon above the flat response (1 - tau) * v turns flat paper into ink
    assert la.xdog(gray, tau=0.98, epsilon=0.1).mean() < 0.3
    wide = la.xdog(gray, sigma=1.5)
    assert (wide < 0.5).sum() > (la.xdog(gray) < 0.5).sum()


def test_tiny_images_work():
    for shape in [(1, 1, 3), (2, 3, 3), (5, 4, 3)]:
        rgb = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
        for method in la.METHODS:
            out = la.extract_lines(rgb, method, thickness=2)
            assert out.shape == shape[:2] and out.dtype == np.float32
        assert la.lines_from_seed(rgb, (0, 1)).shape == shape[:2]


def test_gray_inputs_accepted(drawing):
    gray = cv2.cvtColor(drawing, cv2.COLOR_RGB2GRAY)
    np.testing.assert_array_equal(la.extract_lines(gray, "canny"), la.extract_lines(drawing, "canny"))
    np.testing.assert_array_equal(la.extract_lines(gray[:, :, None], "adaptive"),
                                  la.extract_lines(drawing, "adaptive"))


def test_views_give_the_same_result(drawing):
    flipped = drawing[:, ::-1]  # a negative-stride view, as a random flip makes
    for method in la.METHODS:
        np.testing.assert_array_equal(la.extract_lines(flipped, method, thickness=2),
                                      la.extract_lines(flipped.copy(), method, thickness=2))
    np.testing.assert_array_equal(la.lines_from_seed(flipped, (1, 2)),
                                  la.lines_from_seed(flipped.copy(), (1, 2)))


# ------------------------------------------------------------------ random / seeded


def test_lines_from_seed_is_deterministic(drawing):
    a = la.lines_from_seed(drawing, (3, 11))
    b = la.lines_from_seed(drawing.copy(), (3, 11))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (SIZE, SIZE) and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0
    # the same as random_lines with that generator
    np.testing.assert_array_equal(a, la.random_lines(drawing, np.random.default_rng([3, 11])))
    # int64 array seeds (from tf.numpy_function), negative words included
    np.testing.assert_array_equal(la.lines_from_seed(drawing, np.array([3, 11], np.int64)), a)
    c = la.lines_from_seed(drawing, np.array([-1, 11], np.int64))
    np.testing.assert_array_equal(c, la.lines_from_seed(drawing, (2**64 - 1, 11)))


def test_different_seeds_differ(drawing):
    outs = [la.lines_from_seed(drawing, (i, 7)) for i in range(12)]
    for i in range(len(outs)):
        for j in range(i + 1, len(outs)):
            assert not np.array_equal(outs[i], outs[j]), (i, j)
    # the line styles differ, not only the darkness: the ink masks vary too
    masks = {(o < o.max() - 1e-3).tobytes() for o in outs}
    assert len(masks) >= 6


def _spy_methods(monkeypatch):
    calls = []
    for name, fn in list(la._EXTRACTORS.items()):
        def spy(gray, _name=name, _fn=fn, **kw):
            calls.append((_name, kw))
            return _fn(gray, **kw)
        monkeypatch.setitem(la._EXTRACTORS, name, spy)
    return calls


def test_random_lines_uses_every_method(drawing, monkeypatch):
    calls = _spy_methods(monkeypatch)
    for i in range(50):
        la.lines_from_seed(drawing, (i, 0))
    names = [c[0] for c in calls]
    assert set(names) == set(la.METHODS)
    assert 0.3 < names.count("xdog") / len(names) < 0.7  # the default weight is 0.5
    # parameters are jittered, not fixed
    assert len({round(kw["sigma"], 6) for n, kw in calls if n == "xdog"}) > 5


def test_random_lines_thickness_and_darkness_vary(drawing):
    mins = [la.lines_from_seed(drawing, (i, 1), methods=("canny",)).min() for i in range(40)]
    # canny is binary, so its darkest value is exactly 1 - darkness, darkness in [0.7, 1]
    assert min(mins) >= -1e-6 and max(mins) <= 0.3 + 1e-6
    assert max(mins) - min(mins) > 0.15
    counts = [(la.lines_from_seed(drawing, (i, 1), methods=("canny",)) < 0.9).sum() for i in range(40)]
    assert max(counts) > 1.3 * min(counts)  # thickness 1 and 2 both drawn


def test_methods_and_weights_restrict_the_choice(drawing, monkeypatch):
    calls = _spy_methods(monkeypatch)
    rng = np.random.default_rng(0)
    for _ in range(10):
        la.random_lines(drawing, rng, methods=("canny", "adaptive"), weights=[0.0, 1.0])
    for _ in range(10):
        la.random_lines(drawing, rng, weights={"xdog": 0, "canny": 1})
    for _ in range(10):
        la.random_lines(drawing, rng, methods=["xdog"])
    assert [c[0] for c in calls] == ["adaptive"] * 10 + ["canny"] * 10 + ["xdog"] * 10


def test_random_lines_depends_only_on_rng_state(drawing):
    r1, r2 = np.random.default_rng(5), np.random.default_rng(5)
    seq1 = [la.random_lines(drawing, r1) for _ in range(5)]
    seq2 = [la.random_lines(drawing, r2) for _ in range(5)]
    for a, b in zip(seq1, seq2):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------- to_line_art


def _page(paper=0.85, ink=0.1, shape=(256, 256)):
    page = np.full(shape, paper, np.float32)
    lines = np.zeros(shape, np.uint8)
    for k in range(6):
        cv2.line(lines, (10 + 40 * k, 10), (30 + 35 * k, shape[0] - 10), 1, 2)
    page[lines.astype(bool)] = ink
    return page, lines.astype(bool)


def test_to_line_art_whitens_paper_and_keeps_lines_dark():
    page, lines = _page()
    out = la.to_line_art(page)
    assert out.shape == page.shape and out.dtype == np.float32
    assert np.median(out[~lines]) > 0.98 and out[~lines].min() > 0.95
    assert out[lines].max() < 0.3
    np.testing.assert_allclose(out[lines], 0.1 / 0.85, atol=0.01)  # stretched, not thresholded


def test_to_line_art_keeps_sketch_shading():
    page = np.full((200, 300), 0.9, np.float32)
    ramp = np.linspace(0.3, 0.85, 200, dtype=np.float32)
    page[80:120, 50:250] = ramp  # a pencil-shading gradient
    out = la.to_line_art(page)
    stroke = out[100, 50:250]
    assert np.all(np.diff(stroke) >= 0) and np.unique(stroke).size > 100  # not binarised
    np.testing.assert_allclose(stroke, ramp / 0.9, atol=0.01)
    assert out[10, 10] > 0.99


def test_to_line_art_evens_uneven_lighting_but_keeps_dark_fills():
    h, w = 400, 600
    light = np.linspace(0.95, 0.8, w, dtype=np.float32)[None, :]  # shadow across a photo
    page, lines = _page(paper=1.0, ink=0.15, shape=(h, w))
    page *= light
    page[200:, :300] = 0.05  # a big black fill (tiles with no paper at all)
    out = la.to_line_art(page)
    paper = ~lines
    paper[200:, :300] = False
    assert out[paper].min() > 0.93 and np.median(out[paper]) > 0.98
    assert out[lines].max() < 0.3
    assert out[200:, :300].max() < 0.1  # not stretched to paper


def test_to_line_art_colour_and_alpha():
    rgb = np.ones((80, 80, 3), np.float32)
    rgb[20:40, 20:40] = (1.0, 0.0, 0.0)
    out = la.to_line_art(rgb)
    lab = rgb2lab(np.array([[[1.0, 0.0, 0.0]]]))[0, 0, 0]
    lab_out = rgb2lab(np.repeat(out[30:31, 30:31, None], 3, axis=2).astype(np.float64))[0, 0, 0]
    assert abs(lab - lab_out) < 0.5  # the gray with red's CIE lightness
    assert out[5, 5] == pytest.approx(1.0)
    # gray stored as RGB gives the gray itself; uint8 is scaled
    page, _ = _page()
    np.testing.assert_allclose(la.to_line_art(np.repeat(page[:, :, None], 3, 2)), la.to_line_art(page))
    u8 = (page * 255).round().astype(np.uint8)
    np.testing.assert_allclose(la.to_line_art(u8), la.to_line_art(u8 / 255.0), atol=1e-6)
    # transparent pixels become paper
    rgba = np.zeros((50, 50, 4), np.float32)
    rgba[20:30, 20:30] = (0.0, 0.0, 0.0, 1.0)
    out = la.to_line_art(rgba)
    assert out[0, 0] == pytest.approx(1.0) and out[25, 25] == pytest.approx(0.0)


def test_to_line_art_big_page_is_fast():
    rng = np.random.default_rng(0)
    page = (0.9 - 0.8 * (rng.random((2000, 1414)) < 0.05)).astype(np.float32)
    la.to_line_art(page[:100, :100])
    start = time.perf_counter()
    out = la.to_line_art(page)
    assert time.perf_counter() - start < 1.0
    assert out.shape == (2000, 1414) and np.median(out) > 0.99


# ---------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize("call, match", [
    (lambda d: la.extract_lines(d, "sobel"), "xdog"),
    (lambda d: la.extract_lines(d, thickness=0), "thickness"),
    (lambda d: la.extract_lines(d, thickness=1.5), "thickness"),
    (lambda d: la.extract_lines(d, thickness=True), "thickness"),
    (lambda d: la.extract_lines(d, darkness=0.0), "darkness"),
    (lambda d: la.extract_lines(d, darkness=1.5), "darkness"),
    (lambda d: la.extract_lines(d, darkness=float("nan")), "darkness"),
    (lambda d: la.extract_lines(d[None]), "shape"),
    (lambda d: la.extract_lines(np.zeros((8, 8, 4), np.uint8)), "shape"),
    (lambda d: la.extract_lines(np.zeros((0, 8, 3), np.uint8)), "empty"),
    (lambda d: la.extract_lines(d.astype(np.int32)), "dtype"),
    (lambda d: la.extract_lines(d.astype(np.float32)), r"\[0, 1\]"),  # 0..255 floats
    (lambda d: la.extract_lines(np.full((8, 8, 3), np.nan)), r"\[0, 1\]"),
    (lambda d: la.xdog(d / 255.0), "shape"),
    (lambda d: la.xdog(d[..., 0] / 255.0, sigma=0), "sigma"),
    (lambda d: la.xdog(d[..., 0] / 255.0, k=1.0), "k"),
    (lambda d: la.canny_lines(d[..., 0] / 255.0, low=100, high=50), "high"),
    (lambda d: la.adaptive_lines(d[..., 0] / 255.0, block_size=8), "odd"),
    (lambda d: la.adaptive_lines(d[..., 0] / 255.0, block_size=1), "block_size"),
    (lambda d: la.random_lines(d, np.random.default_rng(0), methods=()), "at least one"),
    (lambda d: la.random_lines(d, np.random.default_rng(0), methods=("xdog", "pen")), "pen"),
    (lambda d: la.random_lines(d, np.random.default_rng(0), weights=[1, 1]), "one value per"),
    (lambda d: la.random_lines(d, np.random.default_rng(0), weights=[1, -1, 1]), ">= 0"),
    (lambda d: la.random_lines(d, np.random.default_rng(0), weights=[0, 0, 0]), "not all 0"),
    (lambda d: la.random_lines(d, np.random.default_rng(0), weights={"pen": 1}), "pen"),
    (lambda d: la.random_lines(d, 42), "Generator"),
    (lambda d: la.lines_from_seed(d, (1, 2, 3)), "two integers"),
    (lambda d: la.lines_from_seed(d, 5), "two integers"),
    (lambda d: la.lines_from_seed(d, (1.5, 2)), "two integers"),
    (lambda d: la.to_line_art(np.zeros((2, 8, 8, 3), np.float32)), "shape"),
    (lambda d: la.to_line_art(np.zeros((8, 8, 2), np.float32)), "shape"),
    (lambda d: la.to_line_art(np.full((8, 8), 2.0)), r"\[0, 1\]"),
    (lambda d: la.to_line_art(np.zeros((8, 8), np.int64)), "dtype"),
])
def test_bad_arguments_raise_value_error(drawing, call, match):
    with pytest.raises(ValueError, match=match):
        call(drawing)


# ---------------------------------------------------------------- real data (optional)


def test_real_faces_and_page(shared_data):
    faces = sorted((shared_data / "faces64").glob("*.jpg"))[:16]
    if not faces:
        pytest.skip("no faces64 images")
    for i, path in enumerate(faces):
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        out = la.lines_from_seed(rgb, (i, 0))
        ink = np.mean(out < 0.5)
        # 64 px faces are dense (hair strands), thickness 2 doubles the ink
        assert 0.03 < ink < 0.75 and np.mean(out > 0.95) > 0.25, path.name
    pages = sorted((shared_data / "manga_bw" / "v01").glob("*.jpg"))[:1]
    for path in pages:
        gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0
        out = la.to_line_art(gray)
        assert out.shape == gray.shape and np.median(out) > 0.95
        assert np.mean((out > 0.1) & (out < 0.9)) > 0.02  # screentone grays survive
