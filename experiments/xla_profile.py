"""Why ``--xla`` is slower for our U-Net on a CPU: step times with and without XLA, and where the
time of one compiled generator update goes, op by op.

    python experiments/xla_profile.py --out reports/xla_profile.json

Three measurements, all in one process (so on one machine state; the CPU may be shared, so
each figure is the best or median of several interleaved repeats, and CPU time is reported
beside wall time: a process that waits for a core shows wall time but no CPU time):

1. ``steps``: the default training steps (wgangp 64 px and pix2pix 128 px line art with
   hints, batch 16) with XLA off, with XLA and the models' XLA-friendly formulations
   (:mod:`anime_colorize.models.layers`), and with XLA and the formulations switched off
   (``legacy``: the graphs before they existed).
2. ``profile``: one generator update (forward on 2 x 16 images, L1 loss, backward, Adam) of
   the default 64 px generator, traced with ``tf.profiler``; each executed op's time is
   attributed to the TensorFlow op it came from (for XLA through the ``op_type`` metadata of
   the optimized HLO, dumped with ``XLA_FLAGS=--xla_dump_to``; XLA reports per-op events
   when ``--xla_cpu_enable_xprof_traceme`` is set, which this script sets before TensorFlow
   starts).
3. ``plain``: a plain noise U-Net (one 3x3 convolution per level, nearest upsampling, no
   normalisation) and single convolutions, XLA off and on: what XLA's CPU backend does to
   convolutions alone, independent of our models.
"""
from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

DUMP_DIR = tempfile.mkdtemp(prefix="xla_dump_")
# Before TensorFlow starts: XLA reads its flags once.
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + f" --xla_dump_to={DUMP_DIR} --xla_dump_hlo_as_text"
                           " --xla_dump_hlo_module_re=.*generator_update.* --xla_cpu_enable_xprof_traceme=true")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from anime_colorize import config as config_lib  # noqa: E402
from anime_colorize.models import UNetGenerator  # noqa: E402
from anime_colorize.models import layers as model_layers  # noqa: E402
from anime_colorize.step_breakdown import timed  # noqa: E402
from anime_colorize.trainers import get_trainer  # noqa: E402

XLA_FRIENDLY = model_layers.in_xla_context


def use_xla_friendly_ops(on: bool) -> None:
    """Switches the models' XLA-friendly formulations on (as shipped) or off (the graphs before
    they existed) for everything traced afterwards."""
    model_layers.in_xla_context = XLA_FRIENDLY if on else (lambda: False)


# --- 1. training steps ------------------------------------------------------------------------
STEP_CONFIGS = {
    "wgangp 64px": {"algo": "wgangp", "size": 64, "batch_size": 16},
    "pix2pix 128px lineart hints": {"algo": "pix2pix", "size": 128, "batch_size": 16, "input": "lineart",
                                    "hints": "mix"},
}


def random_batch(trainer, size: int, batch: int, seed: int = 0) -> dict:
    """A batch of the trainer's signature with random values in the inputs' ranges."""
    rng = np.random.default_rng(seed)
    out = {}
    for key, spec in trainer.batch_signature().items():
        shape = [batch] + [size if d is None else d for d in spec.shape[1:]]
        out[key] = tf.constant(rng.uniform(-1, 1, shape).astype("float32"))
    if "hint_mask" in out:
        out["hint_mask"] = tf.cast(out["hint_mask"] > 0.99, tf.float32)
        out["hint_hist"] = tf.abs(out["hint_hist"])
    return out


