"""python -m anime_colorize.evaluate: metrics, baselines, reports and errors, on a tiny model."""
import json
import math

import numpy as np
import pytest
from skimage.color import lab2rgb, rgb2lab

from anime_colorize import evaluate
from anime_colorize.data.io import read_image, write_image
from anime_colorize.evaluation import metrics
from anime_colorize.evaluation.predictors import constant_predictor, point_hints
from anime_colorize.evaluation.scoring import score_dataset
from anime_colorize.export import export_generator
from anime_colorize.models import UNetGenerator

SIZE = 32


def colour_image(rng) -> np.ndarray:
    """A colourful 32x32 picture: a two-colour gradient with a flat rectangle."""
    t = np.linspace(0.0, 1.0, SIZE)[None, :, None]
    a, b = rng.uniform(0.0, 1.0, (2, 1, 1, 3))
    img = np.broadcast_to(a * (1 - t) + b * t, (SIZE, SIZE, 3)).copy()
    y, x = rng.integers(0, SIZE // 2, 2)
    img[y:y + 10, x:x + 12] = rng.uniform(0.0, 1.0, 3)
    return img.astype(np.float32)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    export_generator(UNetGenerator(z_dim=4, depth=2, filters=8, working_size=SIZE, name="generator"), root / "run")
    rng = np.random.default_rng(3)
    for i in range(5):
        write_image(root / "data" / f"img{i}.png", colour_image(rng))
    (root / "data" / "broken.png").write_bytes(b"not a png")
    for i in range(4):
        write_image(root / "train" / f"t{i}.png", colour_image(rng))
    return root


def run(setup, out, *extra):
    return evaluate.main(["--model", str(setup / "run" / "generator.keras"), "--data", str(setup / "data"),
                          "--num-samples", "3", "--out", str(out), "--quiet", *extra])


@pytest.fixture(scope="module")
def report(setup):
    out = setup / "report"
    assert run(setup, out, "--train-data", str(setup / "train")) == 0
    return out


def test_writes_every_file_with_finite_numbers(report):
    for name in ("metrics.json", "metrics.md", "bars.png", "ab_histograms.png", "contact_sheet.png"):
        assert (report / name).stat().st_size > 0, name
    data = json.loads((report / "metrics.json").read_text())
    assert data["num_images"] == 5 and data["num_unreadable"] == 1
    assert data["unreadable"][0]["file"].endswith("broken.png")
    assert list(data["results"]) == ["model", "gray baseline", "training-mean baseline"]
    for name, row in data["results"].items():
        for key in ("psnr_mean_z", "psnr_best_of_k", "ssim", "ciede2000", "colourfulness", "ab_hist_js"):
            assert math.isfinite(row[key]), (name, key)
        assert row["psnr_best_of_k"] >= row["psnr_mean_z"]
    assert data["results"]["model"]["diversity"] >= 0 and data["results"]["gray baseline"]["diversity"] is None
    assert data["model_metadata"]["z_dim"] == 4
    table = (report / "metrics.md").read_text()
    assert "| training-mean baseline |" in table and "CIEDE2000" in table
    # 5 rows (all images) x (gray | truth | 3 colourings) of 32 px tiles, 2 px gutters, doubled
    assert read_image(report / "contact_sheet.png").shape == (2 * (5 * 34 + 2), 2 * (5 * 34 + 2), 3)


def test_two_runs_give_identical_json(setup, report):
    before = (report / "metrics.json").read_text()
    assert run(setup, report, "--train-data", str(setup / "train")) == 0
    assert (report / "metrics.json").read_text() == before


def test_gray_baseline_matches_an_independent_computation(setup, tmp_path, capsys):
    out = tmp_path / "one"
    assert run(setup, out, "--include", "img2.png") == 0
    assert "training-mean baseline left out" in capsys.readouterr().out  # no config.json, no --train-data
    gray = json.loads((out / "metrics.json").read_text())["results"]["gray baseline"]
    truth = read_image(setup / "data" / "img2.png").astype(np.float64)
    lab = rgb2lab(truth)
    lab[..., 1:] = 0.0
    expected = 10 * np.log10(1.0 / np.mean((lab2rgb(lab) - truth) ** 2))
    assert gray["psnr_mean_z"] == pytest.approx(expected, abs=0.05)
    # 0 up to float32 rounding of the Lab -> sRGB conversion (the truth's is about 50)
    assert gray["colourfulness"] < 0.01 and gray["colourfulness_ratio"] < 1e-3


def test_training_mean_comes_from_the_run_config(setup, tmp_path):
    (setup / "run" / "config.json").write_text(json.dumps({"data": {"data": str(setup / "train")}}))
    try:
        out = tmp_path / "cfg"
        assert run(setup, out) == 0
    finally:
        (setup / "run" / "config.json").unlink()
    data = json.loads((out / "metrics.json").read_text())
    assert "training-mean baseline" in data["results"] and "4 images" in data["training_mean"]
    assert "config.json" in data["training_mean"]


def test_metrics_of_truth_against_itself():
    rgb = colour_image(np.random.default_rng(0))
    lab = rgb2lab(rgb)
    assert metrics.psnr(rgb, rgb) == metrics.PSNR_CAP
    assert metrics.ssim(rgb, rgb) == pytest.approx(1.0)
    hist = metrics.ab_histogram(lab)
    assert hist.sum() == SIZE * SIZE
    same = metrics.histogram_distances(hist, hist)
    assert same["ab_hist_js"] == pytest.approx(0.0, abs=1e-12) and same["ab_hist_intersection"] == pytest.approx(1.0)
    gray = metrics.histogram_distances(metrics.ab_histogram(np.zeros_like(lab)), hist)
    assert gray["ab_hist_js"] > 0.3 and gray["ab_hist_intersection"] < 0.7
    assert metrics.colourfulness(rgb) > 10


def test_perfect_predictor_scores_perfectly():
    images = np.stack([np.rint(colour_image(np.random.default_rng(i)) * 255).astype(np.uint8) for i in range(3)])
    predictors = {"oracle": lambda batch: (batch["ab"][:, None], None),
                  "gray": constant_predictor(np.zeros((SIZE, SIZE, 2), np.float32))}
    scored = score_dataset(images, predictors, batch_size=2, sheets=["oracle"])
    results, truth_colour, sheets = scored.results, scored.truth.colourfulness, scored.sheets
    sheet = sheets["oracle"]
    oracle, gray = results["oracle"], results["gray"]
    assert oracle["psnr_mean_z"] > 60 and oracle["ssim"] > 0.999
    assert oracle["ciede2000"] < 0.05 and oracle["ab_hist_js"] < 1e-3
    assert oracle["colourfulness"] == pytest.approx(truth_colour, rel=1e-3)
    assert gray["psnr_mean_z"] < 40 and gray["ciede2000"] > 5 and gray["ab_hist_js"] > 0.3
    assert sheet.shape == (3, 3, SIZE, SIZE, 3)


def test_builtin_data(setup, tmp_path):
    out = tmp_path / "builtin"
    assert evaluate.main(["--model", str(setup / "run"), "--data", "builtin", "--limit", "4", "--num-samples", "2",
                          "--train-data", "builtin", "--baseline-images", "4", "--out", str(out), "--quiet"]) == 0
    data = json.loads((out / "metrics.json").read_text())
    assert data["num_images"] == 4 and len(data["results"]) == 3
    assert data["truth_colourfulness"] > 10


@pytest.mark.parametrize("extra, message", [
    (["--input", "lineart"], "needs a line-art model; this model takes gray input"),
    (["--num-samples", "0"], "--num-samples"),
    (["--limit", "0"], "--limit"),
    (["--size", "30"], "multiple of the model's stride 4"),
    (["--include", "*.jpg"], "matches --include"),
])
def test_errors_are_one_line_exit_2(setup, tmp_path, capsys, extra, message):
    assert run(setup, tmp_path / "x", *extra) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_missing_model_and_data(setup, tmp_path, capsys):
    args = ["--data", str(setup / "data"), "--out", str(tmp_path / "x"), "--quiet"]
    assert evaluate.main(["--model", str(tmp_path / "nope.keras")] + args) == 2
    assert "model not found" in capsys.readouterr().err
    (tmp_path / "fake.keras").write_text("not a model")
    assert evaluate.main(["--model", str(tmp_path / "fake.keras")] + args) == 2
    assert "could not be loaded" in capsys.readouterr().err
    assert evaluate.main(["--model", str(setup / "run"), "--data", str(tmp_path / "none"),
                          "--out", str(tmp_path / "x")]) == 2
    assert "data folder not found" in capsys.readouterr().err


# ---------------------------------------------------------------- line art and hints

@pytest.fixture(scope="module")
def lineart_setup(setup):
    """An untrained line-art model taking every hint kind, and real-looking line art pairs."""
    root = setup / "lineart"
    export_generator(UNetGenerator(z_dim=4, depth=2, filters=8, working_size=16, input_kind="lineart",
                                   hint_kinds=("points", "histogram"), name="generator"), root / "run")
    rng = np.random.default_rng(7)
    for i in range(4):
        picture = colour_image(rng)
        write_image(root / "colors" / f"e{i}.png", picture)
        lines = np.ones((SIZE, SIZE), np.float32)
        lines[4 + 5 * i, :] = 0.0
        write_image(root / "lines" / f"e{i}.png", lines)
    write_image(root / "colors" / "unpaired.png", colour_image(rng))
    return root


def run_lineart(root, out, *extra):
    return evaluate.main(["--model", str(root / "run" / "generator.keras"), "--lines", str(root / "lines"),
                          "--colors", str(root / "colors"), "--size", "32", "--num-samples", "2",
                          "--train-data", str(root / "colors"), "--hint-points", "0,3",
                          "--out", str(out), "--quiet", *extra])


def test_lineart_pairs_hint_sweep_and_reference_rows(lineart_setup, tmp_path):
    out = tmp_path / "r"
    assert run_lineart(lineart_setup, out) == 0
    data = json.loads((out / "metrics.json").read_text())
    assert data["input"] == "lineart" and data["num_images"] == 4  # the unpaired colour file is skipped
    assert data["unreadable"][0]["file"].endswith("unpaired.png")
    results = data["results"]
    assert set(results) == {"model", "gray baseline", "training-mean baseline", "model, 3 hints",
                            "model, no reference", "model, reference"}
    assert results["model, 3 hints"]["hint_error"] > 0 and results["model"]["hint_error"] is None
    assert 0 <= results["model, no reference"]["palette_match"] <= 1
    for name in ("hint_sweep.png", "hint_sheet.png", "hint_sweep_sheet.png", "contact_sheet.png"):
        assert (out / name).exists(), name
    again = tmp_path / "again"
    assert run_lineart(lineart_setup, again) == 0
    assert json.loads((again / "metrics.json").read_text())["results"] == results


def test_line_art_outputs_keep_the_lines_black():
    images = np.stack([np.rint(colour_image(np.random.default_rng(i)) * 255).astype(np.uint8) for i in range(2)])
    lines = np.ones((2, SIZE, SIZE), np.float32)
    lines[:, 10, :] = 0.0
    white = constant_predictor(np.concatenate([np.ones((SIZE, SIZE, 1)), np.zeros((SIZE, SIZE, 2))], -1)
                                        .astype(np.float32))
    sheets = score_dataset(images, {"model": white}, input_kind="lineart", lines=lines).sheets
    outputs = sheets["model"][:, -1]  # the colouring column
    np.testing.assert_allclose(outputs[:, 10], 0.0, atol=1e-6)
    np.testing.assert_allclose(outputs[:, 5], 1.0, atol=1e-3)


def test_hint_error_is_zero_for_outputs_that_take_the_hint_colour():
    images = np.stack([np.rint(colour_image(np.random.default_rng(i)) * 255).astype(np.uint8) for i in range(2)])
    hint_fn = point_hints(5, seed=0)
    oracle = lambda batch: (batch["ab"][:, None], hint_fn(batch))  # noqa: E731  (the truth obeys its own hints)
    flat = lambda batch: (tf_zeros_like(batch["ab"])[:, None], hint_fn(batch))  # noqa: E731
    results = score_dataset(images, {"oracle": oracle, "flat": flat}, sheets=[]).results
    assert results["oracle"]["hint_error"] < 3.0  # hints are 1-3 px patch means of the truth
    assert results["flat"]["hint_error"] > 10.0


def tf_zeros_like(x):
    import tensorflow as tf
    return tf.zeros_like(x)


@pytest.mark.parametrize("extra, message", [
    (["--lines", "x"], "--lines and --colors go together"),
    (["--hint-points", "a,b"], "--hint-points takes numbers"),
])
def test_pairing_and_hint_flag_errors(setup, tmp_path, capsys, extra, message):
    assert evaluate.main(["--model", str(setup / "run" / "generator.keras"), "--data", str(setup / "data"),
                          "--out", str(tmp_path / "x"), "--quiet", *extra]) == 2
    assert message in capsys.readouterr().err


# ---------------------------------------------------------------- the evaluation package

def test_numpy_palette_histogram_is_the_hint_histogram():
    from anime_colorize.data.hints import colour_histogram

    rgb = np.stack([colour_image(np.random.default_rng(i)) for i in range(3)])
    rgb[0, :4, :4] = [1.0, 0.0, 0.5]  # values on bin edges, and the top of the cube
    ours = metrics.colour_histograms(rgb)
    assert ours.dtype == np.float32 and ours.shape == (3, 512)
    np.testing.assert_array_equal(ours, colour_histogram(rgb).numpy())
    assert metrics.palette_match(rgb[:1], ours[0]) == pytest.approx(1.0)
    assert metrics.palette_match(rgb[1:2], ours[0]) < 0.9


def test_rows_are_typed_and_named_as_in_the_report():
    from anime_colorize.evaluation.predictors import MODEL, Row, hint_rows

    class HintModel:
        hint_kinds = ("points", "histogram")

    rows = list(hint_rows(HintModel(), np.zeros((2, 4), np.float32), [0, 5, 2], seed=0))
    assert [row.name for row in rows] == ["model, 5 hints", "model, 2 hints", "model, no reference",
                                          "model, reference"]
    assert [row.hint_points for row in rows] == [5, 2, 0, 0] and all(row.hinted for row in rows)
    assert Row(MODEL).name == "model" and not Row(MODEL).hinted and Row(MODEL) == Row("model")


def test_a_new_score_is_one_entry_in_scores(monkeypatch):
    from anime_colorize.evaluation import report

    mean_l = metrics.Score("mean_l", lambda truth, outs: outs.lab[..., 0].mean(),
                           lambda values, _: {"mean_l": float(np.mean(values))},
                           (metrics.Column("mean_l", "mean L"),))
    monkeypatch.setattr(metrics, "SCORES", metrics.SCORES + (mean_l,))
    images = np.stack([np.rint(colour_image(np.random.default_rng(i)) * 255).astype(np.uint8) for i in range(2)])
    white = constant_predictor(np.concatenate([np.ones((SIZE, SIZE, 1)), np.zeros((SIZE, SIZE, 2))], -1)
                               .astype(np.float32))
    lines = np.ones((2, SIZE, SIZE), np.float32)
    results = score_dataset(images, {"white": white}, input_kind="lineart", lines=lines, sheets=[]).results
    assert results["white"]["mean_l"] == pytest.approx(100.0, abs=0.01)  # white paper, no ink
    table = report.markdown(results, 1.0, "caption.")
    assert "| mean L |" in table and "| 100.00 |" in table


def test_unknown_output_mode_is_an_error():
    from anime_colorize.evaluation.predictors import compose

    with pytest.raises(ValueError, match="unknown output mode 'watercolour'"):
        compose({}, np.zeros((1, 1, 4, 4, 2), np.float32), mode="watercolour")


# ---------------------------------------------------------------- flat mode and region accuracy

def boxes_and_colours(count=2):
    """Line art of two boxes side by side (three regions: left box, right box, the paper
    around) and its true flat colours, uint8 (N, 32, 32, 3) and lines (N, 32, 32)."""
    lines = np.ones((count, SIZE, SIZE), np.float32)
    for y0, x0 in ((6, 3), (6, 18)):
        lines[:, y0:y0 + 20, x0] = lines[:, y0:y0 + 20, x0 + 11] = 0.0
        lines[:, y0, x0:x0 + 12] = lines[:, y0 + 19, x0:x0 + 12] = 0.0
    images = np.full((count, SIZE, SIZE, 3), 255, np.uint8)
    images[:, 7:25, 4:14] = (220, 60, 50)
    images[:, 7:25, 19:29] = (50, 90, 210)
    images[lines == 0] = 0
    return images, lines


def test_flat_and_smooth_from_one_prediction_with_region_accuracy():
    from anime_colorize.evaluation.predictors import MODEL, Row

    images, lines = boxes_and_colours()
    hint_fn = point_hints(40, seed=0)  # enough points to hint both boxes and the paper

    def noisy_truth(batch):  # the truth's Lab with noise and a blur across the lines: what flats mend
        import tensorflow as tf

        l_ab = tf.concat([batch["l"], batch["ab"]], -1)
        noise = tf.random.stateless_normal(tf.shape(l_ab), (1, 2), stddev=0.08)
        blurred = tf.nn.avg_pool2d(l_ab, 3, 1, "SAME")
        return (blurred + noise)[:, None], hint_fn(batch), hint_fn(batch)

    evaluation = score_dataset(images, {Row(MODEL): noisy_truth}, batch_size=2, input_kind="lineart", lines=lines,
                               sheets=[Row(MODEL)], mode=("smooth", "flat"))
    smooth, flat = evaluation.results[Row(MODEL)], evaluation.results[Row(MODEL, mode="flat")]
    assert Row(MODEL, mode="flat").name == "model, flat"
    assert flat["region_accuracy"] == pytest.approx(1.0)
    assert flat["psnr_mean_z"] > smooth["psnr_mean_z"] + 3
    outputs = evaluation.sheets[Row(MODEL, mode="flat")][:, -1]  # the colouring column: constant per box
    assert np.ptp(outputs[:, 9:22, 6:12].reshape(len(outputs), -1, 3), axis=1).max() < 1e-6


def test_flat_mode_fills_regions_from_the_hints_given_only():
    from anime_colorize.data.hints import hints_from_points_json
    from anime_colorize.evaluation.data import make_batch
    from anime_colorize.evaluation.predictors import compose

    images, lines = boxes_and_colours(1)
    batch = make_batch(images.astype(np.float32) / 255.0, "lineart", lines)
    gray = np.zeros((1, 1, SIZE, SIZE, 3), np.float32)  # a mid-gray prediction everywhere
    hints = hints_from_points_json({"points": [{"x": 8, "y": 15, "rgb": [0, 160, 0]}]}, SIZE, SIZE)
    given = compose(batch, gray, "flat", hints)[0, 0]
    plain = compose(batch, gray, "flat", None)[0, 0]
    np.testing.assert_allclose(given[8:24, 5:13], np.broadcast_to([0, 160 / 255, 0], (16, 8, 3)), atol=2e-3)
    np.testing.assert_allclose(given[8:24, 20:28], plain[8:24, 20:28])  # the other box: the prediction


def test_region_accuracy_counts_the_area_of_right_regions():
    images, lines = boxes_and_colours(1)
    rgb = images[0].astype(np.float32) / 255.0
    truth = metrics.Truth(rgb, rgb2lab(rgb), lines[0])
    assert truth.regions.count == 3
    wrong = rgb.copy()
    wrong[7:25, 4:14] = (50, 90, 210)  # the left box painted the right box's blue
    outs = np.stack([rgb, wrong])
    accuracy = metrics.region_accuracy(truth, metrics.Outputs(outs, rgb2lab(outs)))
    left = truth.regions.area[truth.regions.labels[15, 8]] / truth.regions.area.sum()
    np.testing.assert_allclose(accuracy, [1.0, 1.0 - left], atol=1e-6)


def test_lineart_cli_scores_both_modes(lineart_setup, tmp_path):
    out = tmp_path / "r"
    assert run_lineart(lineart_setup, out, "--mode", "smooth,flat") == 0
    data = json.loads((out / "metrics.json").read_text())
    assert {"model", "model, flat", "model, 3 hints", "model, 3 hints, flat"} <= set(data["results"])
    assert all(0 <= r["region_accuracy"] <= 1 for r in data["results"].values())
    for name in ("hint_sweep.png", "hint_sweep_sheet.png", "hint_sweep_sheet_flat.png", "contact_sheet_flat.png"):
        assert (out / name).exists(), name
    assert run_lineart(lineart_setup, tmp_path / "x", "--mode", "flat,wash") == 2
