"""Frozen dataclasses for every setting; the command-line flags are generated from them.

Config flows one way: CLI -> dataclass -> trainer. Each field's ``metadata["help"]`` is its
flag's help text, and the field name with ``_`` turned into ``-`` is its flag, so adding a
setting is adding one field (made with :func:`setting`).

A run's configuration (:class:`RunConfig`) has the sections every run has, :class:`TrainConfig`,
:class:`DataConfig` and :class:`ModelConfig`, plus the settings of its algorithm
(``config.algorithm``): a frozen dataclass derived from :class:`AlgorithmSettings`, declared in
the algorithm's own module under ``anime_colorize/trainers/`` and registered with it (see
:func:`anime_colorize.trainers.registry.register_trainer`). This module knows algorithms only
through that registry, never by name. The run's resolved configuration is written next to its
checkpoints as ``config.json`` (:func:`to_json`)::

    {"train": {...}, "data": {...}, "model": {...}, "<algo>": {the algorithm's settings}}

:func:`from_dict` also reads the flat format of earlier versions, where every algorithm's
settings sat in ``train`` (and a few in ``data`` and ``model``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path

INPUT_KINDS = ("gray", "lineart")
# Hint kinds (see anime_colorize.data.hints); listed here so this module stays free of TensorFlow.
HINT_KINDS = ("points", "scribble", "blur", "histogram", "reference")
HINT_CHOICES = ("none",) + HINT_KINDS + ("mix",)
# Options of the U-Net generator (anime_colorize.models.UNetGenerator), listed here so that
# this module stays free of TensorFlow.
Z_ENTRIES = ("input", "decoder")
FULL_RESOLUTIONS = ("conv", "light")


def hint_kinds_for(hints: str) -> tuple[str, ...]:
    """The hint kinds a model trained with ``--hints hints`` accepts."""
    if hints == "none":
        return ()
    return HINT_KINDS if hints == "mix" else (hints,)


def setting(default, help_text: str, **metadata):
    """A dataclass field that is also a command-line flag: ``help_text`` is the flag's help,
    ``choices=(...)`` restricts its values, in an algorithm's settings ``minimum=`` is
    checked by :meth:`AlgorithmSettings.validate`, and ``absent=`` is the value a saved
    configuration that lacks the field means (:func:`from_dict`): a setting added later with
    a default other than the behaviour before it says so, so that older runs load, resume and
    export as they were trained."""
    return field(default=default, metadata={"help": help_text, **metadata})


@dataclass(frozen=True)
class DataConfig:
    data: str | None = setting(None, "folder of colour images, searched recursively (default: built-in cel "
                                     "pictures)")
    exclude: str | None = setting(None, "leave out files whose name matches this glob, e.g. a held-out year: "
                                        "'*_2011.jpg'")
    size: int = setting(64, "training crop size in pixels (height = width); must be divisible by 2**depth")
    batch_size: int = setting(16, "images per training step")
    num_images: int = setting(4096, "number of built-in pictures to generate when --data is not given")
    cache: bool = setting(False, "decode the folder once and keep it in memory (the built-in data always is)")
    drop_gray: float = setting(0.0, "drop images whose mean Lab chroma is below this (e.g. 4); 0 keeps all")
    crop_scale: float = setting(1.125, "images are resized to size*crop_scale before the random crop; 1 = no crop")
    flip: bool = setting(True, "random horizontal flips")
    max_pixels: int = setting(64_000_000, "skip images with more pixels than this (width x height, read from the "
                                          "file header before decoding: a guard against decompression bombs); "
                                          "raise it for huge scans you trust")


@dataclass(frozen=True)
class ModelConfig:
    depth: int = setting(4, "U-Net levels (each halves the resolution)")
    filters: int = setting(16, "filters at full resolution (doubled per level, capped at 8x)")
    norm: str = setting("batch", "generator normalisation", choices=("batch", "instance", "group", "none"))
    z_dim: int = setting(8, "size of the noise vector z")
    input: str = setting("gray", "what the generator sees: the picture's lightness (it predicts ab) or line art "
                                 "extracted from it (it predicts L and ab)", choices=INPUT_KINDS)
    hints: str = setting("none", "colour hints simulated in training and accepted at inference ('mix': each "
                                 "picture gets one kind or none at random)", choices=HINT_CHOICES)
    region_pooling: bool | None = setting(None, "the generator averages its features within each region of the "
                                                "drawing (anime_colorize.regions), and training batches carry the "
                                                "region labels; unset: on for --input lineart, off for gray",
                                          absent=False)
    hint_fill: bool = setting(True, "hint models also see a dense push-pull fill of the sparse hints "
                                    "(anime_colorize.models.hint_fill) beside them at every level", absent=False)
    # The cheaper generator options (issue 17); a config.json written before they existed
    # means the original architecture (``absent``).
    z_entry: str = setting("input", "where the noise z first enters the generator: with the picture ('input') or "
                                    "from the bottleneck on ('decoder': the encoder is shared by both colourings "
                                    "of a training step, and the first discriminator update reuses the "
                                    "generator's colouring)", choices=Z_ENTRIES, absent="input")
    convs_per_level: int = setting(2, "3x3 convolutions per U-Net level besides the strided one and the "
                                      "upsampling: 2 (original) or 1", choices=(1, 2), absent=2)
    full_resolution: str = setting("conv", "work at full resolution: a convolutional stem and last decoder level "
                                           "('conv'), or the output head alone ('light')",
                                   choices=FULL_RESOLUTIONS, absent="conv")

    @property
    def uses_regions(self) -> bool:
        """Whether the model takes region labels: ``region_pooling``, or when unset, line-art input."""
        return self.input == "lineart" if self.region_pooling is None else self.region_pooling


@dataclass(frozen=True)
class TrainConfig:
    algo: str = field(default_factory=lambda: default_algorithm(),
                      metadata={"help": "training algorithm (the list is at the end of --help)"})
    steps: int = setting(1500, "generator updates in total")
    out: str = setting("runs/default", "run folder: config.json, checkpoints, TensorBoard logs, exports")
    seed: int = setting(0, "the one seed all randomness flows from")
    lr_g: float = setting(2e-4, "generator learning rate")
    lr_d: float = setting(2e-4, "discriminator / critic learning rate")
    beta_1: float = setting(0.5, "Adam beta_1")
    beta_2: float = setting(0.9, "Adam beta_2")
    lambda_adv: float = setting(1.0, "adversarial loss weight")
    log_every: int = setting(25, "steps between logged losses (each logged value is the mean over these steps)")
    sample_every: int = setting(250, "steps between sample grids")
    checkpoint_every: int = setting(250, "steps between checkpoints")
    max_minutes: float | None = setting(None, "stop after this many minutes, then save and export as at --steps")
    xla: bool = setting(False, "compile the train step with XLA")
    mixed_precision: bool = setting(False, "compute in float16 on GPUs (with loss scaling), bfloat16 elsewhere")
    strategy: str = setting("default", "tf.distribute strategy: one device, all local devices, or the "
                                       "workers in TF_CONFIG", choices=("default", "mirrored", "multiworker"))
    eager: bool = setting(False, "run the train step eagerly (debugging; slow)")
    nan_retries: int = setting(3, "non-finite losses in a row survived (each rolls back to the last checkpoint "
                                  "and halves the learning rates) before the run stops")


def check(rules) -> None:
    """Raises ValueError with the message of the first ``(ok, message)`` rule that fails."""
    for ok, message in rules:
        if not ok:
            raise ValueError(message)


@dataclass(frozen=True)
class AlgorithmSettings:
    """Base of every algorithm's own settings: a frozen dataclass of :func:`setting` fields,
    declared in the algorithm's module. Its docstring's first line heads the algorithm's
    group of flags in ``train --help``. A settings class may extend a shared one (the paired
    algorithms share :class:`~anime_colorize.trainers.conditional.ConditionalGANSettings`);
    each field is declared in exactly one class, so each flag has one home."""

    def validate(self, config: RunConfig) -> None:
        """Raises ValueError, naming the flag, for settings that cannot work with ``config``
        (the whole run configuration): here, a value below its field's ``minimum``. Extend it
        for other checks (calling ``super().validate(config)``)."""
        for f in dataclasses.fields(self):
            minimum, value = f.metadata.get("minimum"), getattr(self, f.name)
            if minimum is not None and value is not None and value < minimum:
                raise ValueError(f"{flag_name(f.name)} must be at least {minimum}")


# name -> settings class, filled by anime_colorize.trainers.registry.register_trainer.
_ALGORITHMS: dict[str, type] = {}
_DEFAULT_ALGORITHM: list[str] = []  # the one registered with default=True


def default_algorithm() -> str:
    """The algorithm a run uses when ``--algo`` is not given (registered with ``default=True``)."""
    if not _DEFAULT_ALGORITHM:
        raise ValueError("no default algorithm is registered (import anime_colorize.trainers to register them)")
    return _DEFAULT_ALGORITHM[0]


def algorithm_names() -> list[str]:
    """The registered algorithms, sorted."""
    return sorted(_ALGORITHMS)


def settings_class(algo: str) -> type:
    """The settings class of algorithm ``algo``; ValueError listing the known ones."""
    try:
        return _ALGORITHMS[algo]
    except KeyError:
        known = ", ".join(algorithm_names()) or "none (import anime_colorize.trainers to register them)"
        raise ValueError(f"unknown algorithm '{algo}'; known: {known}") from None


def _own_fields(cls) -> list:
    """The fields ``cls`` declares itself (not those it inherits)."""
    own = cls.__dict__.get("__annotations__", {})
    return [f for f in dataclasses.fields(cls) if f.name in own]


def _names(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def register_algorithm(algo: str, settings: type, default: bool = False) -> None:
    """Makes ``settings`` (a frozen :class:`AlgorithmSettings` dataclass) the settings of
    ``algo``, and with ``default`` the algorithm of runs that name none.

    Raises ValueError when a field would give a flag two homes: a name that a common section
    or another algorithm's settings class already declares.
    """
    params = getattr(settings, "__dataclass_params__", None)
    if not (isinstance(settings, type) and issubclass(settings, AlgorithmSettings)
            and dataclasses.is_dataclass(settings) and params is not None and params.frozen):
        raise ValueError(f"the settings of algorithm '{algo}' must be a frozen dataclass derived from "
                         f"AlgorithmSettings, not {settings!r}")
    homes = {name: section for section, cls in SECTIONS.items() for name in _names(cls)}
    for other in _ALGORITHMS.values():
        for cls in other.__mro__:
            if dataclasses.is_dataclass(cls) and cls not in settings.__mro__:
                homes.update({f.name: cls.__name__ for f in _own_fields(cls)})
    for cls in reversed(settings.__mro__):
        if dataclasses.is_dataclass(cls):
            for f in _own_fields(cls):
                if f.name in homes:
                    raise ValueError(f"setting '{f.name}' of algorithm '{algo}' ({cls.__name__}) is already "
                                     f"declared by {homes[f.name]}; share one declaration through a base class")
                homes[f.name] = cls.__name__
    if default and _DEFAULT_ALGORITHM not in ([], [algo]):
        raise ValueError(f"two default algorithms: {_DEFAULT_ALGORITHM[0]} and {algo}")
    _ALGORITHMS[algo] = settings
    if default:
        _DEFAULT_ALGORITHM[:] = [algo]


def unregister_algorithm(algo: str) -> None:
    _ALGORITHMS.pop(algo, None)
    if _DEFAULT_ALGORITHM == [algo]:
        _DEFAULT_ALGORITHM.clear()


def _algorithms_declaring(name: str) -> list[str]:
    return [algo for algo, cls in sorted(_ALGORITHMS.items()) if name in _names(cls)]


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs. ``algorithm`` holds the settings of ``train.algo`` (an instance
    of its registered settings class); left out, it is that class's defaults."""

    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    # None until __post_init__ puts the defaults of train.algo's settings there.
    algorithm: AlgorithmSettings = None  # type: ignore[assignment]

    def __post_init__(self):
        cls = settings_class(self.train.algo)
        if self.algorithm is None:
            object.__setattr__(self, "algorithm", cls())
        elif type(self.algorithm) is not cls:
            raise ValueError(f"settings {type(self.algorithm).__name__} given for --algo {self.train.algo}, "
                             f"which takes {cls.__name__}")


