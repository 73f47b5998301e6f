"""Loading generators, whatever the format: a ``.keras`` file, a SavedModel folder, or a run
folder holding one of them.

Both formats can carry code: a ``.keras`` file lambdas (Keras' ``safe_mode`` refuses them), a
SavedModel any TensorFlow op (:mod:`anime_colorize.export.trust` checks its graph before
TensorFlow loads it). ``safe_mode=False`` (the commands' ``--unsafe``) skips both checks.
"""
from __future__ import annotations

import json
import logging
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import keras
import tensorflow as tf

from anime_colorize.array_types import PathLike, TensorLike
from anime_colorize.data import hints as hints_lib
from anime_colorize.export import trust
from anime_colorize.export import KERAS_NAME, SAVED_MODEL_NAME
from anime_colorize.export.saving import GENERATOR_TYPES, Generator
from anime_colorize.models import takes_regions

log = logging.getLogger(__name__)


class LoadedGenerator:
    """A generator loaded from disk, whatever the format.

    Call it with the normalised input ``l`` (B, H, W, 1) (lightness, or line art for a
    line-art model), ``z`` (B, z_dim), H and W multiples of ``stride``, and optionally
    ``hints`` ({"hint_ab", "hint_mask", "hint_hist"}, any subset; batch 1 or B); it returns
    ab (B, H, W, 2), or Lab (B, H, W, 3) for line art, in [-1, 1] as a tf.Tensor. A hint
    model called without hints gets "none given" (zeros). A model that takes region labels
    (``takes_regions``) needs ``regions`` int32 (B, H, W) (see
    :func:`anime_colorize.sampling.working_regions`); called without, it gets -1 ("no region").

    ``mixed_precision`` says whether the network computes in float16/bfloat16 (a SavedModel
    exported from a mixed-precision run); a model loaded from ``.keras`` computes in float32.
    """

    def __init__(self, fn: Callable[[dict], tf.Tensor], metadata: dict, path: PathLike,
                 mixed_precision: bool = False, takes_regions: bool = False) -> None:
        self._fn = fn  # {"l", "z"[, hint_*][, "regions"]} -> colours
        self.metadata = metadata
        self.path = str(path)
        self.z_dim = int(metadata["z_dim"])
        self.stride = int(metadata["stride"])
        self.working_size = int(metadata["working_size"])
        self.input_kind = metadata["input_kind"]
        self.hint_kinds = tuple(metadata.get("hint_kinds", ()))
        self.mixed_precision = mixed_precision
        self.takes_regions = takes_regions

    @classmethod
    def from_model(cls, model: Generator, path: PathLike, jit_compile: bool = False) -> "LoadedGenerator":
        """Wraps an in-memory generator (inference mode, one traced function)."""
        infer = tf.function(lambda inputs: model(inputs, training=False), reduce_retracing=True,
                            jit_compile=jit_compile)
        mixed = any(layer.dtype_policy.compute_dtype != "float32" for layer in model.layers)
        return cls(infer, model.metadata, path, mixed_precision=mixed, takes_regions=takes_regions(model))

    def __call__(self, l: TensorLike, z: TensorLike, hints: dict | None = None,
                 regions: TensorLike | None = None) -> tf.Tensor:
        l = tf.convert_to_tensor(l, tf.float32)
        inputs = {"l": l, "z": tf.convert_to_tensor(z, tf.float32)}
        if hints and not self.hint_kinds:
            raise ValueError(f"{self.path} was trained without colour hints; it cannot take {sorted(hints)}")
        if self.hint_kinds:
            shape = tf.shape(l)
            full = hints_lib.empty_hints(shape[0], shape[1], shape[2])
            for key, value in (hints or {}).items():
                if key not in full:
                    raise ValueError(f"unknown hint input {key!r}; expected {sorted(full)}")
                value = tf.convert_to_tensor(value, tf.float32)
                full[key] = tf.broadcast_to(value, tf.shape(full[key]))
            inputs.update(full)
        if self.takes_regions:
            inputs["regions"] = (tf.fill(tf.shape(l)[:3], -1) if regions is None
                                 else tf.convert_to_tensor(regions, tf.int32))
        elif regions is not None:
            raise ValueError(f"{self.path} takes no region labels")
        return self._fn(inputs)


