"""The command-line tools, run in-process through their main(argv)."""
import shutil

import numpy as np
import pytest

from anime_colorize import sample, train
from anime_colorize.data.io import read_image, write_image
from anime_colorize.trainers import available_trainers

TINY_FLAGS = ["--size", "32", "--batch-size", "4", "--num-images", "16", "--depth", "2",
              "--filters", "8", "--z-dim", "4", "--steps", "3", "--log-every", "1", "--quiet"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    assert train.main(["--algo", "dcgan", "--out", str(out)] + TINY_FLAGS) == 0
    return out


def test_train_writes_a_complete_run(run_dir, capsys):
    for name in ("config.json", "generator.keras", "saved_model", "loss_curves.png", "examples/0.png"):
        assert (run_dir / name).exists(), name


def test_train_refuses_to_overwrite_and_resumes(run_dir, capsys):
    assert train.main(["--out", str(run_dir)] + TINY_FLAGS) == 2
    assert "--resume" in capsys.readouterr().err
    assert train.main(["--out", str(run_dir), "--resume", "--steps", "5", "--quiet"]) == 0
    assert "step 5" in capsys.readouterr().out


def test_train_overwrite_starts_afresh(run_dir, tmp_path, capsys):
    out = str(tmp_path / "run")
    shutil.copytree(run_dir, out)  # a finished run (the fixture's train.main returned 0)
    assert train.main(["--out", out, "--overwrite"] + TINY_FLAGS + ["--steps", "2"]) == 0
    assert "step 2 " in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--algo", "gan9000"], "unknown algorithm 'gan9000'; known: " + ", ".join(available_trainers())),
    (["--size", "40"], "not divisible by 2**depth"),
    (["--data", "/no/such/folder"], "/no/such/folder"),
])
def test_train_errors_are_one_clear_line(argv, message, tmp_path, capsys):
    assert train.main(argv + ["--out", str(tmp_path / "x"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()  # a run that cannot start leaves nothing behind


def test_sample_grid_random_and_segments(run_dir, tmp_path):
    for sweep in ("random", "segments"):
        out = tmp_path / f"grid_{sweep}.png"
        assert sample.main(["--model", str(run_dir / "generator.keras"), "--input", str(run_dir / "examples" / "0.png"),
                            "--grid", "2x3", "--sweep", sweep, "--out", str(out)]) == 0
        grid = read_image(out)
        assert grid.shape == (2 * 34 + 2, 3 * 34 + 2, 3)


def test_sample_batch_mode_keeps_full_resolution(run_dir, tmp_path, capsys):
    inputs = tmp_path / "in"
    write_image(inputs / "a b.png", np.full((50, 70, 3), 0.6, np.float32))
    write_image(inputs / "nested" / "c.jpg", np.full((20, 20), 0.3, np.float32))
    (inputs / "bad.png").write_bytes(b"junk")
    out = tmp_path / "out"
    assert sample.main(["--model", str(run_dir / "saved_model"), "--input", str(inputs),
                        "--num-samples", "2", "--out", str(out), "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a b_0.png", "a b_1.png", "c_0.png", "c_1.png"]
    assert read_image(out / "a b_1.png").shape == (50, 70, 3)
    assert "skipped 1 unreadable" in capsys.readouterr().out


def test_sample_errors(run_dir, tmp_path, capsys):
    picture = run_dir / "examples" / "0.png"
    assert sample.main(["--model", str(tmp_path / "none.keras"), "--input", str(picture), "--out", "x.png"]) == 2
    assert "model not found" in capsys.readouterr().err
    assert sample.main(["--model", str(run_dir), "--input", str(tmp_path), "--out", "x"]) == 2
    assert "no image" in capsys.readouterr().err.lower()
    with pytest.raises(SystemExit):
        sample.main(["--model", str(run_dir), "--input", str(picture), "--grid", "3by3", "--out", "x.png"])
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_bytes(b"junk")
    assert sample.main(["--model", str(run_dir), "--input", str(bad), "--out", str(tmp_path / "o"), "--quiet"]) == 1