def measure_steps(repeats: int) -> list:
    rows = []
    for name, overrides in STEP_CONFIGS.items():
        functions = {}
        for label, xla, friendly in [("xla off", False, True), ("xla, legacy ops", True, False),
                                     ("xla", True, True)]:
            use_xla_friendly_ops(friendly)
            config = config_lib.apply_overrides(config_lib.RunConfig(), {**overrides, "xla": xla})
            trainer = get_trainer(overrides["algo"])(config)
            batch = random_batch(trainer, overrides["size"], overrides["batch_size"])
            start = time.perf_counter()
            float(trainer.train_step(batch)["g_loss"])  # trace + compile here, under this setting
            print(f"  {name}, {label}: compiled in {time.perf_counter() - start:.0f} s", flush=True)
            functions[label] = lambda t=trainer, b=batch: float(t.train_step(b)["g_loss"])
        use_xla_friendly_ops(True)
        for label, figures in timed(functions, repeats).items():
            rows.append({"config": name, "setting": label, **figures})
    return rows


# --- 2. op-level profile -----------------------------------------------------------------------
def generator_update(generator, batch_size: int = 32, size: int = 64):
    """A compiled-or-not zero-argument generator update: forward, L1, backward, Adam."""
    rng = np.random.default_rng(0)
    l = tf.constant(rng.uniform(-1, 1, (batch_size, size, size, 1)).astype("float32"))
    z = tf.constant(rng.normal(size=(batch_size, generator.z_dim)).astype("float32"))
    ab = tf.constant(rng.uniform(-0.3, 0.3, (batch_size, size, size, 2)).astype("float32"))
    optimizer = keras.optimizers.Adam(2e-4)
    optimizer.build(generator.trainable_variables)

    def generator_update_step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.abs(generator({"l": l, "z": z}, training=True) - ab))
        optimizer.apply(tape.gradient(loss, generator.trainable_variables), generator.trainable_variables)
        return loss
    return generator_update_step


def xplane_events(logdir: str) -> dict:
    """{(line name, event name): total ms} over every event of the trace in ``logdir``.

    XLA's CPU runtime runs some ops asynchronously (convolutions, among others): their event
    covers only the launch, and a zero-length ``end: <name>`` event marks the completion, so
    such an op's time is taken from its launch to its end marker (the lines of both summed
    under the launch's line).
    """
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    path = sorted(glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True))[-1]
    space = xplane_pb2.XSpace()
    space.ParseFromString(Path(path).read_bytes())
    events = []  # (start ps, duration ps, line, name)
    for plane in space.planes:
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                events.append((line.timestamp_ns * 1000 + event.offset_ps, event.duration_ps, line.name,
                               names.get(event.metadata_id, "?")))
    events.sort()
    ends = collections.defaultdict(collections.deque)  # name -> times of its end markers, in order
    for start, _, _, name in events:
        if name.startswith("end: "):
            ends[name[len("end: "):]].append(start)
    totals = collections.Counter()
    for start, duration, line, name in events:
        if name.startswith("end: "):
            continue
        if ends.get(name):  # an asynchronous op: launch to end marker
            totals[(line, name)] += (ends[name].popleft() - start) / 1e9
        else:
            totals[(line, name)] += duration / 1e9
    return totals


def hlo_op_types(module_pattern: str) -> dict:
    """{HLO instruction name: the TensorFlow op type it came from} from the newest optimized-HLO
    dump whose file name matches ``module_pattern``; instructions without one (layout changes
    XLA inserted itself) get ``"XLA:<instruction name without its number>"``."""
    paths = sorted(glob.glob(f"{DUMP_DIR}/*{module_pattern}*cpu_after_optimizations.txt"), key=os.path.getmtime)
    types = {}
    for line in Path(paths[-1]).read_text().splitlines():
        match = re.match(r"\s*(?:ROOT )?%([\w.\-]+) = ", line)
        if match:
            op_type = re.search(r'op_type="(\w+)"', line)
            types[match.group(1)] = op_type.group(1) if op_type else "XLA:" + match.group(1).split(".")[0]
    return types


