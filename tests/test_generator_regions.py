"""The U-Net with region pooling and the dense hint fill (issue #14): inputs, serialisation,
mixed precision, export, old files, and what the pooling buys in a short run."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import anime_colorize.trainers  # noqa: F401  (registers the algorithms the configurations name)
from anime_colorize import config as config_lib
from anime_colorize.export import LoadedGenerator, export_generator, load_generator
from anime_colorize.export.saving import NO_REGIONS_SIGNATURE
from anime_colorize.models import UNetGenerator, build_generator, takes_regions

HINTS = ("points",)


def region_unet(**options):
    settings = dict(z_dim=4, depth=2, filters=8, input_kind="lineart", hint_kinds=HINTS, region_pooling=True,
                    hint_fill=True, working_size=32)
    return UNetGenerator(**{**settings, **options})


def feed(batch=2, size=32, seed=0, hints=True):
    """Inputs with blocky region labels (4 x 4 areas of 8 x 8 pixels) and one point hint."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 6, (batch, size // 8, size // 8))
    x = {"l": rng.uniform(-1, 1, (batch, size, size, 1)).astype("float32"),
         "z": rng.standard_normal((batch, 4)).astype("float32"),
         "regions": np.repeat(np.repeat(blocks, 8, axis=1), 8, axis=2).astype("int32")}
    if hints:
        hint_ab, hint_mask = np.zeros((batch, size, size, 2), "float32"), np.zeros((batch, size, size, 1), "float32")
        hint_ab[:, 5, 7], hint_mask[:, 5, 7] = [0.5, -0.3], 1.0
        x.update(hint_ab=hint_ab, hint_mask=hint_mask, hint_hist=np.zeros((batch, 512), "float32"))
    return x


def test_the_factory_gives_line_art_models_regions_and_hint_models_the_fill():
    lineart = build_generator(config_lib.ModelConfig(input="lineart", hints="points", depth=2, filters=8), 32)
    assert takes_regions(lineart) and lineart.region_pooling and lineart.hint_fill
    assert lineart.metadata["takes_regions"] is True
    assert any(layer.name == "hint_fill" for layer in lineart.layers)
    assert sum(layer.name.endswith("_regions") for layer in lineart.layers) == 2  # half-size level + head
    gray = build_generator(config_lib.ModelConfig(depth=2, filters=8), 32)
    assert not takes_regions(gray) and not gray.hint_fill and gray.metadata["takes_regions"] is False
    off = build_generator(config_lib.ModelConfig(input="lineart", region_pooling=False, hint_fill=False,
                                                 hints="points", depth=2, filters=8), 32)
    assert not takes_regions(off) and not any(layer.name == "hint_fill" for layer in off.layers)


def test_the_labels_and_the_hint_fill_change_the_colours():
    g = region_unet()
    x = feed()
    base = np.asarray(g(x))
    other = dict(x, regions=np.where(x["regions"] == 0, 1, x["regions"]).astype("int32"))
    assert np.abs(np.asarray(g(other)) - base).max() > 1e-4
    # a hint far from everything reaches the whole picture through the fill (not only its cell)
    moved = dict(x, hint_ab=np.roll(x["hint_ab"], 16, axis=2), hint_mask=np.roll(x["hint_mask"], 16, axis=2))
    assert np.abs(np.asarray(g(moved)) - base).max() > 1e-4


@pytest.mark.parametrize("options", [{}, {"z_entry": "decoder", "convs_per_level": 1, "full_resolution": "light"}])
def test_z_may_hold_several_noise_vectors_per_image_with_regions(options):
    g = region_unet(**options)
    x = feed()
    z = np.random.default_rng(1).standard_normal((4, 4)).astype("float32")
    doubled = {k: np.concatenate([v, v]) for k, v in x.items() if k != "z"}
    both = np.asarray(g({**x, "z": z}))
    np.testing.assert_allclose(both, np.asarray(g({**doubled, "z": z})), atol=1e-5)
    np.testing.assert_allclose(both[2:], np.asarray(g({**x, "z": z[2:]})), atol=1e-5)


def test_a_region_model_round_trips_in_safe_mode_and_old_files_have_no_regions(tmp_path):
    g = region_unet()
    g.save(tmp_path / "g.keras")
    loaded = keras.saving.load_model(tmp_path / "g.keras", safe_mode=True)
    assert loaded.get_config() == g.get_config() and takes_regions(loaded)
    np.testing.assert_allclose(np.asarray(loaded(feed())), np.asarray(g(feed())), atol=1e-6)
    old = {k: v for k, v in g.get_config().items() if k not in ("region_pooling", "max_regions", "hint_fill")}
    before = UNetGenerator.from_config(old)  # a .keras file written before these options
    assert not takes_regions(before) and not before.hint_fill


def test_old_config_files_resolve_to_no_pooling_and_no_fill(tiny_config):
    data = config_lib.to_dict(tiny_config(input="lineart", hints="points"))
    assert data["model"]["region_pooling"] is None and data["model"]["hint_fill"] is True
    again = config_lib.from_dict(json.loads(json.dumps(data)))
    assert again.model.uses_regions and again.model.hint_fill
    for key in ("region_pooling", "hint_fill"):
        del data["model"][key]
    old = config_lib.from_dict(data)
    assert old.model.region_pooling is False and not old.model.uses_regions and old.model.hint_fill is False


