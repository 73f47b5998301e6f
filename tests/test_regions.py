"""anime_colorize.regions: segmentation of synthetic drawings with known regions, flats,
hints, layers and the PSD, and bad input."""
import cv2
import numpy as np
import pytest

from anime_colorize.regions import (Layers, Regions, flat_colors, hint_colors, label_picture,
                                    lines_rgba, paint, pool, relative_lightness, segment,
                                    segment_lines, write_label_png, write_layer_pngs, write_psd)

INK = 0


def canvas(h=64, w=96):
    return np.full((h, w), 255, np.uint8)


def drawing_two_shapes():
    """A rectangle and a circle outlined 2 px thick: 3 regions (outside, rect, circle)."""
    img = canvas()
    cv2.rectangle(img, (6, 8), (40, 50), INK, 2)
    cv2.circle(img, (70, 30), 16, INK, 2)
    return img


def interior(mask: np.ndarray, margin: int = 2) -> np.ndarray:
    """mask eroded by margin px: pixels clearly inside an area, away from its lines."""
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    return cv2.erode(mask.astype(np.uint8), k, borderType=cv2.BORDER_CONSTANT, borderValue=1) > 0


def area_masks(img: np.ndarray) -> list[np.ndarray]:
    """The true areas of a closed drawing: 4-connected components of its paper."""
    n, comp = cv2.connectedComponents((img > 127).astype(np.uint8), connectivity=4)
    return [comp == i for i in range(1, n)]


def assert_recovers(regions: Regions, masks: list[np.ndarray]) -> None:
    """Each true area's interior is one region, and different areas are different regions."""
    ids = []
    for m in masks:
        inside = regions.labels[interior(m)]
        assert inside.size and np.all(inside == inside[0]), np.unique(inside)
        ids.append(int(inside[0]))
    assert len(set(ids)) == len(ids), ids
    assert regions.count == len(masks)


def test_closed_shapes_are_recovered_and_every_pixel_has_a_region():
    img = drawing_two_shapes()
    regions = segment(img)
    assert regions.labels.dtype == np.int32 and regions.labels.shape == img.shape
    assert regions.labels.min() == 0 and regions.labels.max() == regions.count - 1
    assert_recovers(regions, area_masks(img))
    # Ink goes to an adjacent region: the rectangle's outline is split between inside and out.
    outline = (img == INK) & (np.arange(img.shape[1]) < 50)[None, :]
    assert set(np.unique(regions.labels[outline])) == {
        int(regions.labels[30, 20]), int(regions.labels[2, 2])}


def box(img, y0, x0, y1, x1, width=2):
    """Outlines rows y0..y1-1, columns x0..x1-1 with lines ``width`` px thick, inside."""
    img[y0:y1, x0:x0 + width] = img[y0:y1, x1 - width:x1] = INK
    img[y0:y0 + width, x0:x1] = img[y1 - width:y1, x0:x1] = INK
    return img


def test_a_shape_with_a_2px_gap_still_closes():
    closed = box(canvas(), 10, 10, 56, 62)
    img = closed.copy()
    img[30:32, 10:12] = 255  # a 2 px gap in the left side
    regions = segment(img)
    assert_recovers(regions, area_masks(closed))
    # Without gap closing the inside leaks out through the gap.
    assert segment(img, gap=0).count == 1


def test_a_narrow_arm_stays_with_its_region_across_a_thin_line():
    # A box with a 3 px wide arm, both outlined by 1 px lines: no big ball fits in the arm,
    # and the background is nearer to it (across one line) than the box's own centre.
    img = box(canvas(), 10, 6, 50, 40, width=1)
    img[27:32, 39:90] = INK
    img[28:31, 39:89] = 255  # the arm's paper, open to the box
    regions = segment(img)
    assert regions.labels[29, 20] != regions.labels[2, 2]
    assert np.all(regions.labels[28:31, 42:88] == regions.labels[29, 20])


def test_screentone_dots_join_their_region():
    img = canvas()
    cv2.rectangle(img, (4, 4), (44, 58), INK, 2)
    cv2.rectangle(img, (52, 4), (90, 58), INK, 2)
    tone = np.zeros_like(img, bool)
    tone[8:55:3, 8:41:3] = True  # a dot every 3 px inside the left box
    img[tone] = INK
    regions = segment(img)
    boxes = canvas()
    cv2.rectangle(boxes, (4, 4), (44, 58), INK, 2)
    cv2.rectangle(boxes, (52, 4), (90, 58), INK, 2)
    assert_recovers(regions, area_masks(boxes))
    # The dots themselves belong to the toned box, not to regions of their own.
    assert np.all(regions.labels[tone] == regions.labels[20, 20])
    assert not regions.ink[tone].any()  # specks are dropped from the ink