SECTIONS = {"train": TrainConfig, "data": DataConfig, "model": ModelConfig}


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser, cls, title: str, description: str | None = None,
                  fields: list | None = None) -> None:
    """Adds one flag per field of dataclass ``cls`` (or per field of ``fields``) in a group
    ``title``; defaults are SUPPRESSed so the parsed namespace holds only the flags the user
    gave (see :func:`apply_overrides`), and each help text ends with the default."""
    group = parser.add_argument_group(title, description)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls) if fields is None else fields:
        kind = _base_type(hints[f.name])
        choices = f.metadata.get("choices")
        help_text = f.metadata.get("help", "") + (f"; one of: {', '.join(map(str, choices))}" if choices else "")
        help_text = f"{help_text} (default: {field_default(f)})"
        kwargs: dict[str, typing.Any] = dict(dest=f.name, default=argparse.SUPPRESS, help=help_text)
        if kind is bool:
            group.add_argument(flag_name(f.name), action=argparse.BooleanOptionalAction, **kwargs)
        else:
            if choices:
                kwargs["choices"] = choices
            group.add_argument(flag_name(f.name), type=kind, metavar=kind.__name__.upper(), **kwargs)


def add_algorithm_arguments(parser: argparse.ArgumentParser) -> None:
    """One group of flags per settings class of the registered algorithms, headed by the
    algorithms that take them (a shared class once, before the classes that extend it)."""
    users: dict[type, list[str]] = {}
    for algo in algorithm_names():
        for cls in reversed(settings_class(algo).__mro__):  # shared bases first
            if dataclasses.is_dataclass(cls) and _own_fields(cls):
                users.setdefault(cls, []).append(algo)
    for cls, algos in users.items():
        title = f"{algos[0]} settings" if len(algos) == 1 else f"settings of {', '.join(algos)}"
        doc = (cls.__doc__ or "").strip()
        description = None if doc.startswith(cls.__name__ + "(") else doc.split("\n\n")[0].replace("\n", " ")
        add_arguments(parser, cls, title, description, _own_fields(cls))


