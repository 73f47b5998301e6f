"""``python -m anime_colorize.benchmark``: measure training and inference speed and memory.

    python -m anime_colorize.benchmark                                  # the default algorithm at 64, 128, 256 px
    python -m anime_colorize.benchmark --size 64 --batch-size 16 --xla both --out bench.json
    python -m anime_colorize.benchmark --size 64 --breakdown                # where a step's work and time go
    python -m anime_colorize.benchmark --size 64 --train-flags "--z-entry input --convs-per-level 2"

Per (algorithm, size, XLA setting, mixed precision): training step time and images/s, the input pipeline's
images/s alone (as training builds it for ``--input``: line art and region labels included), FLOPs per step (analytic, :func:`trainer_flops`) and the achieved FLOP/s as
a share of this machine's float32 matmul peak, inference latency per working-size image and
per 1414x2000 manga page, and the peak memory of a process that ran only that configuration.
It measures and asserts nothing. The table goes to stdout, every raw figure to ``--out``.

``--breakdown`` measures instead the parts of one training step, their GFLOP and their wall
and CPU seconds (:mod:`anime_colorize.step_breakdown`). ``--train-flags`` passes settings of
the train command (the model's architecture, an algorithm's settings) to every configuration.
"""
from __future__ import annotations

from anime_colorize import cli_common  # noqa: I001  (first: it silences TensorFlow's start-up)
cli_common.quiet_tensorflow()

import argparse
import dataclasses
import json
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from anime_colorize.config import flag_name

PAGE_HW = (2000, 1414)  # a B5-ish manga page scanned at ~200 dpi: height, width in pixels


@dataclasses.dataclass(frozen=True)
class BenchSpec:
    """One configuration to measure (picklable: it travels to the child process)."""

    algo: str
    size: int
    batch_size: int
    filters: int
    depth: int
    xla: bool
    steps: int
    warmup: int
    page_hw: tuple = PAGE_HW
    latency_runs: int = 5
    # bfloat16 compute on CPUs, float16 on GPUs (see anime_colorize.distribute)
    mixed_precision: bool = False
    input: str = "gray"  # what the generator sees; line art brings line extraction and region labels
    settings: tuple = ()  # (name, value) pairs of further train settings (--train-flags)