def test_regions_touching_the_border():
    img = canvas()
    cv2.line(img, (0, 20), (95, 20), INK, 2)  # edge to edge: top and bottom bands
    cv2.circle(img, (95, 45), 12, INK, 2)     # a disc cut by the right border
    regions = segment(img)
    assert_recovers(regions, area_masks(img))
    assert regions.count == 3


def test_statistics_of_a_known_region():
    img = canvas()
    cv2.rectangle(img, (10, 20), (49, 39), INK, 1)
    regions = segment(img, gap=0, min_area=1)
    inner = int(regions.labels[30, 30])
    outer = int(regions.labels[0, 0])
    assert regions.area.sum() == img.size
    y0, x0, y1, x1 = regions.bbox[inner]
    assert 20 <= y0 <= 21 and 38 <= y1 <= 40 and 10 <= x0 <= 11 and 48 <= x1 <= 50
    np.testing.assert_allclose(regions.centroid[inner], (29.5, 29.5), atol=0.6)
    assert regions.mean_ink[inner] < regions.mean_ink[outer] + 0.5
    assert [min(inner, outer), max(inner, outer)] in regions.adjacency.tolist()
    assert list(regions.neighbours(inner)) == [outer]
    assert regions.contact.sum() > 0
    with pytest.raises(ValueError):
        regions.labels[0, 0] = 5  # read-only


def test_regions_from_a_given_label_map():
    labels = np.full((6, 8), 9, np.int64)
    labels[:, :3] = 5
    lines = np.ones((6, 8), np.float32)
    lines[:, 3] = 0.0
    regions = Regions.from_labels(labels, lines)
    assert regions.count == 2 and set(np.unique(regions.labels)) == {0, 1}
    assert regions.labels[0, 0] == 0 and regions.labels[0, 7] == 1  # ascending order of ids
    np.testing.assert_array_equal(regions.ink, lines < 0.5)
    np.testing.assert_array_equal(regions.area, [18, 30])
    with pytest.raises(ValueError, match="shape"):
        Regions.from_labels(labels[:, :4], lines)
    with pytest.raises(ValueError, match=">= 0"):
        Regions.from_labels(labels - 10, lines)


def test_deterministic_and_lines_input_equivalent():
    img = drawing_two_shapes()
    a, b = segment(img), segment(img)
    np.testing.assert_array_equal(a.labels, b.labels)
    c = segment_lines(img.astype(np.float32) / 255.0)
    np.testing.assert_array_equal(a.labels, c.labels)
    rgba = np.zeros(img.shape + (4,), np.uint8)  # ink on transparent: same drawing
    rgba[..., 3] = 255 - img
    np.testing.assert_array_equal(segment(rgba).labels, a.labels)


@pytest.mark.parametrize("page, count", [
    (np.full((40, 50), 255, np.uint8), 1),  # all white: one region
    (np.zeros((40, 50), np.uint8), 1),      # all black: one region
    (np.full((1, 1), 255, np.uint8), 1),
    (np.zeros((1, 1), np.uint8), 1),
    (np.zeros((1, 7), np.uint8), 1),
])
def test_degenerate_pages_give_one_region(page, count):
    regions = segment_lines(page)
    assert regions.count == count
    assert regions.labels.shape == page.shape and np.all(regions.labels == 0)


def test_a_page_of_100000_specks_is_one_region():
    rng = np.random.default_rng(0)
    page = np.full((1000, 1000), 255, np.uint8)
    # 100,000 isolated 1 px specks on a 3 px grid: none touch another.
    cells = rng.choice(333 * 333, 100_000, replace=False)
    ys, xs = np.divmod(cells, 333)
    page[3 * ys, 3 * xs] = 0
    assert (page == 0).sum() == 100_000
    assert segment_lines(page).count == 1


@pytest.mark.parametrize("bad, match", [
    (np.full((8, 8), np.nan, np.float32), "finite"),
    (np.zeros((0, 5), np.float32), "empty"),
    (np.zeros((4, 4, 3), np.float32), "shape"),
    (np.full((4, 4), 2.0, np.float32), r"\[0, 1\]"),
])
def test_bad_lines_raise_clear_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        segment_lines(bad)


def test_bad_parameters_raise_clear_errors():
    with pytest.raises(ValueError, match="gap"):
        segment_lines(canvas(), gap=-1)
    with pytest.raises(ValueError, match="ink_threshold"):
        segment_lines(canvas(), ink_threshold=0.0)


# ------------------------------------------------------------------------------ flats


def two_boxes():
    img = canvas(32, 64)
    cv2.line(img, (31, 0), (31, 31), INK, 2)  # left | right
    return segment(img)


