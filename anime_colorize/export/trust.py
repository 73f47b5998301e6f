"""Whether a SavedModel may be loaded without ``--unsafe``: an allowlist of its graph's ops.

A SavedModel is a program: loading one registers its functions, and calling any of them (the
``metadata`` signature is called first thing) runs whatever ops they hold, ``WriteFile``,
``ReadFile`` or a Python callback included. So before TensorFlow sees the folder, its
``saved_model.pb`` is parsed as a plain protobuf (nothing runs) and every op of the graph and
of every function in its library is checked against :data:`ALLOWED_OPS`: the maths, array,
convolution, resize and variable ops that the generators of :mod:`anime_colorize.models` are
made of, and nothing that touches files, processes, the network or Python.

Two exceptions, both for what ``tf.saved_model.save`` itself writes:

* the checkpoint functions that the graph's ``saver_def`` names (``SaveV2``, ``RestoreV2``
  and their string plumbing, :data:`CHECKPOINT_OPS`). TensorFlow 2's loader never runs them:
  it restores the variables with its own reader. They are allowed these ops only if no other
  function or node calls them.
* nothing else: a SavedModel without TensorFlow 2's object graph (a TensorFlow 1 export, or
  one with several meta graphs) is refused outright, because TensorFlow loads those by running
  the graph's restore and initialiser ops.

Functions called by name (``PartitionedCall``, ``If`` ...) are followed; a call to a name that
is not a function of the library is TensorFlow calling the op of that name, so it is checked
as an op.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

SAVED_MODEL_PB = "saved_model.pb"

# Grouped by what they do. Every op in our own exported U-Net (all norms, gray and line art,
# with and without hints) and ResNet generators is here (tests/test_export.py checks it), plus
# close relatives a future architecture is likely to need. None reads or writes anything but
# tensors and the model's own variables.
ALLOWED_OPS = frozenset({
    # graph plumbing and the model's own variables
    "Const", "Identity", "IdentityN", "NoOp", "Placeholder", "PlaceholderWithDefault",
    "StopGradient", "PartitionedCall", "StatefulPartitionedCall",
    "VarHandleOp", "ReadVariableOp", "AssignVariableOp", "VarIsInitializedOp",
    # element-wise maths
    "Abs", "Add", "AddV2", "Sub", "Mul", "Div", "RealDiv", "DivNoNan", "FloorDiv", "FloorMod",
    "Neg", "Reciprocal", "Square", "SquaredDifference", "Sqrt", "Rsqrt", "Exp", "Log", "Log1p",
    "Pow", "Maximum", "Minimum", "ClipByValue", "Floor", "Ceil", "Round", "Sign", "Erf",
    "Cast", "Select", "SelectV2", "Less", "LessEqual", "Greater", "GreaterEqual", "Equal",
    "NotEqual", "LogicalAnd", "LogicalOr", "LogicalNot", "IsFinite",
    # activations
    "Relu", "Relu6", "LeakyRelu", "Elu", "Selu", "Sigmoid", "Tanh", "Softplus", "Softsign",
    "Softmax", "LogSoftmax",
    # reductions and linear algebra (segment sums: the region pooling of models.region_pooling)
    "Mean", "Sum", "Max", "Min", "Prod", "ArgMax", "ArgMin", "Cumsum", "UnsortedSegmentSum",
    "MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum",
    # convolution, pooling, normalisation
    "Conv2D", "Conv2DBackpropInput", "DepthwiseConv2dNative", "BiasAdd", "AvgPool", "MaxPool",
    "FusedBatchNorm", "FusedBatchNormV3",
    # shapes and layout
    "Shape", "ShapeN", "Size", "Rank", "Reshape", "Squeeze", "ExpandDims", "ConcatV2", "Pack",
    "Unpack", "StridedSlice", "Slice", "Split", "SplitV", "Tile", "BroadcastTo", "BroadcastArgs",
    "Transpose", "Pad", "PadV2", "MirrorPad", "Fill", "ZerosLike", "OnesLike", "Range",
    "GatherV2", "OneHot", "DepthToSpace", "SpaceToDepth",
    # resizing
    "ResizeBilinear", "ResizeNearestNeighbor", "ResizeBicubic", "ResizeArea",
})

# What the checkpoint functions that tf.saved_model.save writes are made of (see above).
CHECKPOINT_OPS = frozenset({"SaveV2", "RestoreV2", "MergeV2Checkpoints", "ShardedFilename",
                            "StringJoin", "StaticRegexFullMatch", "DisableCopyOnRead"})


class UntrustedModelError(ValueError):
    """A SavedModel that holds ops outside the allowlist (or cannot be checked)."""


def read_saved_model(folder) -> saved_model_pb2.SavedModel:
    """Parses ``folder/saved_model.pb`` (the file TensorFlow reads first) without running
    anything. Raises UntrustedModelError if it is missing or not a SavedModel protobuf."""
    path = Path(folder) / SAVED_MODEL_PB
    proto = saved_model_pb2.SavedModel()
    try:
        proto.ParseFromString(path.read_bytes())
    except OSError as e:
        raise UntrustedModelError(f"{path} could not be read: {e.strerror or e}") from e
    except Exception as e:  # protobuf's DecodeError; the type moved between protobuf releases
        raise UntrustedModelError(f"{path} is damaged or not a SavedModel: {e}") from e
    return proto


def _called_names(attrs) -> Iterator[str]:
    """The functions (or ops) that a node's attributes call by name, nested calls included."""
    for value in attrs.values():
        kind = value.WhichOneof("value")
        if kind == "func":
            yield value.func.name
            yield from _called_names(value.func.attr)
        elif kind == "list":
            for func in value.list.func:
                yield func.name
                yield from _called_names(func.attr)


