"""flat_colouring with a match to a coloured key (issue #13): hints > key > network, the key's
colours and shading in the picture, its lightness in the shade layer."""
import dataclasses

import numpy as np
import pytest

from anime_colorize import color
from anime_colorize.data.lineart import extract_lines
from anime_colorize.data.synthetic import Pose, make_cel_variant
from anime_colorize.regions import flat_colouring, matching, paint, segment

SIZE = 96
SEED = 5


@pytest.fixture(scope="module")
def matched():
    key = matching.prepare_key(make_cel_variant(0, SIZE, SEED, plain=True), name="key.png")
    drawing = extract_lines(make_cel_variant(0, SIZE, SEED, Pose(head_angle=0.2), plain=True)[:, ::-1], "xdog")
    regions = segment(drawing)
    return regions, matching.match_regions(regions, key)


def network(regions):
    """A prediction no key has: a saturated green everywhere (Lab)."""
    return np.broadcast_to(np.float32([60.0, -60.0, 50.0]), regions.shape + (3,)).copy()


def test_matched_pixels_show_the_key_and_the_rest_the_network(matched):
    regions, match = matched
    assert match.matched.any()
    flat = flat_colouring(regions, network(regions), match=match)
    keyed = match.matched[regions.labels]
    expected = color.lab_to_rgb_np(match.flat_lab + match.shading) * regions.lines[..., None]
    np.testing.assert_allclose(flat.picture[keyed], expected[keyed], atol=1e-5)
    np.testing.assert_allclose(flat.flats[match.matched], match.colors[match.matched], atol=0.5)
    # The shade layer is shown and carries the key's lightness on the keyed pixels only.
    assert "shade" not in flat.layers.hidden
    assert (flat.layers.shade[keyed] < 0.99).any() and np.all(flat.layers.shade[~keyed] == 1.0)
    without = flat_colouring(regions, network(regions), match=match, key_shading=False)
    np.testing.assert_allclose(without.picture[keyed], (color.lab_to_rgb_np(match.flat_lab)
                                                        * regions.lines[..., None])[keyed], atol=1e-5)


def test_unmatched_regions_take_the_network_or_paper(matched):
    regions, match = matched
    partial = dataclasses.replace(match, matched=match.matched & (np.arange(regions.count) % 2 == 0))
    flat = flat_colouring(regions, network(regions), match=partial)
    rest = ~partial.matched
    np.testing.assert_allclose(flat.flats[rest], np.broadcast_to([60.0, -60.0, 50.0], (rest.sum(), 3)), atol=1e-3)
    paper = flat_colouring(regions, network(regions), match=partial, unhinted="paper")
    np.testing.assert_allclose(paper.flats[rest], np.broadcast_to([100.0, 0.0, 0.0], (rest.sum(), 3)))
    np.testing.assert_allclose(paper.flats[partial.matched], partial.colors[partial.matched], atol=1e-4)


def test_a_hint_beats_the_key(matched):
    regions, match = matched
    target = int(np.argmax(np.where(match.matched, regions.area, 0)))
    hint_color = np.zeros(regions.shape + (3,), np.float32)
    hint_mask = np.zeros(regions.shape, np.float32)
    ys, xs = np.nonzero((regions.labels == target) & ~regions.ink)
    hint_color[ys[0], xs[0]] = (50.0, 0.0, -60.0)
    hint_mask[ys[0], xs[0]] = 1.0
    flat = flat_colouring(regions, network(regions), hint_color, hint_mask, match=match)
    assert flat.hinted[target]
    np.testing.assert_allclose(flat.flats[target], (50.0, 0.0, -60.0), atol=1e-4)
    pixels = (regions.labels == target) & ~regions.ink
    expected = color.lab_to_rgb_np(paint(regions, flat.flats))[pixels] * regions.lines[pixels][:, None]
    np.testing.assert_allclose(flat.picture[pixels], expected, atol=1e-5)


def test_a_match_of_other_regions_is_refused(matched):
    regions, match = matched
    other = segment(np.ones((20, 20), np.float32))
    with pytest.raises(ValueError, match="regions"):
        flat_colouring(other, np.zeros((20, 20, 3), np.float32), match=match)
