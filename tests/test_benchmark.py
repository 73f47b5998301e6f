"""The benchmark command: its FLOP counter on models counted by hand, its JSON, its errors.

Timings are only checked to be positive and finite: they depend on the machine.
"""
import json
import math

import keras
import numpy as np
import pytest

from anime_colorize import benchmark
from anime_colorize.trainers import available_trainers

TINY = ["--size", "32", "--batch-size", "2", "--filters", "8", "--depth", "2", "--steps", "1",
        "--warmup", "1", "--xla", "off", "--page-size", "48x40", "--matmul-size", "256",
        "--latency-runs", "1", "--quiet"]
NUMBERS = ["compile_s", "step_s", "train_images_per_s", "pipeline_images_per_s", "flops_per_step",
           "achieved_flops_per_s", "percent_of_matmul_peak", "latency_s_per_image", "latency_s_per_page",
           "baseline_rss_mib", "peak_rss_mib"]


def positive_finite(value):
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_layer_macs_match_a_hand_count():
    x_in = keras.Input((None, None, 3), name="x")
    h = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="conv")(x_in)
    h = keras.layers.GlobalAveragePooling2D()(h)
    out = keras.layers.Dense(5, name="dense")(h)
    model = keras.Model({"x": x_in}, out)
    # 8x8 input, stride 2 -> 4x4 output pixels, each 3x3 kernel x 3 in x 4 out; Dense 4 x 5.
    assert benchmark.layer_macs(model, {"x": np.zeros((1, 8, 8, 3), np.float32)}) == {
        "conv": 4 * 4 * 3 * 3 * 3 * 4, "dense": 4 * 5}
    assert benchmark.layer_macs(model, {"x": np.zeros((2, 8, 8, 3), np.float32)})["conv"] == 2 * 4 * 4 * 3 * 3 * 3 * 4


def test_trainer_flops_follow_the_model_structure(tiny_config):
    from anime_colorize.trainers import get_trainer

    trainer = get_trainer("dcgan")(tiny_config(algo="dcgan"))  # depth 2, 8 filters, z_dim 4
    z, l = np.zeros((1, 4), np.float32), np.zeros((1, 32, 32, 1), np.float32)
    g = benchmark.layer_macs(trainer.generator, {"l": l, "z": z})
    # The stem sees L + the broadcast z (1 + 4 channels) at full resolution, 3x3 kernel, 8 out.
    assert g["stem_conv"] == 32 * 32 * 3 * 3 * (1 + 4) * 8
    one = benchmark.trainer_flops(trainer, 32, 4)
    assert one["total"] == one["generator_update"] + one["discriminator_update"] > 0
    assert benchmark.trainer_flops(trainer, 32, 8)["total"] == 2 * one["total"]
    assert benchmark.trainer_flops(trainer, 64, 4)["total"] == 4 * one["total"]


def check_report(path, algo):
    report = json.loads(path.read_text())
    assert {"machine", "arguments", "matmul_peak", "results", "units"} <= set(report)
    machine = report["machine"]
    assert machine["cpu"] and machine["logical_cores"] >= 1 and machine["tensorflow"] and machine["keras"]
    assert isinstance(machine["gpus"], list)
    assert positive_finite(report["matmul_peak"]["flops_per_s"])
    (row,) = report["results"]
    assert (row["algo"], row["size"], row["batch_size"], row["xla"]) == (algo, 32, 2, False)
    assert row["mixed_precision"] is False
    for key in NUMBERS:
        assert positive_finite(row[key]), (key, row[key])
    return row


def test_main_measures_in_process_and_writes_the_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    # line art: the pipeline timed extracts lines and region labels
    assert benchmark.main(["--algos", "dcgan", "--in-process", "--input", "lineart", "--out", str(out)] + TINY) == 0
    row = check_report(out, "dcgan")
    assert row["memory_isolated"] is False and row["input"] == "lineart"
    printed = capsys.readouterr().out
    assert "% of matmul peak" in printed and "latency s/page" in printed and "matmul peak" in printed
    assert any(line.split()[:5] == ["dcgan", "lineart", "32", "2", "off"] for line in printed.splitlines())


def test_main_measures_memory_in_a_child_process(tmp_path):
    out = tmp_path / "bench.json"
    assert benchmark.main(["--algos", "wgangp", "--out", str(out)] + TINY) == 0
    row = check_report(out, "wgangp")
    assert row["memory_isolated"] is True and row["peak_rss_mib"] >= row["baseline_rss_mib"]