def _closure(start: Iterable[str], calls: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(calls.get(name, ()))
    return seen


def is_tensorflow2(saved_model: saved_model_pb2.SavedModel) -> bool:
    """True when TensorFlow 2's loader reads it (one meta graph with an object graph); others
    are loaded by running their graph's restore and initialiser ops."""
    return len(saved_model.meta_graphs) == 1 and saved_model.meta_graphs[0].HasField("object_graph_def")


def untrusted_ops(meta_graph: meta_graph_pb2.MetaGraphDef) -> dict[str, list[str]]:
    """The ops of a TensorFlow 2 SavedModel's meta graph that are not allowed, each with the
    places it occurs (``"graph"`` or function names), sorted; empty when it may be loaded."""
    functions = {f.signature.name: f for f in meta_graph.graph_def.library.function}
    calls = {name: {called for node in f.node_def for called in _called_names(node.attr)}
             for name, f in functions.items()}

    saver = meta_graph.saver_def
    saver_nodes = {saver.save_tensor_name.split(":")[0], saver.restore_op_name.lstrip("^").split(":")[0]} - {""}
    graph_calls = {node.name: set(_called_names(node.attr)) for node in meta_graph.graph_def.node}
    saver_closure = _closure((c for n in saver_nodes for c in graph_calls.get(n, ())), calls)
    other_roots = [c for n, called in graph_calls.items() if n not in saver_nodes for c in called]
    other_roots += [name for name in functions if name not in saver_closure]
    checkpoint_only = saver_closure - _closure(other_roots, calls)

    found: dict[str, set[str]] = {}

    def check(op: str, where: str, allowed: frozenset) -> None:
        if op not in allowed:
            found.setdefault(op, set()).add(where)

    for node in meta_graph.graph_def.node:
        check(node.op, "graph", ALLOWED_OPS)
        for called in graph_calls[node.name]:
            if called not in functions:  # a call to an op by its name
                check(called, "graph", ALLOWED_OPS)
    for name, function in functions.items():
        allowed = ALLOWED_OPS | CHECKPOINT_OPS if name in checkpoint_only else ALLOWED_OPS
        for node in function.node_def:
            check(node.op, name, allowed)
        for called in calls[name]:
            if called not in functions:
                check(called, name, allowed)
    return {op: sorted(places) for op, places in sorted(found.items())}


def check_saved_model(folder) -> saved_model_pb2.SavedModel:
    """The SavedModel protobuf of ``folder`` once every op of it is allowed; else raises
    UntrustedModelError (one line, naming the ops and ``--unsafe``). Runs nothing from it."""
    saved_model = read_saved_model(folder)
    if not is_tensorflow2(saved_model):
        raise UntrustedModelError(
            f"{folder} was not loaded: it is a TensorFlow 1 SavedModel (or holds several meta graphs), "
            f"which TensorFlow loads by running its graph. Load it with --unsafe only if you trust its source")
    found = untrusted_ops(saved_model.meta_graphs[0])
    if found:
        ops = ", ".join(f"{op} (in {', '.join(_short(p) for p in places[:3])})" for op, places in found.items())
        raise UntrustedModelError(
            f"{folder} was not loaded: its graph holds operations outside the safe list, which could "
            f"read or write files or run code: {ops}. Load it with --unsafe only if you trust its source")
    return saved_model


def _short(function_name: str) -> str:
    """``__inference_metadata_1544`` -> ``metadata``: the name the exporter gave."""
    name = function_name.removeprefix("__inference_")
    head, _, tail = name.rpartition("_")
    return head if tail.isdigit() and head else name