def test_median_pooling_matches_numpy_and_ignores_ink():
    regions = segment(drawing_two_shapes())
    rng = np.random.default_rng(1)
    values = rng.normal(size=regions.shape + (3,)).astype(np.float32)
    values[regions.ink] = 100.0  # the network's dark on the lines must not count
    pooled = pool(regions, values)
    assert pooled.shape == (regions.count, 3)
    for k in range(regions.count):
        x = np.sort(values[(regions.labels == k) & ~regions.ink], axis=0)
        lo, hi = x[(len(x) - 1) // 2], x[len(x) // 2]
        assert np.all(pooled[k] >= lo - 1e-6) and np.all(pooled[k] <= hi + 1e-6)
    means = pool(regions, values, method="mean")
    np.testing.assert_allclose(means[0], values[(regions.labels == 0) & ~regions.ink].mean(0), atol=1e-4)


def test_flats_are_constant_per_region_for_k_predictions():
    regions = segment(drawing_two_shapes())
    rng = np.random.default_rng(2)
    predictions = rng.uniform(size=(4,) + regions.shape + (3,)).astype(np.float32)
    flats = flat_colors(regions, predictions)
    assert flats.shape == (4, regions.count, 3)
    pictures = paint(regions, flats)
    assert pictures.shape == predictions.shape
    for k in range(regions.count):
        region = pictures[:, regions.labels == k]  # (K, n, 3)
        assert np.all(region == region[:, :1])
    assert not np.allclose(flats[0], flats[1])  # the K variants stay distinct


def test_a_point_hint_fills_exactly_its_region():
    regions = two_boxes()
    left, right = int(regions.labels[10, 5]), int(regions.labels[10, 60])
    assert left != right
    hint_color = np.zeros(regions.shape + (2,), np.float32)
    hint_mask = np.zeros(regions.shape, np.float32)
    hint_color[16, 10] = (0.5, -0.25)
    hint_mask[16, 10] = 1.0
    predictions = np.zeros(regions.shape + (2,), np.float32)
    flat = paint(regions, flat_colors(regions, predictions, hint_color, hint_mask))
    assert np.all(flat[regions.labels == left] == np.float32([0.5, -0.25]))
    assert np.all(flat[regions.labels == right] == 0.0)  # nothing across the line


def test_a_stroke_across_a_line_colours_both_sides_and_majority_wins():
    regions = two_boxes()
    left, right = int(regions.labels[10, 5]), int(regions.labels[10, 60])
    hint_color = np.zeros(regions.shape + (3,), np.float32)
    hint_mask = np.zeros(regions.shape, np.float32)
    hint_color[20, 20:44] = (1.0, 0.0, 0.0)  # a red stroke crossing the line
    hint_mask[20, 20:44] = 1.0
    hint_color[5, 2:6] = (0.0, 0.0, 1.0)      # a shorter blue one in the left box
    hint_mask[5, 2:6] = 1.0
    colors, hinted = hint_colors(regions, hint_color, hint_mask)
    assert hinted[left] and hinted[right] and hinted.sum() == 2
    np.testing.assert_array_equal(colors[left], (1.0, 0.0, 0.0))  # 11 red px beat 4 blue
    np.testing.assert_array_equal(colors[right], (1.0, 0.0, 0.0))


def test_a_hint_that_only_touches_a_line_does_not_leak():
    regions = two_boxes()
    left, right = int(regions.labels[10, 5]), int(regions.labels[10, 60])
    line_cols = np.flatnonzero(regions.ink[10])
    hint_color = np.ones(regions.shape + (1,), np.float32)
    hint_mask = np.zeros(regions.shape, np.float32)
    hint_mask[10, 20:line_cols.max() + 1] = 1.0  # from the left box onto the whole line
    colors, hinted = hint_colors(regions, hint_color, hint_mask)
    assert hinted[left] and not hinted[right]
    hint_mask[:] = 0.0
    hint_mask[10, line_cols] = 1.0  # a click on the line alone still colours something
    assert hint_colors(regions, hint_color, hint_mask)[1].any()


def test_hint_and_prediction_shapes_are_checked():
    regions = two_boxes()
    with pytest.raises(ValueError, match="hint_color"):
        hint_colors(regions, np.zeros((3, 3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="channels"):
        flat_colors(regions, np.zeros(regions.shape + (3,)), np.zeros(regions.shape + (2,)),
                    np.ones(regions.shape))
    with pytest.raises(ValueError, match="values"):
        pool(regions, np.zeros((5, 5, 3)))


def test_relative_lightness_is_zero_at_the_median_and_on_ink():
    regions = two_boxes()
    lightness = np.full(regions.shape, 70.0, np.float32)
    lightness[:, :8] = 40.0  # a shadow in the left box
    delta = relative_lightness(regions, lightness)
    assert delta[20, 20] == 0.0 and delta[20, 3] == -30.0
    assert np.all(delta[regions.ink] == 0.0)


# ----------------------------------------------------------------------------- layers


def make_layers(h=24, w=32):
    rng = np.random.default_rng(3)
    flat = rng.uniform(size=(h, w, 3)).astype(np.float32)
    shade = np.ones((h, w), np.float32)
    shade[:, : w // 2] = 0.5
    lines = np.ones((h, w), np.float32)
    lines[h // 2] = 0.0
    return Layers(flat, shade, lines)


def test_composite_is_the_multiplied_stack():
    layers = make_layers()
    out = layers.composite()
    np.testing.assert_allclose(out[0, 0], layers.flat[0, 0] * 0.5)
    np.testing.assert_allclose(out[0, -1], layers.flat[0, -1])
    assert np.all(out[12] == 0.0)
    rgba = lines_rgba(layers.lines)
    assert rgba.shape == (24, 32, 4) and np.all(rgba[12, :, 3] == 255) and np.all(rgba[0, :, 3] == 0)
    with pytest.raises(ValueError, match="shade"):
        Layers(layers.flat, np.ones((5, 5), np.float32))


def test_shade_from_lightness_gives_the_target_lightness_on_gray():
    from anime_colorize.color import lab_to_rgb_np
    from anime_colorize.regions import shade_from_lightness

    flat_l = np.full((2, 3), 60.0, np.float32)
    delta = np.array([[-20.0, 0.0, 15.0], [-60.0, -5.0, 0.0]], np.float32)
    factor = shade_from_lightness(flat_l, delta)
    gray = lambda L: lab_to_rgb_np(np.stack([L, 0 * L, 0 * L], -1))[..., 0]  # noqa: E731
    np.testing.assert_allclose(factor[0, 0] * gray(np.float32(60.0)), gray(np.float32(40.0)), atol=1e-5)
    assert factor[0, 1] == pytest.approx(1.0) and factor[0, 2] == 1.0  # never lightens
    assert factor[1, 0] == pytest.approx(0.0, abs=1e-6)


def test_layer_pngs_are_written(tmp_path):
    paths = write_layer_pngs(make_layers(), tmp_path / "sub" / "page")
    assert sorted(paths) == ["flat", "lines", "shade"]
    assert paths["lines"].name == "page_lines.png"
    lines = cv2.imread(str(paths["lines"]), cv2.IMREAD_UNCHANGED)
    assert lines.shape == (24, 32, 4) and lines[12, 0, 3] == 255 and lines[0, 0, 3] == 0
    assert cv2.imread(str(paths["shade"]), cv2.IMREAD_UNCHANGED).shape == (24, 32)
    only_flat = write_layer_pngs(Layers(make_layers().flat), tmp_path / "flat_only")
    assert list(only_flat) == ["flat"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flat_only_flat.png", "sub"]


def test_psd_reads_back_with_layer_names_sizes_and_blend_modes(tmp_path):
    from psd_tools import PSDImage
    from psd_tools.constants import BlendMode

    layers = make_layers()
    path = write_psd(layers, tmp_path / "page.psd")
    psd = PSDImage.open(path)
    assert psd.size == (32, 24) and psd.depth == 8
    assert [layer.name for layer in psd] == ["flat", "shade", "lines"]
    assert all(layer.size == (32, 24) and layer.kind == "pixel" for layer in psd)
    assert [layer.blend_mode for layer in psd] == [BlendMode.NORMAL, BlendMode.MULTIPLY, BlendMode.NORMAL]
    flat = np.asarray(psd[0].topil().convert("RGB"))
    np.testing.assert_array_equal(flat, (layers.flat * 255 + 0.5).astype(np.uint8))
    assert np.asarray(psd[2].topil())[12, 0, 3] == 255
    merged = np.asarray(psd.topil().convert("RGB")).astype(np.float32) / 255
    np.testing.assert_allclose(merged, layers.composite(), atol=3 / 255)
    assert [p.name for p in tmp_path.iterdir()] == ["page.psd"]  # no temporary file left


def test_label_picture_colours_regions_apart(tmp_path):
    regions = segment(drawing_two_shapes())
    pic = label_picture(regions, show_lines=False)
    colours = {tuple(pic[regions.labels == k][0]) for k in range(regions.count)}
    assert len(colours) == regions.count
    for k in range(regions.count):
        assert np.all(pic[regions.labels == k] == pic[regions.labels == k][0])
    path = write_label_png(regions, tmp_path / "labels.png")
    assert cv2.imread(str(path)).shape == (64, 96, 3)
