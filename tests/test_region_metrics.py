"""Region figures of the evaluation: region error, region purity, diversity per region."""
import numpy as np
import pytest
from skimage.color import rgb2lab

from anime_colorize.evaluation import metrics


@pytest.fixture(scope="module")
def truth():
    """Four flat areas (left/right, top/bottom) split by a black cross, one colour each."""
    rgb = np.ones((32, 32, 3))
    rgb[:15, :15] = [0.9, 0.2, 0.2]
    rgb[:15, 17:] = [0.2, 0.7, 0.3]
    rgb[17:, :15] = [0.2, 0.3, 0.9]
    rgb[17:, 17:] = [0.9, 0.8, 0.2]
    lines = np.ones((32, 32))
    lines[15:17], lines[:, 15:17] = 0.0, 0.0
    rgb[lines == 0] = 0.0
    t = metrics.Truth(rgb, rgb2lab(rgb), lines=lines)
    assert t.regions.count >= 4
    return t


def outputs(lab):
    return metrics.Outputs(rgb=None, lab=np.asarray(lab, np.float64))


def test_region_error_and_purity_of_the_truth_and_of_a_bleeding_output(truth):
    exact = outputs(truth.lab[None])
    assert metrics.region_error(truth, exact)[0] == pytest.approx(0.0, abs=1e-6)
    assert metrics.region_purity(truth, exact)[0] == pytest.approx(1.0)
    bleeding = truth.lab.copy()
    bleeding[:15, 8:15] = truth.lab[2, 20]  # the green bleeds into half of the red area
    worse = outputs(np.stack([truth.lab, bleeding]))
    purity = metrics.region_purity(truth, worse)
    assert purity[0] == pytest.approx(1.0) and purity[1] < 0.95
    # the median is robust to bleeding into less than half an area; a wrong area colour is not
    assert metrics.region_error(truth, worse)[1] < 1.0
    wrong = truth.lab.copy()
    wrong[:15, :15] = truth.lab[2, 20]
    assert metrics.region_error(truth, outputs(wrong[None]))[0] > 5.0


def test_diversity_per_region_tells_independent_regions_from_a_global_shift(truth):
    shifted = truth.lab.copy()
    shifted[..., 1] += 20.0  # every region 20 units redder
    per_region, shift = metrics.region_diversity(truth, outputs(np.stack([truth.lab, shifted])))
    assert per_region == pytest.approx(0.0, abs=0.5) and shift == pytest.approx(20.0, abs=0.5)
    recoloured = truth.lab.copy()
    recoloured[:15, :15, 1:] = truth.lab[20, 20, 1:]  # one area takes another's colour, the rest stays
    per_region, shift = metrics.region_diversity(truth, outputs(np.stack([truth.lab, recoloured])))
    assert per_region > 10.0 and per_region > shift
    assert metrics.region_diversity(truth, outputs(truth.lab[None])) is None


def test_the_report_has_the_region_columns():
    keys = {column.key for column in metrics.columns("figures")}
    assert {"region_error", "region_purity", "region_diversity", "global_shift"} <= keys