OP_GROUPS = [  # (group, TensorFlow op types): the profile's rows
    ("convolution forward", {"Conv2D"}),
    ("convolution input gradient", {"Conv2DBackpropInput"}),
    ("convolution weight gradient", {"Conv2DBackpropFilter"}),
    ("bilinear resize and its gradient", {"ResizeBilinear", "ResizeBilinearGrad"}),
    ("space-to-depth, pads, slices, stack (the XLA-friendly ops)",
     {"SpaceToDepth", "DepthToSpace", "MirrorPad", "MirrorPadGrad", "Pad", "Slice", "Pack", "Unpack", "Reshape",
      "XlaDynamicUpdateSlice"}),
    ("batch norm (statistics, normalisation and gradients)",
     {"FusedBatchNormV3", "FusedBatchNormGradV3", "Sum", "Mean", "SquaredDifference", "Rsqrt", "BiasAddGrad"}),
    ("concatenation and z broadcast", {"ConcatV2", "BroadcastTo", "Tile"}),
    ("activations and their gradients", {"Relu", "ReluGrad", "LeakyRelu", "LeakyReluGrad", "Tanh", "TanhGrad"}),
]


def group_of(op_type: str) -> str:
    for group, types in OP_GROUPS:
        if op_type in types:
            return group
    if op_type.startswith("XLA:"):  # an instruction XLA made without a TensorFlow op behind it
        if "convolution" in op_type or op_type.startswith("XLA:dot"):
            return "convolutions XLA rewrote (weight gradients)"
        return "layout transposes and copies XLA adds"
    return "everything else (adds, casts, optimizer, copies)"


def profile_generator_update(xla: bool, friendly: bool, runs: int = 3) -> dict:
    """Per-group ms of one generator update, and the step's wall time under the profiler."""
    use_xla_friendly_ops(friendly)
    keras.utils.set_random_seed(0)
    step = tf.function(generator_update(UNetGenerator(z_dim=8, depth=4, filters=16)), jit_compile=xla)
    float(step()), float(step())
    logdir = tempfile.mkdtemp(prefix="xla_profile_")
    tf.profiler.experimental.start(logdir)
    start = time.perf_counter()
    for _ in range(runs):
        float(step())
    wall = (time.perf_counter() - start) / runs
    tf.profiler.experimental.stop()
    use_xla_friendly_ops(True)
    events = xplane_events(logdir)
    groups = collections.Counter()
    if xla:
        types = hlo_op_types("generator_update")
        for (line, name), ms in events.items():
            if name in types:  # HLO ops, on the intra-op threads or inline on the caller's
                groups[group_of(types[name])] += ms / runs
    else:
        for (line, name), ms in events.items():
            if ":" in name and "/" in name and not name.startswith("end:"):  # "op_name:OpType"
                groups[group_of(name.rsplit(":", 1)[1].replace("_MklNative", "").replace("_Mkl", ""))] += ms / runs
    return {"wall_ms_under_profiler": wall * 1e3, "op_ms": dict(groups), "op_ms_total": sum(groups.values())}


# --- 3. plain U-Net and single convolutions --------------------------------------------------------
def plain_unet(filters=16, depth=4, z_dim=8, size=64):
    """One 3x3 convolution per level (stride 2 down), nearest upsampling, z at the bottleneck."""
    from keras import layers
    l, z = keras.Input((size, size, 1), name="l"), keras.Input((z_dim,), name="z")
    x = layers.Conv2D(filters, 3, padding="same", activation="relu")(l)
    skips = [x]
    for i in range(depth):
        x = layers.Conv2D(filters * min(2 ** (i + 1), 8), 3, strides=2, padding="same", activation="relu")(x)
        skips.append(x)
    skips.pop()
    x = layers.Concatenate()([x, layers.UpSampling2D(size // 2**depth)(layers.Reshape((1, 1, z_dim))(z))])
    for i in reversed(range(depth)):
        x = layers.Concatenate()([layers.UpSampling2D(2)(x), skips[i]])
        x = layers.Conv2D(filters if i == 0 else filters * min(2**i, 8), 3, padding="same", activation="relu")(x)
    model = keras.Model({"l": l, "z": z}, layers.Conv2D(2, 1, activation="tanh")(x))
    model.z_dim = z_dim
    return model


def single_conv_update(kernel, strides, channels, size=64, batch=32):
    """The update of one convolution layer alone (forward, backward, Adam)."""
    inputs = keras.Input((size, size, channels))
    model = keras.Model(inputs, keras.layers.Conv2D(channels, kernel, strides=strides, padding="same")(inputs))
    x = tf.constant(np.random.default_rng(0).normal(size=(batch, size, size, channels)).astype("float32"))
    optimizer = keras.optimizers.Adam(1e-4)
    optimizer.build(model.trainable_variables)

    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x)))
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss
    return step