def field_default(f: dataclasses.Field) -> typing.Any:
    """A dataclass field's default value (made by its default factory if it has one)."""
    return f.default_factory() if callable(f.default_factory) else f.default


def _base_type(kind):
    """``int`` for ``int``, ``str`` for ``str | None``."""
    base = [a for a in typing.get_args(kind) if a is not type(None)]
    return base[0] if base else kind


def apply_overrides(config: RunConfig, given: dict) -> RunConfig:
    """Returns ``config`` with the given ``{field_name: value}`` set in whichever section owns each.

    Changing ``algo`` gives the new algorithm's default settings, keeping the values of shared
    settings (a field both classes have) that differ from their defaults. A setting of another
    algorithm is an error naming the flag and the algorithms that take it.
    """
    algo = given.get("algo", config.train.algo)
    new_cls = settings_class(algo)
    owned = set().union(*(_names(cls) for cls in SECTIONS.values()), _names(new_cls))
    foreign = sorted(set(given) - owned)
    for name in foreign:
        owners = _algorithms_declaring(name)
        if owners:
            raise ValueError(f"{flag_name(name)} is a setting of --algo {', '.join(owners)}, not of --algo {algo}")
    if foreign:
        raise ValueError(f"unknown settings: {foreign}")
    sections = {section: dataclasses.replace(getattr(config, section),
                                             **{k: v for k, v in given.items() if k in _names(cls)})
                for section, cls in SECTIONS.items()}
    old = config.algorithm
    if type(old) is not new_cls:
        defaults = type(old)()
        old = new_cls(**{f.name: getattr(old, f.name) for f in dataclasses.fields(old)
                         if f.name in _names(new_cls) and getattr(old, f.name) != getattr(defaults, f.name)})
    algorithm = dataclasses.replace(old, **{k: v for k, v in given.items() if k in _names(new_cls)})
    return RunConfig(**sections, algorithm=algorithm)


