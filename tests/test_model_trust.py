"""Model trust: a SavedModel loads without --unsafe only if every op of its graph is allowed,
checked before any of its functions runs."""
import json

import pytest
import tensorflow as tf

from anime_colorize import export
from anime_colorize.export import trust
from anime_colorize.models import UNetGenerator
from anime_colorize.models.resnet import ResNetGenerator

METADATA = {"input_kind": "gray", "working_size": 32, "z_dim": 4, "hint_kinds": [], "stride": 4,
            "output": "ab", "architecture": "unet"}


def save_module(path, metadata_fn):
    """A SavedModel with our two signatures; ``metadata_fn()`` builds its metadata string."""

    class Module(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec((None, None, None, 1), tf.float32, name="l"),
                                      tf.TensorSpec((None, 4), tf.float32, name="z")])
        def serve(self, l, z):
            return {"ab": tf.concat([l, l], axis=-1) * 0.0}

        @tf.function(input_signature=[])
        def metadata(self):
            return {"metadata": metadata_fn()}

    module = Module()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve, "metadata": module.metadata})
    return path


def test_a_saved_model_that_writes_a_file_is_refused_before_it_runs(tmp_path):
    target = tmp_path / "written_by_the_model.txt"

    def write_then_describe():
        with tf.control_dependencies([tf.io.write_file(str(target), "owned")]):
            return tf.constant(json.dumps(METADATA))

    model = save_module(tmp_path / "writer", write_then_describe)
    with pytest.raises(ValueError, match=r"WriteFile \(in metadata\).*--unsafe") as refusal:
        export.load_generator(model)
    assert "\n" not in str(refusal.value)  # the commands print the first line only
    assert not target.exists()
    # the same model with --unsafe does write: the check is what stopped it
    assert export.load_generator(model, safe_mode=False).z_dim == 4
    assert target.read_text() == "owned"


def test_a_saved_model_that_reads_a_file_is_refused(tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps(METADATA))
    model = save_module(tmp_path / "reader", lambda: tf.io.read_file(str(secret)))
    with pytest.raises(ValueError, match=r"ReadFile \(in metadata\).*--unsafe"):
        export.load_generator(model)
    assert export.load_generator(model, safe_mode=False).metadata == METADATA  # it did read the file


def test_a_saved_model_with_python_code_is_refused(tmp_path):
    model = save_module(tmp_path / "python", lambda: tf.py_function(lambda: json.dumps(METADATA), [], tf.string))
    with pytest.raises(ValueError, match="EagerPyFunc"):
        export.load_generator(model)


@pytest.mark.parametrize("make", [
    lambda: UNetGenerator(z_dim=4, depth=2, filters=8, norm="batch"),
    lambda: UNetGenerator(z_dim=4, depth=2, filters=8, norm="group", input_kind="lineart", hint_kinds=("points",)),
    lambda: UNetGenerator(z_dim=4, depth=2, filters=8, norm="instance", hint_kinds=("points",)),
    lambda: ResNetGenerator(z_dim=4, blocks=1, filters=8),
], ids=["unet-batch", "unet-group-lineart-hints", "unet-instance-hints", "resnet"])
def test_our_own_exports_pass_the_check_and_load(make, tmp_path):
    path = export.save_saved_model(make(), tmp_path / "saved_model")
    assert trust.untrusted_ops(trust.read_saved_model(path).meta_graphs[0]) == {}
    assert export.load_generator(path).z_dim == 4


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    path = export.save_saved_model(UNetGenerator(z_dim=4, depth=2, filters=8), tmp_path_factory.mktemp("m") / "sm")
    return trust.read_saved_model(path)


def edited(clean, edit):
    proto = type(clean)()
    proto.CopyFrom(clean)
    edit(proto.meta_graphs[0])
    return proto


def function_named(meta_graph, part):
    (found,) = [f for f in meta_graph.graph_def.library.function
                if part in f.signature.name and "signature_wrapper" not in f.signature.name]
    return found


def test_an_op_called_as_a_function_is_checked_as_an_op(clean):
    def call_write_file(meta_graph):
        node = function_named(meta_graph, "metadata").node_def.add(name="call", op="StatefulPartitionedCall")
        node.attr["f"].func.name = "WriteFile"

    metadata_function = function_named(clean.meta_graphs[0], "metadata").signature.name
    assert trust.untrusted_ops(edited(clean, call_write_file).meta_graphs[0]) == {"WriteFile": [metadata_function]}


def test_checkpoint_ops_are_allowed_only_in_the_savers_own_functions(clean):
    assert trust.untrusted_ops(clean.meta_graphs[0]) == {}  # SaveV2 / RestoreV2 in _traced_save / _restore

    def save_from_serve(meta_graph):
        function_named(meta_graph, "serve").node_def.add(name="save", op="SaveV2")

    assert list(trust.untrusted_ops(edited(clean, save_from_serve).meta_graphs[0])) == ["SaveV2"]

    def call_the_saver_from_metadata(meta_graph):
        node = function_named(meta_graph, "metadata").node_def.add(name="call", op="StatefulPartitionedCall")
        node.attr["f"].func.name = function_named(meta_graph, "_traced_save").signature.name

    found = trust.untrusted_ops(edited(clean, call_the_saver_from_metadata).meta_graphs[0])
    assert {"SaveV2", "MergeV2Checkpoints"} <= set(found)


def test_a_tensorflow_1_saved_model_is_refused(clean, tmp_path):
    proto = edited(clean, lambda meta_graph: meta_graph.ClearField("object_graph_def"))
    (tmp_path / "saved_model.pb").write_bytes(proto.SerializeToString())
    with pytest.raises(trust.UntrustedModelError, match="TensorFlow 1 SavedModel.*--unsafe"):
        trust.check_saved_model(tmp_path)


def test_a_damaged_saved_model_pb_is_reported(tmp_path):
    (tmp_path / "saved_model.pb").write_bytes(b"\xff\xff\xff not a protobuf")
    with pytest.raises(ValueError, match="saved_model.pb is damaged or not a SavedModel"):
        export.load_generator(tmp_path)