def measure_plain(repeats: int) -> list:
    keras.utils.set_random_seed(0)
    cases = {"plain U-Net update (one conv per level)": generator_update(plain_unet()),
             "one 3x3 conv, 16 channels, 64 px": single_conv_update(3, 1, 16),
             "one 4x4 stride-2 conv, 16 channels, 64 px": single_conv_update(4, 2, 16)}
    rows = []
    for name, fn in cases.items():
        functions = {xla: tf.function(fn, jit_compile=xla) for xla in (False, True)}
        figures = timed({xla: (lambda f=f: float(f())) for xla, f in functions.items()}, repeats)
        for xla, f in figures.items():
            rows.append({"case": name, "xla": xla, **f})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="steps,profile,plain", help="which measurements, comma-separated")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=None, help="write every figure to this JSON file")
    parser.add_argument("--threads", type=int, default=None,
                        help="intra- and inter-op threads (default: TensorFlow's); 1 takes thread hand-offs "
                             "out of the comparison")
    args = parser.parse_args(argv)
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    parts = args.parts.split(",")
    report = {"threads": tf.config.threading.get_intra_op_parallelism_threads(), "cores": os.cpu_count(),
              "tensorflow": tf.__version__}
    if "plain" in parts:
        report["plain"] = measure_plain(args.repeats)
        print("\nXLA's CPU backend on plain convolutions (ms; wall best / CPU median):")
        for off, on in zip(report["plain"][::2], report["plain"][1::2]):
            print(f"  {off['case']:45s} off {off['wall_s_best'] * 1e3:7.1f} / {off['cpu_s_median'] * 1e3:7.1f}   "
                  f"xla {on['wall_s_best'] * 1e3:7.1f} / {on['cpu_s_median'] * 1e3:7.1f}   "
                  f"speed-up {off['wall_s_best'] / on['wall_s_best']:.2f} (CPU {off['cpu_s_median'] / on['cpu_s_median']:.2f})")
    if "profile" in parts:
        report["profile"] = {label: profile_generator_update(xla, friendly) for label, xla, friendly in
                             [("xla off", False, True), ("xla, legacy ops", True, False), ("xla", True, True)]}
        print("\nOne generator update of the default 64 px U-Net (batch 32), op time by group, ms:")
        labels = list(report["profile"])
        groups = [g for g, _ in OP_GROUPS] + [group_of("XLA:convolution"), group_of("XLA:copy"), group_of("?")]
        print(f"  {'':60s}" + "".join(f"{label:>18s}" for label in labels))
        for group in groups:
            print(f"  {group:60s}" + "".join(f"{report['profile'][lb]['op_ms'].get(group, 0):18.1f}" for lb in labels))
        print(f"  {'sum of op times (concurrent ops overlap)':60s}" + "".join(f"{report['profile'][lb]['op_ms_total']:18.1f}" for lb in labels))
        print(f"  {'wall time of the update (under the profiler)':60s}"
              + "".join(f"{report['profile'][lb]['wall_ms_under_profiler']:18.1f}" for lb in labels))
    if "steps" in parts:
        report["steps"] = measure_steps(args.repeats)
        print("\nTraining steps, batch 16 (s; wall best, wall median, CPU median):")
        for row in report["steps"]:
            print(f"  {row['config']:30s} {row['setting']:16s} {row['wall_s_best']:6.3f} {row['wall_s_median']:6.3f} "
                  f"{row['cpu_s_median']:6.3f}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
