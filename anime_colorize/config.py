"""Frozen dataclasses for every setting; the command-line flags are generated from them.

Config flows one way: CLI -> dataclass -> trainer. Each field's ``metadata["help"]`` is its
flag's help text, and the field name with ``_`` turned into ``-`` is its flag, so adding a
setting is adding one field. A run's resolved configuration is the JSON of :class:`RunConfig`
(see :func:`to_json`), written next to its checkpoints.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from dataclasses import dataclass, field

INPUT_KINDS = ("gray", "lineart")
# Hint kinds (see anime_colorize.data.hints); listed here so this module stays free of TensorFlow.
HINT_KINDS = ("points", "scribble", "blur", "histogram", "reference")
HINT_CHOICES = ("none",) + HINT_KINDS + ("mix",)


def hint_kinds_for(hints: str) -> tuple[str, ...]:
    """The hint kinds a model trained with ``--hints hints`` accepts."""
    if hints == "none":
        return ()
    return HINT_KINDS if hints == "mix" else (hints,)


def _f(default, help_text, **metadata):
    return field(default=default, metadata={"help": help_text, **metadata})


@dataclass(frozen=True)
class DataConfig:
    data: str | None = _f(None, "folder of colour images, searched recursively (default: built-in cel pictures)")
    data_a: str | None = _f(None, "cyclegan: folder of black-and-white pages (domain A), searched recursively "
                                  "(default, with --data-b also absent: built-in pictures turned gray)")
    data_b: str | None = _f(None, "cyclegan: folder of colour images (domain B), unpaired with --data-a "
                                  "(default, with --data-a also absent: other built-in cel pictures)")
    page_scale: float = _f(4.0, "cyclegan: pages (--data-a) are loaded with their shorter side at size*page_scale, "
                                "as two squares (top/left and bottom/right) so the whole page is used, then "
                                "cropped at random; inference colours a page at the same scale")
    exclude: str | None = _f(None, "leave out files whose name matches this glob, e.g. a held-out year: '*_2011.jpg'")
    size: int = _f(64, "training crop size in pixels (height = width); must be divisible by 2**depth")
    batch_size: int = _f(16, "images per training step")
    num_images: int = _f(4096, "number of built-in pictures to generate when --data is not given")
    cache: bool = _f(False, "decode the folder once and keep it in memory (the built-in data always is)")
    drop_gray: float = _f(0.0, "drop images whose mean Lab chroma is below this (e.g. 4); 0 keeps all")
    crop_scale: float = _f(1.125, "images are resized to size*crop_scale before the random crop; 1 = no crop")
    flip: bool = _f(True, "random horizontal flips")
    max_pixels: int = _f(64_000_000, "skip images with more pixels than this (width x height, read from the file "
                                     "header before decoding: a guard against decompression bombs); raise it "
                                     "for huge scans you trust")


@dataclass(frozen=True)
class ModelConfig:
    depth: int = _f(4, "U-Net levels (each halves the resolution)")
    filters: int = _f(16, "filters at full resolution (doubled per level, capped at 8x)")
    norm: str = _f("batch", "generator normalisation", choices=("batch", "instance", "group", "none"))
    z_dim: int = _f(8, "size of the noise vector z")
    resnet_blocks: int = _f(6, "residual blocks of the ResNet generators (cyclegan; --filters sets their width)")
    input: str = _f("gray", "what the generator sees: the picture's lightness (it predicts ab) or line art "
                            "extracted from it (it predicts L and ab)", choices=INPUT_KINDS)
    hints: str = _f("none", "colour hints simulated in training and accepted at inference ('mix': each "
                            "picture gets one kind or none at random)", choices=HINT_CHOICES)


@dataclass(frozen=True)
class TrainConfig:
    algo: str = _f("wgangp", "training algorithm (the list is at the end of --help)")
    steps: int = _f(1500, "generator updates in total")
    out: str = _f("runs/default", "run folder: config.json, checkpoints, TensorBoard logs, exports")
    seed: int = _f(0, "the one seed all randomness flows from")
    lr_g: float = _f(2e-4, "generator learning rate")
    lr_d: float = _f(2e-4, "discriminator / critic learning rate")
    beta_1: float = _f(0.5, "Adam beta_1")
    beta_2: float = _f(0.9, "Adam beta_2")
    n_critic: int = _f(2, "critic updates per generator update (wgangp)")
    lambda_gp: float = _f(10.0, "gradient-penalty weight (wgangp)")
    lambda_adv: float = _f(1.0, "adversarial loss weight")
    lambda_l1: float = _f(100.0, "weight of the L1 loss on ab of the better of two z samples; 0 disables it")
    lambda_hint: float = _f(10.0, "weight of the L1 loss between the output and the hint colour at hinted "
                                  "pixels (models trained with --hints)")
    lambda_ms: float = _f(0.1, "mode-seeking (diversity) weight; 0 disables it")
    lambda_l2: float = _f(100.0, "weight of the mean-squared-error loss on the colours (l2, the regression "
                                 "baseline)")
    lambda_r1: float = _f(10.0, "R1 penalty weight gamma: gamma / 2 * ||grad D(real)||^2 per sample "
                                "(pix2pix_gp)")
    lambda_fm: float = _f(10.0, "weight of the discriminator feature-matching loss (pix2pixhd)")
    num_scales: int = _f(3, "discriminator scales, each seeing the picture average-pooled by 2 once more "
                            "(pix2pixhd)")
    lambda_cycle: float = _f(10.0, "cycle-consistency L1 weight, both directions (cyclegan)")
    lambda_identity: float = _f(5.0, "identity L1 weight (cyclegan; the paper's 0.5 x --lambda-cycle): the "
                                     "colourer on a colour picture's lightness gives its colours, the page "
                                     "maker leaves a colourless picture as it is; 0 disables it")
    pool_size: int = _f(50, "generated images kept per domain in the history pool the discriminators also see "
                            "(cyclegan); 0 = judge only the newest")
    log_every: int = _f(25, "steps between logged losses")
    sample_every: int = _f(250, "steps between sample grids")
    checkpoint_every: int = _f(250, "steps between checkpoints")
    max_minutes: float | None = _f(None, "stop after this many minutes, then save and export as at --steps")
    xla: bool = _f(False, "compile the train step with XLA")
    mixed_precision: bool = _f(False, "compute in float16 on GPUs (with loss scaling), bfloat16 elsewhere")
    strategy: str = _f("default", "tf.distribute strategy: one device, all local devices, or the "
                                  "workers in TF_CONFIG", choices=("default", "mirrored", "multiworker"))
    eager: bool = _f(False, "run the train step eagerly (debugging; slow)")
    nan_retries: int = _f(3, "non-finite losses in a row survived (each rolls back to the last checkpoint "
                             "and halves the learning rates) before the run stops")


@dataclass(frozen=True)
class RunConfig:
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)


SECTIONS = {"train": TrainConfig, "data": DataConfig, "model": ModelConfig}


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser, cls, title: str) -> None:
    """Adds one flag per field of dataclass ``cls``; defaults are SUPPRESSed so the parsed
    namespace holds only the flags the user gave (see :func:`apply_overrides`)."""
    group = parser.add_argument_group(title)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        base = [a for a in typing.get_args(kind) if a is not type(None)]
        kind = base[0] if base else kind
        choices = f.metadata.get("choices")
        help_text = f.metadata.get("help", "") + (f"; one of: {', '.join(choices)}" if choices else "")
        help_text = f"{help_text} (default: {f.default})"
        kwargs = dict(dest=f.name, default=argparse.SUPPRESS, help=help_text)
        if kind is bool:
            group.add_argument(flag_name(f.name), action=argparse.BooleanOptionalAction, **kwargs)
        else:
            if "choices" in f.metadata:
                kwargs["choices"] = f.metadata["choices"]
            group.add_argument(flag_name(f.name), type=kind, metavar=kind.__name__.upper(), **kwargs)


def apply_overrides(config: RunConfig, given: dict) -> RunConfig:
    """Returns ``config`` with the given ``{field_name: value}`` set in whichever section owns each."""
    sections = {}
    for section, cls in SECTIONS.items():
        names = {f.name for f in dataclasses.fields(cls)}
        updates = {k: v for k, v in given.items() if k in names}
        sections[section] = dataclasses.replace(getattr(config, section), **updates)
    unknown = set(given) - {f.name for cls in SECTIONS.values() for f in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"unknown settings: {sorted(unknown)}")
    return RunConfig(**sections)


def validate(config: RunConfig) -> None:
    """Raises ValueError, naming the flag, for settings that cannot work."""
    d, m, t = config.data, config.model, config.train
    stride = 2**m.depth
    lower, upper = max(stride, d.size // stride * stride), -(-d.size // stride) * stride
    checks = [
        (1 <= m.depth <= 7, "--depth must be between 1 and 7"),
        (d.size % stride == 0, f"--size {d.size} is not divisible by 2**depth = {stride}; "
                               f"try --size {lower} or --size {upper}"),
        (d.batch_size >= 1, "--batch-size must be at least 1"),
        (d.num_images >= 1, "--num-images must be at least 1"),
        (d.crop_scale >= 1.0, "--crop-scale must be at least 1"),
        (d.max_pixels >= 1, "--max-pixels must be at least 1"),
        (m.filters >= 1 and m.z_dim >= 1, "--filters and --z-dim must be positive"),
        (t.steps >= 1, "--steps must be at least 1"),
        (t.n_critic >= 1, "--n-critic must be at least 1"),
        (min(t.log_every, t.sample_every, t.checkpoint_every) >= 1, "logging intervals must be positive"),
        (t.max_minutes is None or t.max_minutes > 0, "--max-minutes must be positive"),
        (t.nan_retries >= 0, "--nan-retries must be at least 0"),
        (min(t.lambda_l2, t.lambda_r1, t.lambda_fm) >= 0,
         "--lambda-l2, --lambda-r1 and --lambda-fm must be at least 0"),
        (t.num_scales >= 1, "--num-scales must be at least 1"),
        # The coarsest discriminator scale must still see a picture, not a few pixels.
        (t.algo != "pix2pixhd" or d.size // 2 ** (t.num_scales - 1) >= 8,
         f"--num-scales {t.num_scales} pools --size {d.size} below 8 px at the coarsest scale; "
         f"use fewer scales or a larger size"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)
    _validate_unpaired(config)


UNPAIRED_ALGOS = ("cyclegan",)


def _validate_unpaired(config: RunConfig) -> None:
    """The two-folder settings of unpaired training (cyclegan) against the paired ones."""
    d, m, t = config.data, config.model, config.train
    if t.algo not in UNPAIRED_ALGOS:
        if d.data_a is not None or d.data_b is not None:
            raise ValueError(f"--data-a and --data-b are for unpaired training (--algo {', '.join(UNPAIRED_ALGOS)}); "
                             f"--algo {t.algo} takes one folder of colour images: --data")
        return
    checks = [
        (d.data is None, f"--algo {t.algo} trains on two unpaired folders: give --data-a (black-and-white "
                         "pages) and --data-b (colour images) instead of --data"),
        ((d.data_a is None) == (d.data_b is None),
         f"--algo {t.algo} needs both --data-a (black-and-white pages) and --data-b (colour images), "
         f"or neither (built-in pictures); only --data-{'a' if d.data_a is not None else 'b'} was given"),
        (m.input == "gray", f"--algo {t.algo} colours pages from their lightness: --input must be gray"),
        (m.hints == "none", f"--algo {t.algo} has no colour hints: --hints must be none"),
        (d.size % 4 == 0, f"--size {d.size} must be divisible by 4 for the ResNet generators"),
        (d.page_scale >= 1.0, "--page-scale must be at least 1"),
        (m.resnet_blocks >= 1, "--resnet-blocks must be at least 1"),
        (min(t.lambda_cycle, t.lambda_identity) >= 0, "--lambda-cycle and --lambda-identity must be at least 0"),
        (t.pool_size >= 0, "--pool-size must be at least 0"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)


def to_dict(config: RunConfig) -> dict:
    return dataclasses.asdict(config)


def to_json(config: RunConfig) -> str:
    return json.dumps(to_dict(config), indent=2, sort_keys=True)


def from_dict(data: dict) -> RunConfig:
    """Inverse of :func:`to_dict`; unknown keys (from a newer version) are an error."""
    sections = {}
    for section, cls in SECTIONS.items():
        values = dict(data.get(section, {}))
        known = {f.name for f in dataclasses.fields(cls)}
        extra = set(values) - known
        if extra:
            raise ValueError(f"config section '{section}' has unknown keys {sorted(extra)}")
        sections[section] = cls(**values)
    return RunConfig(**sections)