def validate(config: RunConfig) -> None:
    """Raises ValueError, naming the flag, for settings that cannot work."""
    d, m, t = config.data, config.model, config.train
    stride = 2**m.depth
    lower, upper = max(stride, d.size // stride * stride), -(-d.size // stride) * stride
    check([
        (1 <= m.depth <= 7, "--depth must be between 1 and 7"),
        (d.size % stride == 0, f"--size {d.size} is not divisible by 2**depth = {stride}; "
                               f"try --size {lower} or --size {upper}"),
        (d.batch_size >= 1, "--batch-size must be at least 1"),
        (d.num_images >= 1, "--num-images must be at least 1"),
        (d.crop_scale >= 1.0, "--crop-scale must be at least 1"),
        (d.max_pixels >= 1, "--max-pixels must be at least 1"),
        (m.filters >= 1 and m.z_dim >= 1, "--filters and --z-dim must be positive"),
        (t.steps >= 1, "--steps must be at least 1"),
        (min(t.log_every, t.sample_every, t.checkpoint_every) >= 1, "logging intervals must be positive"),
        (t.max_minutes is None or t.max_minutes > 0, "--max-minutes must be positive"),
        (t.nan_retries >= 0, "--nan-retries must be at least 0"),
        # Eager replicas run in threads whose collective ops (gradient sums, synchronised batch
        # norm) do not pair up in order.
        (not t.eager or t.strategy == "default", f"--eager runs on one device: use --strategy default, "
                                                 f"not {t.strategy}"),
    ])
    config.algorithm.validate(config)


def to_dict(config: RunConfig) -> dict:
    sections = {section: dataclasses.asdict(getattr(config, section)) for section in SECTIONS}
    return {**sections, config.train.algo: dataclasses.asdict(config.algorithm)}


def to_json(config: RunConfig) -> str:
    return json.dumps(to_dict(config), indent=2, sort_keys=True)


def _typed(cls, where: str, values: dict) -> dict:
    """``values`` for dataclass ``cls``, each checked against its field's type and choices
    (ints are taken as floats); ValueError naming ``where.key``."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    checked = {}
    for key, value in values.items():
        kind, optional = _base_type(hints[key]), type(None) in typing.get_args(hints[key])
        ok = ((value is None and optional)
              or (kind is float and isinstance(value, (int, float)) and not isinstance(value, bool))
              or (kind is int and isinstance(value, int) and not isinstance(value, bool))
              or (kind is not float and kind is not int and isinstance(value, kind)))
        if not ok:
            raise ValueError(f"'{where}.{key}' must be {'null or ' if optional else ''}{kind.__name__}, "
                             f"not {json.dumps(value)}")
        choices = fields[key].metadata.get("choices")
        if choices and value not in choices:
            raise ValueError(f"'{where}.{key}' must be one of {', '.join(map(str, choices))}, "
                             f"not {json.dumps(value)}")
        checked[key] = float(value) if kind is float and value is not None else value
    return checked


def _absent_values(cls, values: dict) -> dict:
    """``values`` completed with the ``absent`` value of each field of ``cls`` they lack (see
    :func:`setting`)."""
    return {**{f.name: f.metadata["absent"] for f in dataclasses.fields(cls) if "absent" in f.metadata}, **values}


def from_dict(data: dict) -> RunConfig:
    """Inverse of :func:`to_dict`. Also reads the flat format of earlier versions: a setting of
    the run's algorithm found in a common section moves to the algorithm's section, and the
    settings of other algorithms there (that format held every algorithm's) are dropped. A
    field the data lacks takes its ``absent`` value (see :func:`setting`) where it has one,
    otherwise its default. Unknown sections and keys, and values of the wrong type, are
    ValueErrors naming them."""
    if not isinstance(data, dict):
        raise ValueError("a configuration is a JSON object with the sections "
                         f"{', '.join(SECTIONS)} and one named after the algorithm")
    for section, values in data.items():
        if not isinstance(values, dict):
            raise ValueError(f"section '{section}' must be a JSON object, not {json.dumps(values)}")
    algo = data.get("train", {}).get("algo") or default_algorithm()
    if not isinstance(algo, str):
        raise ValueError(f"'train.algo' must be str, not {json.dumps(algo)}")
    algo_cls = settings_class(algo)
    unknown_sections = set(data) - set(SECTIONS) - set(_ALGORITHMS)
    if unknown_sections:
        raise ValueError(f"unknown section '{sorted(unknown_sections)[0]}'; the sections are "
                         f"{', '.join(SECTIONS)} and the algorithm's ({algo})")
    algo_values = dict(data.get(algo, {}))
    other_settings = set().union(*(_names(cls) for cls in _ALGORITHMS.values()))
    sections = {}
    for section, cls in SECTIONS.items():
        values = {}
        for key, value in data.get(section, {}).items():
            if key in _names(cls):
                values[key] = value
            elif key in _names(algo_cls):
                algo_values.setdefault(key, value)
            elif key not in other_settings:
                raise ValueError(f"unknown key '{section}.{key}'")
        sections[section] = cls(**_typed(cls, section, _absent_values(cls, values)))
    extra = sorted(set(algo_values) - _names(algo_cls))
    if extra:
        raise ValueError(f"unknown key '{algo}.{extra[0]}': --algo {algo} has no such setting")
    return RunConfig(**sections, algorithm=algo_cls(**_typed(algo_cls, algo, _absent_values(algo_cls, algo_values))))


def load(path) -> RunConfig:
    """The configuration in a JSON file (a run's ``config.json``, new or old format);
    ValueError naming the file and what is wrong in it."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ValueError(f"cannot read the configuration {path}: {e.strerror or e}") from None
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
    try:
        return from_dict(data)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path}: {e}") from None