def test_mixed_precision_forward_and_gradients():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        g = region_unet()
        x = feed()
        with tf.GradientTape() as tape:
            out = g(x, training=True)
            loss = tf.reduce_mean(tf.abs(out))
        grads = tape.gradient(loss, g.trainable_variables)
    finally:
        keras.config.set_dtype_policy(previous)
    assert out.dtype == tf.float32 and np.isfinite(out.numpy()).all()
    assert all(gr is not None and np.isfinite(gr.numpy()).all() for gr in grads)
    pooling = g.get_layer("head_regions")
    assert pooling.compute_dtype == "bfloat16"


def test_a_compiled_step_does_not_retrace_for_new_sizes_or_batches():
    g = region_unet(hint_kinds=(), hint_fill=False)
    traces = []

    @tf.function(reduce_retracing=True)
    def run(inputs):
        traces.append(1)
        return g(inputs, training=False)

    for batch, size in [(2, 32), (3, 48), (1, 64)]:
        x = feed(batch, size, hints=False)
        np.testing.assert_allclose(run(x).numpy(), np.asarray(g(x)), atol=1e-5)
    assert len(traces) <= 2  # the second call generalises the shapes


def test_the_saved_model_takes_regions_and_has_a_signature_without_them(tmp_path):
    g = region_unet()
    _, saved = export_generator(g, tmp_path / "export")
    loaded = tf.saved_model.load(str(saved))
    meta = json.loads(loaded.signatures["metadata"]()["metadata"].numpy())
    assert meta["takes_regions"] is True
    x = feed()
    serve = loaded.signatures["serving_default"]
    assert serve.structured_input_signature[1]["regions"].dtype == tf.int32
    out = serve(**{k: tf.constant(v) for k, v in x.items()})["lab"].numpy()
    np.testing.assert_allclose(out, np.asarray(g(x)), atol=1e-5)
    without = loaded.signatures[NO_REGIONS_SIGNATURE]
    assert "regions" not in without.structured_input_signature[1]
    got = without(**{k: tf.constant(v) for k, v in x.items() if k != "regions"})["lab"].numpy()
    no_region = dict(x, regions=np.full_like(x["regions"], -1))
    np.testing.assert_allclose(got, np.asarray(g(no_region)), atol=1e-5)
    # safe mode: every op is on the allowlist; the loader sees the regions input
    generator = load_generator(saved, safe_mode=True)
    assert generator.takes_regions
    np.testing.assert_allclose(generator(x["l"], x["z"], {k: x[k] for k in ("hint_ab", "hint_mask", "hint_hist")},
                                         regions=x["regions"]).numpy(), out, atol=1e-5)


def test_the_onnx_export_takes_regions(tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="the [onnx] extra is not installed")
    pytest.importorskip("tf2onnx", reason="the [onnx] extra is not installed")
    from anime_colorize.export.onnx_format import save_onnx

    g = region_unet()
    path = save_onnx(g, tmp_path / "g.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    regions_input = [i for i in session.get_inputs() if i.name == "regions"][0]
    assert regions_input.type == "tensor(int32)" and regions_input.shape == ["batch", "height", "width"]
    x = feed(seed=3)
    (got,) = session.run(["lab"], x)
    np.testing.assert_allclose(got, np.asarray(g(x)), atol=1e-4)


def test_inference_feeds_the_working_size_labels():
    from anime_colorize import sampling
    from anime_colorize.data.synthetic import make_cel_images

    g = region_unet(hint_kinds=(), hint_fill=False)
    loaded = LoadedGenerator.from_model(g, "(test)")
    picture = make_cel_images(1, 32, seed=6)[0].astype(np.float32) / 255.0
    model_input = sampling.prepare_input(picture, "lineart")
    z = np.zeros((1, 4), np.float32)
    colors = sampling.predict_working(loaded, [model_input], z)[0]
    regions = sampling.working_regions(tf.constant(model_input[None]), "lineart")
    direct = g({"l": model_input[None], "z": z, "regions": regions.numpy()}, training=False)
    np.testing.assert_allclose(colors, direct, atol=1e-5)


@pytest.mark.slow
def test_mirrored_on_two_devices_equals_one_device_for_a_region_model():
    from test_distribute import run_python

    results = run_python("""
        config = apply_overrides(RunConfig(), {**TINY, "algo": "dcgan", "input": "lineart", "hints": "points"})
        pictures = make_cel_images(4, 32, seed=3)
        from anime_colorize.data import lineart, pipeline
        lines = np.stack([lineart.extract_lines(p) for p in pictures])
        batch = rgb_batch_to_model_inputs(pictures, lines, "points", (0, 0), pipeline.batch_region_labels(pictures, lines))
        single = get_trainer("dcgan")(config)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        mirrored = get_trainer("dcgan")(config, strategy)
        assert "regions" in single.generator.input
        batches = iter(strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch).repeat()))
        losses = [(float(single.train_step(batch)["g_loss"]), float(mirrored.train_step(next(batches))["g_loss"]))
                  for _ in range(2)]
        diff = max(float(np.max(np.abs(a.numpy() - b.numpy())))
                   for a, b in zip(single.generator.weights, mirrored.generator.weights))
        print(json.dumps({"losses": losses, "max_weight_diff": diff}))
    """)
    for single, mirrored in results["losses"]:
        assert mirrored == pytest.approx(single, rel=1e-3, abs=1e-4)
    assert results["max_weight_diff"] < 1e-4