def is_saved_model(path: Path) -> bool:
    return path.is_dir() and (path / trust.SAVED_MODEL_PB).exists()


def resolve_model_path(path: PathLike) -> Path:
    """The file or folder that holds the model at ``path``: ``path`` itself, or a run folder's
    ``generator.keras``, else its ``saved_model/`` (said in a log line, since it is not the
    file the user named). Raises FileNotFoundError / ValueError naming the path."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model not found: {path}")
    if path.is_dir() and not is_saved_model(path):
        if (path / KERAS_NAME).is_file():
            return path / KERAS_NAME
        if is_saved_model(path / SAVED_MODEL_NAME):
            log.info("%s has no %s: loading the SavedModel %s", path, KERAS_NAME, path / SAVED_MODEL_NAME)
            return path / SAVED_MODEL_NAME
        raise ValueError(f"{path} is neither a SavedModel folder nor a run folder with {KERAS_NAME} "
                         f"or {SAVED_MODEL_NAME}/")
    if path.is_file() and path.suffix != ".keras":
        raise ValueError(f"{path}: expected a .keras file or a SavedModel folder")
    return path


def _check_keras_archive(path: Path) -> None:
    """A .keras file is a zip archive; Keras reports a damaged one as "File not found", so
    the archive is checked here first (its central directory, then every member's CRC)."""
    damaged = f"{path} could not be loaded: the file is damaged or truncated"
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{damaged} (not a complete .keras zip archive)")
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as e:
        raise ValueError(f"{damaged} ({e})") from e
    if bad is not None:
        raise ValueError(f"{damaged} ({bad} inside it fails its checksum)")


def load_keras_generator(path: PathLike, safe_mode: bool = True) -> Generator:
    """The Keras generator in the ``.keras`` file at ``path`` (float32, for inference or
    re-export). Raises ValueError naming the file when it is damaged or holds another model."""
    path = Path(path)
    _check_keras_archive(path)
    try:
        model = keras.saving.load_model(path, safe_mode=safe_mode)
    except Exception as e:  # keras raises many types for a bad file; all mean the same here
        raise ValueError(f"{path} could not be loaded as a Keras model: {e}") from e
    if not isinstance(model, GENERATOR_TYPES):
        raise ValueError(f"{path} holds a {type(model).__name__}, not an anime_colorize generator")
    return model


def _load_saved_model(path: Path, safe_mode: bool) -> LoadedGenerator:
    # checked before TensorFlow loads (and so may run) anything
    proto = trust.check_saved_model(path) if safe_mode else trust.read_saved_model(path)
    try:
        loaded = tf.saved_model.load(str(path))
        serve = loaded.signatures["serving_default"]
        metadata = json.loads(loaded.signatures["metadata"]()["metadata"].numpy().decode())
    except (KeyError, ValueError, OSError, tf.errors.OpError) as e:
        raise ValueError(f"{path} is not an anime_colorize SavedModel: {e}") from e
    output = metadata.get("output", "ab")
    return LoadedGenerator(lambda inputs: serve(**inputs)[output], metadata, path,
                           mixed_precision=_computes_in_half_precision(proto),
                           takes_regions="regions" in serve.structured_input_signature[1])


def _computes_in_half_precision(saved_model) -> bool:
    """Whether any function of the SavedModel protobuf casts to float16 or bfloat16 (a
    generator exported from a mixed-precision run)."""
    half = {tf.float16.as_datatype_enum, tf.bfloat16.as_datatype_enum}
    return any(node.op == "Cast" and node.attr["DstT"].type in half
               for meta_graph in saved_model.meta_graphs
               for function in meta_graph.graph_def.library.function for node in function.node_def)


def load_generator(path: PathLike, safe_mode: bool = True) -> LoadedGenerator:
    """Loads ``generator.keras`` or a ``saved_model`` folder (or a run folder holding one).

    ``safe_mode`` keeps Keras from running code stored in a ``.keras`` file (lambdas) and
    refuses a SavedModel whose graph holds ops outside :data:`trust.ALLOWED_OPS` (files,
    processes, Python), before any of its functions runs. Turn it off only for files you
    trust. Raises FileNotFoundError / ValueError (one line, naming the path).
    """
    path = resolve_model_path(path)
    if path.is_dir():
        return _load_saved_model(path, safe_mode)
    return LoadedGenerator.from_model(load_keras_generator(path, safe_mode), path)
