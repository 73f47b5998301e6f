"""``evaluate --reference`` (issue #13): consistency with a coloured key, scored on the
character's pixels, side by side with no reference and the key's histogram."""
import json

import numpy as np
import pytest
from PIL import Image

from anime_colorize import evaluate
from anime_colorize.data.io import write_image
from anime_colorize.data.lineart import extract_lines
from anime_colorize.data.synthetic import Pose, make_cel_variant
from anime_colorize.evaluation import reference

SIZE = 128
SEED = 5


@pytest.fixture
def model(tiny_model):
    """A tiny untrained line-art model that takes every hint kind (the histogram too)."""
    return tiny_model("lineart")


def sprite(pose=Pose(), mirror=False):
    """The built-in character alone, as an RGBA sprite (transparent around it)."""
    rgb = make_cel_variant(0, SIZE, SEED, pose, plain=True)
    rgb = rgb[:, ::-1] if mirror else rgb
    alpha = np.where(rgb.min(axis=-1) < 245, 255, 0).astype(np.uint8)
    return np.concatenate([rgb, alpha[..., None]], axis=-1)


def write_pairs(root):
    """A key and two targets (another pose, one mirrored) as line art with RGBA truth."""
    (root / "lines").mkdir(parents=True)
    (root / "colors").mkdir()
    write_image(root / "key.png", make_cel_variant(0, 96, SEED, plain=True))
    for name, mirror in (("turned", False), ("turned mirrored", True)):
        rgba = sprite(Pose(head_angle=0.2, eyes_closed=True), mirror)
        Image.fromarray(rgba, "RGBA").save(root / "colors" / f"{name}.png")
        write_image(root / "lines" / f"{name}.png", extract_lines(rgba[..., :3], "xdog"))


def test_evaluate_reference_scores_region_matching_against_no_reference_and_the_histogram(model, tmp_path, capsys):
    write_pairs(tmp_path)
    out = tmp_path / "report"
    assert evaluate.main(["--model", str(model), "--reference", str(tmp_path / "key.png"), "--lines",
                          str(tmp_path / "lines"), "--colors", str(tmp_path / "colors"), "--num-samples", "2",
                          "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "region matching" in printed and "histogram reference" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["rows"] == list(reference.ROWS)
    assert [t["target"] for t in metrics["targets"]] == ["turned mirrored", "turned"]
    summary = metrics["summary"]
    assert summary["region matching"]["ciede2000"] < 8
    assert summary["region matching"]["region_accuracy"] > 0.85
    for other in ("no reference", "histogram reference", "key palette", "line art"):
        assert summary[other]["ciede2000"] > summary["region matching"]["ciede2000"] + 10
    assert (out / "metrics.md").read_text().count("|") > 10 and (out / "contact_sheet.png").stat().st_size > 0


def test_a_model_without_a_histogram_leaves_that_row_out(tiny_model, tmp_path, capsys):
    plain = tiny_model("lineart", hints=False)
    write_pairs(tmp_path)
    assert evaluate.main(["--model", str(plain), "--reference", str(tmp_path / "key.png"), "--lines",
                          str(tmp_path / "lines"), "--colors", str(tmp_path / "colors"), "--num-samples", "1",
                          "--limit", "1", "--out", str(tmp_path / "r"), "--quiet"]) == 0
    assert "histogram reference left out" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert "histogram reference" not in metrics["rows"] and len(metrics["targets"]) == 1


@pytest.mark.parametrize("extra, message", [
    (["--data", "builtin"], "--reference scores drawings"),
    (["--lines", "nowhere", "--colors", "nowhere"], "not found"),
])
def test_reference_flags_that_cannot_work(model, tmp_path, capsys, extra, message):
    write_image(tmp_path / "key.png", make_cel_variant(0, 64, SEED, plain=True))
    code = evaluate.main(["--model", str(model), "--reference", str(tmp_path / "key.png"), "--out",
                          str(tmp_path / "r"), "--quiet"] + extra)
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_character_pixels_of_a_truth():
    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[2:8, 3:9] = (200, 30, 30, 255)
    assert reference.character_mask(rgba).sum() == 36  # transparency says it
    opaque = np.full((10, 12, 4), 255, np.uint8)
    opaque[2:8, 3:9, :3] = (200, 30, 30)
    opaque[4:6, 5:7, :3] = 255  # a white part inside the figure is the character's
    mask = reference.character_mask(opaque)
    assert mask.sum() == 36 and mask[4, 5] and not mask[0, 0]


def test_character_scores_measure_only_the_character():
    truth = np.ones((20, 20, 3), np.float32)
    truth[5:15, 5:15] = (0.8, 0.1, 0.1)
    lines = np.ones((20, 20), np.float32)
    character = np.zeros((20, 20), bool)
    character[5:15, 5:15] = True
    target = reference.Target("t", truth, character, lines)
    right = truth.copy()
    right[:5] = (0.0, 0.0, 1.0)  # wrong paper around the character does not count
    assert reference.character_scores(target, right) == {"ciede2000": pytest.approx(0.0, abs=1e-6),
                                                         "region_accuracy": pytest.approx(1.0)}
    wrong = np.ones((20, 20, 3), np.float32)
    scores = reference.character_scores(target, np.stack([right, wrong]))
    assert scores["region_accuracy"] == pytest.approx(0.5) and scores["ciede2000"] > 20