@pytest.mark.parametrize("argv, message", [
    (["--algos", "gan9000"], "unknown algorithm 'gan9000'; known: " + ", ".join(available_trainers())),
    (["--size", "40"], "not divisible by 2**depth"),
    (["--size", "64,x"], "--size takes comma-separated integers"),
    (["--size", "0"], "--size must be positive"),
    (["--steps", "0"], "--steps must be a positive integer"),
    (["--batch-size", "-1"], "--batch-size must be a positive integer"),
    (["--warmup", "0"], "--warmup must be a positive integer"),
    (["--train-flags", "--size 64"], "--train-flags: set --size with the benchmark's --size"),
    (["--train-flags", "--no-such 1"], "--train-flags: the train command has no flag --no-such"),
    (["--train-flags", "--z-entry middle"], "--train-flags: argument --z-entry: invalid choice: 'middle'"),
    (["--algos", "dcgan", "--train-flags", "--n-critic 1"], "--n-critic is a setting of --algo wgangp"),
])
def test_bad_arguments_are_one_clear_line(argv, message, tmp_path, capsys):
    assert benchmark.main(argv + ["--out", str(tmp_path / "b.json"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "b.json").exists()


def test_mixed_precision_rows_are_measured_and_labelled(tmp_path):
    out = tmp_path / "bench.json"
    assert benchmark.main(["--algos", "wgangp", "--in-process", "--mixed-precision", "both",
                           "--out", str(out)] + TINY) == 0
    rows = json.loads(out.read_text())["results"]
    assert [row["mixed_precision"] for row in rows] == [False, True]
    for row in rows:
        assert positive_finite(row["step_s"]) and positive_finite(row["latency_s_per_image"])


def test_a_failing_configuration_is_reported_and_the_others_still_measured(tmp_path, monkeypatch, capsys):
    real = benchmark.measure_config

    def broken_for_dcgan(spec):
        if spec.algo == "dcgan":
            raise RuntimeError("boom")
        return real(spec)

    monkeypatch.setattr(benchmark, "measure_config", broken_for_dcgan)
    out = tmp_path / "bench.json"
    assert benchmark.main(["--algos", "dcgan,wgangp", "--in-process", "--out", str(out)] + TINY) == 1
    report = json.loads(out.read_text())
    assert [row["algo"] for row in report["results"]] == ["wgangp"]
    assert report["failures"][0]["algo"] == "dcgan" and report["failures"][0]["error"] == "boom"
    assert "dcgan at 32px" in capsys.readouterr().err


def test_breakdown_splits_the_step_into_parts_whose_work_adds_up(tmp_path, capsys):
    """The shared step of the cheap architecture, two critic updates: the first judges the
    generator's colouring, the second makes its own fake."""
    out = tmp_path / "bench.json"
    flags = "--z-entry decoder --convs-per-level 1 --full-resolution light --discriminator-pooling 2 --n-critic 2"
    assert benchmark.main(["--algos", "wgangp", "--breakdown", "--train-flags", flags, "--out", str(out)] + TINY) == 0
    (row,) = json.loads(out.read_text())["breakdown"]
    assert (row["discriminator_updates"], row["fresh_fakes"], row["shared_step"]) == (2, 1, True)
    assert dict(row["settings"])["z_entry"] == "decoder"
    parts = {p["part"].split(" (x")[0]: p for p in row["parts"]}
    assert list(parts) == ["generator: forward, two colourings per image", "generator: its losses and backward pass",
                           "generator: forward for the discriminator's fakes",
                           "discriminator: in the generator's update (adversarial terms)",
                           "discriminator: its update's forward and backward passes",
                           "penalty: gradient penalty / R1", "optimizer: Adam, generator and discriminator"]
    from anime_colorize.trainers import get_trainer

    trainer = get_trainer("wgangp")(benchmark.spec_config(benchmark.BenchSpec(
        "wgangp", 32, 2, 8, 2, False, 1, 1, settings=tuple(row["settings"]))))
    total = benchmark.trainer_flops(trainer, 32, 2)["total"] / 1e9
    assert sum(p["gflop"] for p in row["parts"]) == pytest.approx(total) == pytest.approx(row["gflop_per_step"])
    # the backward pass costs twice the forward; the penalty 6 critic forwards a critic update
    forward = parts["generator: forward, two colourings per image"]["gflop"]
    assert parts["generator: its losses and backward pass"]["gflop"] == pytest.approx(2 * forward)
    assert parts["penalty: gradient penalty / R1"]["gflop"] == pytest.approx(
        parts["discriminator: its update's forward and backward passes"]["gflop"])
    for p in row["parts"]:
        assert math.isfinite(p["s"]) and math.isfinite(p["cpu_s"])
    assert positive_finite(row["step_s"]) and positive_finite(row["step_cpu_s"])
    printed = capsys.readouterr().out
    assert "wgangp 32 px gray, batch 2 --convs-per-level 1" in printed and "penalty: gradient penalty" in printed