# --- floating-point operations ---------------------------------------------------------------
def layer_macs(model, inputs) -> dict:
    """Multiply-adds of every Conv2D and Dense layer of ``model`` for one forward pass on
    ``inputs`` (a dict of arrays, batch dimension included), by layer name.

    A layer's count is output positions (B x H_out x W_out, or B for a Dense) x its kernel
    size (k_h x k_w x C_in x C_out, or in x out). Output sizes come from running a probe model
    exposing every counted layer's output, so strides and resolution changes need no bookkeeping.
    """
    counted = [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
    probe = keras.Model(model.input, [layer.output for layer in counted])
    outputs = probe(inputs, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return {layer.name: int(np.prod(out.shape[:-1])) * int(np.prod(layer.kernel.shape))
            for layer, out in zip(counted, outputs)}


def trainer_flops(trainer, size: int, batch_size: int) -> dict | None:
    """FLOPs of one ``trainer.train_step`` at ``size`` px and ``batch_size`` images (an
    ANALYTIC ESTIMATE, not a profiler count): ``{"generator_update", "discriminator_update",
    "total"}``, or None for a trainer without an estimate.

    Each trainer states its own formula (``train_step_flops``, see :mod:`anime_colorize.trainers`)
    in terms of the Conv2D + Dense multiply-adds of its models' forward passes on one image
    (:func:`layer_macs`); FLOPs = 2 x MACs. Normalisation, activations, resizes, losses and the
    optimizer are left out (they are a few per cent at most). A backward pass costs 2x its
    forward where the model's weights get gradients (activation and weight gradients) and 1x
    where gradients only flow through it. Cross-check: for the 64 px generator the forward
    count is within 0.2 % of ``tf.compat.v1.profiler``'s float-op count of the traced, frozen
    forward graph (the difference is bias adds); the backward factors are the estimate.
    """
    return trainer.train_step_flops(lambda model, inputs: sum(layer_macs(model, inputs).values()),
                                    size, batch_size)


def matmul_peak(n: int = 2048, runs: int = 5) -> dict:
    """float32 FLOP/s of an n x n @ n x n ``tf.matmul`` (2 n^3 FLOPs): the best of ``runs``
    timed products after two untimed ones. It is this machine's practical ceiling, so
    achieved FLOP/s divided by it is comparable across machines."""
    a = tf.random.stateless_normal((n, n), seed=(1, 2))
    b = tf.random.stateless_normal((n, n), seed=(3, 4))
    # The fetch waits for the product to finish; the sum over it is n^2 FLOPs, negligible.
    times = _timed(lambda: float(tf.reduce_sum(tf.matmul(a, b))), runs, warmup=2)
    return {"n": n, "flops_per_s": 2 * n**3 / min(times), "times_s": times}


# --- one configuration -----------------------------------------------------------------------
def _rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn, runs: int, warmup: int = 1) -> list:
    """Wall-clock seconds of each of ``runs`` calls of ``fn``, after ``warmup`` untimed calls."""
    times = []
    for i in range(warmup + runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times[warmup:]


def spec_config(spec: BenchSpec):
    """The run configuration of ``spec``: the train command's defaults with its settings."""
    from anime_colorize import config as config_lib

    return config_lib.apply_overrides(config_lib.RunConfig(), {
        "algo": spec.algo, "size": spec.size, "batch_size": spec.batch_size, "filters": spec.filters,
        "depth": spec.depth, "xla": spec.xla, "mixed_precision": spec.mixed_precision, "input": spec.input,
        **dict(spec.settings)})


def _trainer_and_batches(spec: BenchSpec):
    """The trainer of ``spec`` and its endless batches, made by the input pipeline as training
    makes them, from the built-in pictures."""
    from anime_colorize.data.pipeline import builtin_source
    from anime_colorize.trainers import get_trainer

    config = spec_config(spec)
    trainer = get_trainer(spec.algo)(config)
    source = builtin_source(max(16, 4 * spec.batch_size), round(spec.size * config.data.crop_scale),
                            seed=0, progress=False)
    return trainer, iter(trainer.make_dataset(source))


def measure_breakdown(spec: BenchSpec) -> dict:
    """The parts of one training step of ``spec`` (:func:`anime_colorize.step_breakdown.breakdown`,
    timed ``spec.steps`` times each)."""
    from anime_colorize import step_breakdown

    trainer, batches = _trainer_and_batches(spec)
    batch = trainer.example_batch(next(batches))
    del batches
    result = step_breakdown.breakdown(trainer, batch, lambda model, inputs: sum(layer_macs(model, inputs).values()),
                                      repeats=spec.steps)
    return {**dataclasses.asdict(spec), **result}


def measure_config(spec: BenchSpec) -> dict:
    """Builds the trainer for ``spec`` and measures it; returns a dict of raw figures
    (seconds, images/s, FLOPs, FLOP/s, MiB)."""
    from anime_colorize import sampling
    from anime_colorize.export import LoadedGenerator

    baseline_mib = _rss_mib()
    trainer, batches = _trainer_and_batches(spec)
    result = dataclasses.asdict(spec)

    # Input pipeline alone, as training builds it from the built-in pictures.
    fixed_batch = trainer.example_batch(next(batches))
    for _ in range(spec.warmup + 1):
        next(batches)
    count = max(20, 4 * spec.steps)  # well beyond the prefetch buffer, so production is timed
    start = time.perf_counter()
    for _ in range(count):
        next(batches)
    result["pipeline_images_per_s"] = count * spec.batch_size / (time.perf_counter() - start)
    del batches  # stops its prefetch threads competing with the training step below

    # Training step on one fixed batch; fetching a loss waits for the step to finish.
    start = time.perf_counter()
    float(trainer.train_step(fixed_batch)["g_loss"])
    result["compile_s"] = time.perf_counter() - start  # trace (+ XLA compile) + first step
    for _ in range(spec.warmup - 1):
        float(trainer.train_step(fixed_batch)["g_loss"])
    start = time.perf_counter()
    for _ in range(spec.steps):
        logs = trainer.train_step(fixed_batch)
    float(logs["g_loss"])
    result["step_s"] = (time.perf_counter() - start) / spec.steps
    result["train_images_per_s"] = spec.batch_size / result["step_s"]

    flops = trainer_flops(trainer, spec.size, spec.batch_size)
    result["flops_per_step"] = flops and flops["total"]
    result["flops_breakdown"] = flops
    result["achieved_flops_per_s"] = flops and flops["total"] / result["step_s"]

    # Inference the way sample.py runs a loaded .keras generator; the XLA setting applies to
    # the forward pass here too (the shipped sample command runs without XLA: the xla=off row).
    loaded = LoadedGenerator.from_model(trainer.generator, "(in memory)", jit_compile=spec.xla)
    z = np.random.default_rng(0).standard_normal((1, loaded.z_dim)).astype(np.float32)
    l_one = fixed_batch["l"][:1]
    result["latency_s_per_image"] = statistics.median(_timed(lambda: loaded(l_one, z).numpy(),
                                                             spec.latency_runs, warmup=2))
    page = np.random.default_rng(1).uniform(size=(*spec.page_hw, 3)).astype(np.float32)  # content is irrelevant
    result["latency_s_per_page"] = statistics.median(_timed(lambda: sampling.colorize(loaded, page, z),
                                                            spec.latency_runs // 2 + 1))

    result["baseline_rss_mib"] = baseline_mib
    result["peak_rss_mib"] = _rss_mib()
    return result


def _child(spec: BenchSpec, conn) -> None:
    try:
        conn.send(("ok", measure_config(spec)))
    except BaseException as e:  # anything: the parent reports it as one line
        conn.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        conn.close()


def measure_isolated(spec: BenchSpec) -> dict:
    """:func:`measure_config` in a fresh spawned process, so its peak RSS is this
    configuration's alone (TensorFlow's own ~few hundred MiB included: see baseline_rss_mib).
    Raises RuntimeError with the child's one-line error, or if it died (e.g. out of memory)."""
    ctx = multiprocessing.get_context("spawn")  # fork would inherit the parent's TF state and memory
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(spec, sender), daemon=True)
    process.start()
    sender.close()  # so recv() sees EOF if the child dies without answering
    try:
        status, payload = receiver.recv()
    except EOFError:
        status, payload = "error", "the benchmark process died"
    process.join()
    if status != "ok":
        died = f" (exit code {process.exitcode})" if process.exitcode else ""
        raise RuntimeError(f"{payload}{died}")
    return payload


# --- the command -----------------------------------------------------------------------------
def machine_info() -> dict:
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
    except OSError:  # not Linux
        names = []
    cpu = names[0] if names else platform.processor() or platform.machine()
    return {"cpu": cpu, "logical_cores": os.cpu_count(), "python": platform.python_version(),
            "tensorflow": tf.__version__, "keras": keras.__version__, "platform": platform.platform(),
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")]}


UNITS = {"*_s": "seconds", "*_per_s": "per second", "*flops*": "floating-point operations (analytic "
         "estimate, see trainer_flops)", "*_mib": "MiB (2**20 bytes)", "peak_rss_mib": "peak resident "
         "memory (ru_maxrss) of the process that measured the row: of that configuration alone when "
         "memory_isolated, else of every row so far; TensorFlow's own share is baseline_rss_mib"}
COLUMNS = [  # (header, width, format, key or function of a result row)
    ("algo", 7, "{}", "algo"), ("input", 7, "{}", lambda r: r.get("input", "gray")), ("size", 5, "{}", "size"), ("batch", 5, "{}", "batch_size"),
    ("xla", 4, "{}", lambda r: "on" if r["xla"] else "off"),
    ("mixed", 5, "{}", lambda r: "on" if r["mixed_precision"] else "off"),
    ("step s", 8, "{:.4f}", "step_s"), ("train img/s", 11, "{:.1f}", "train_images_per_s"),
    ("pipeline img/s", 14, "{:.1f}", "pipeline_images_per_s"),
    ("GFLOP/step", 10, "{:.2f}", lambda r: r["flops_per_step"] and r["flops_per_step"] / 1e9),
    ("GFLOP/s", 8, "{:.2f}", lambda r: r["achieved_flops_per_s"] and r["achieved_flops_per_s"] / 1e9),
    ("% of matmul peak", 16, "{:.1f}", "percent_of_matmul_peak"),
    ("latency ms/image", 16, "{:.2f}", lambda r: r["latency_s_per_image"] * 1e3),
    ("latency s/page", 14, "{:.3f}", "latency_s_per_page"), ("peak RSS MiB", 12, "{:.0f}", "peak_rss_mib"),
]


def format_table(rows: list) -> str:
    def cell(row, fmt, key):
        value = key(row) if callable(key) else row[key]
        return "n/a" if value is None else fmt.format(value)

    lines = ["  ".join(h.rjust(w) for h, w, _, _ in COLUMNS)]
    lines += ["  ".join(cell(r, f, k).rjust(w) for _, w, f, k in COLUMNS) for r in rows]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m anime_colorize.benchmark",
                                     description=cli_common.summary_line(__doc__),
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--algos", help="comma-separated training algorithms, or 'all' (default: the default "
                                        "algorithm of train)")
    parser.add_argument("--size", default="64,128,256", help="comma-separated working sizes in pixels")
    parser.add_argument("--batch-size", type=int, default=16, help="images per training step")
    parser.add_argument("--filters", type=int, default=16, help="generator / discriminator base filters")
    parser.add_argument("--depth", type=int, default=4, help="U-Net levels; sizes must be divisible by 2**depth")
    parser.add_argument("--xla", choices=("on", "off", "both"), default="off", help="compile the step with XLA")
    parser.add_argument("--mixed-precision", choices=("on", "off", "both"), default="off",
                        help="compute in bfloat16 (float16 on GPUs) with float32 weights")
    parser.add_argument("--input", choices=("gray", "lineart"), default="gray",
                        help="what the generator sees (line art: the pipeline extracts lines and, with region "
                             "pooling on by default, region labels)")
    parser.add_argument("--train-flags", default="", metavar="FLAGS",
                        help="flags of the train command for every configuration, in one string, e.g. "
                             "\"--z-entry input --convs-per-level 2 --n-critic 2\"")
    parser.add_argument("--breakdown", action="store_true",
                        help="split one training step into generator passes, discriminator passes, penalties "
                             "and optimizers (GFLOP, wall and CPU seconds) instead of the usual measures")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per configuration (with "
                                                              "--breakdown: timed runs of each part)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (the first one compiles)")
    parser.add_argument("--out", default="bench.json", help="JSON file for every raw figure")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    # Test-only knobs, hidden from --help: keep the suite fast.
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--page-size", default=f"{PAGE_HW[0]}x{PAGE_HW[1]}", help=argparse.SUPPRESS)
    parser.add_argument("--matmul-size", type=int, default=2048, help=argparse.SUPPRESS)
    parser.add_argument("--latency-runs", type=int, default=5, help=argparse.SUPPRESS)
    return parser


def parse_specs(args) -> list:
    """BenchSpecs for every (algo, size, xla) asked for; ValueError with a one-line reason."""
    from anime_colorize import config as config_lib
    from anime_colorize.trainers import available_trainers, get_trainer

    for name in ("batch_size", "filters", "depth", "steps", "warmup", "matmul_size", "latency_runs"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be a positive integer")
    if args.algos is None:
        algos = [config_lib.default_algorithm()]
    elif args.algos.strip() == "all":
        algos = available_trainers()
    else:
        algos = [a.strip() for a in args.algos.split(",") if a.strip()]
    try:
        sizes = [int(s) for s in args.size.split(",")]
        page_hw = tuple(int(v) for v in args.page_size.lower().split("x"))
    except ValueError:
        raise ValueError("--size takes comma-separated integers such as 64,128 and "
                         "--page-size HEIGHTxWIDTH such as 2000x1414") from None
    if not algos or min(sizes) < 1 or len(page_hw) != 2 or min(page_hw) < 1:
        raise ValueError("--algos needs an algorithm, --size must be positive, --page-size two positive sides")
    for algo in algos:
        get_trainer(algo)  # ValueError listing the known ones
    settings = tuple(sorted(parse_train_flags(args.train_flags).items()))
    switch = {"on": [True], "off": [False], "both": [False, True]}
    specs = [BenchSpec(algo, size, args.batch_size, args.filters, args.depth, xla, args.steps,
                       args.warmup, page_hw, args.latency_runs, mixed_precision=mixed, input=args.input,
                       settings=settings)
             for algo in algos for size in sizes for xla in switch[args.xla]
             for mixed in switch[args.mixed_precision]]
    for spec in specs:  # divisible by 2**depth, settings of the algorithm, etc., in the train command's words
        config_lib.validate(spec_config(spec))
    return specs


# What the benchmark's own flags set; --train-flags takes the others.
OWN_SETTINGS = {"algo": "--algos", "size": "--size", "batch_size": "--batch-size", "filters": "--filters",
                "depth": "--depth", "xla": "--xla", "mixed_precision": "--mixed-precision", "input": "--input",
                "steps": "--steps"}


def parse_train_flags(text: str) -> dict:
    """``{setting: value}`` from flags of the train command in one string; ValueError naming
    a flag it does not know or one the benchmark sets with a flag of its own."""
    import shlex

    from anime_colorize import train

    parser = train.build_parser()
    parser.exit_on_error = False
    try:
        args, unknown = parser.parse_known_args(shlex.split(text))
    except (argparse.ArgumentError, ValueError) as e:
        raise ValueError(f"--train-flags: {e}") from None
    if unknown:
        raise ValueError(f"--train-flags: the train command has no flag {unknown[0]}")
    given = {k: v for k, v in vars(args).items() if k not in ("resume", "config", "overwrite", "quiet", "verbose")}
    for name in given:
        if name in OWN_SETTINGS:
            raise ValueError(f"--train-flags: set {flag_name(name)} with the benchmark's {OWN_SETTINGS[name]}")
    return given



def main(argv=None) -> int:
    from tqdm.auto import tqdm

    args = build_parser().parse_args(argv)
    cli_common.setup_logging()
    try:
        specs = parse_specs(args)
    except ValueError as e:
        return cli_common.fail(str(e))
    # with --mixed-precision both, the table's "mixed" column tells each row's precision
    cli_common.log_device(all(spec.mixed_precision for spec in specs))
    machine = machine_info()
    peak = matmul_peak(args.matmul_size)
    rows, failures, breakdowns = [], [], []
    with tqdm(specs, desc="benchmark", unit="config", disable=args.quiet) as bar:
        for spec in bar:
            bar.set_postfix_str(f"{spec.algo} {spec.size}px xla={'on' if spec.xla else 'off'} "
                            f"mixed={'on' if spec.mixed_precision else 'off'}")
            try:
                if args.breakdown:  # in this process: it measures no memory
                    row = measure_breakdown(spec)
                    breakdowns.append(row)
                    continue
                row = measure_config(spec) if args.in_process else measure_isolated(spec)
            except Exception as e:  # RuntimeError from the child, or anything in-process: one line
                # Report it and measure the other configurations: one broken combination
                # should not cost the figures of the rest.
                failures.append({**dataclasses.asdict(spec), "error": str(e)})
                print(f"error: {spec.algo} at {spec.size}px (xla={spec.xla}, mixed precision="
                      f"{spec.mixed_precision}) failed: {e}", file=sys.stderr)
                continue
            # In one process ru_maxrss only grows, so a row shows the peak of all rows so far.
            row["memory_isolated"] = not args.in_process
            achieved = row["achieved_flops_per_s"]
            row["percent_of_matmul_peak"] = achieved and 100 * achieved / peak["flops_per_s"]
            rows.append(row)
    report = {"machine": machine, "arguments": vars(args), "matmul_peak": peak, "results": rows,
              "failures": failures, "units": UNITS}
    if args.breakdown:
        report["breakdown"] = breakdowns
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2, default=str))
    gpus = ", ".join(machine["gpus"]) or "none"
    print(f"{machine['cpu']}, {machine['logical_cores']} logical cores, GPU: {gpus}; "
          f"TensorFlow {machine['tensorflow']}, Keras {machine['keras']}")
    print(f"float32 matmul peak ({peak['n']}x{peak['n']}): {peak['flops_per_s'] / 1e9:.1f} GFLOP/s")
    if rows:
        print(format_table(rows))
    from anime_colorize.step_breakdown import format_breakdown

    for row in breakdowns:
        flags = " ".join(f"{flag_name(k)} {v}" for k, v in row["settings"])
        title = (f"{row['algo']} {row['size']} px {row['input']}, batch {row['batch_size']}"
                 f"{', xla' if row['xla'] else ''}{', mixed precision' if row['mixed_precision'] else ''}"
                 f"{' ' + flags if flags else ''}")
        print(format_breakdown(row, title))
    print(f"wrote {args.out}" + (f"; {len(failures)} configuration(s) failed (listed above)" if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
