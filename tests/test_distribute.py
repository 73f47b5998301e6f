"""Distributed training on this CPU: two logical devices, two local worker processes.

Each check runs in a fresh Python process, because logical devices and a multi-worker
runtime must be set up before TensorFlow runs its first op.
"""
import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

TINY = dict(size=32, batch_size=4, num_images=16, depth=2, filters=8, z_dim=4, log_every=1,
            sample_every=1000, checkpoint_every=1000)

PRELUDE = textwrap.dedent("""
    import json, os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from anime_colorize.config import RunConfig, apply_overrides
    from anime_colorize.trainers import get_trainer
    from anime_colorize.data.pipeline import rgb_batch_to_model_inputs
    from anime_colorize.data.synthetic import make_cel_images
    TINY = json.loads(sys.argv[1])
""")


def run_python(code, *args, timeout=300):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code), json.dumps(TINY), *args],
                            capture_output=True, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


# dcgan: synchronised batch norm across replicas. wgangp under two devices is also compared
# with one device by the resume test below, so its own comparison runs with the slow checks.
# "dcgan shared step": the generator runs once per step (z from the bottleneck on) and the
# discriminator judges its first colouring.
CHEAP = {"z_entry": "decoder", "convs_per_level": 1, "full_resolution": "light", "discriminator_pooling": 2}


@pytest.mark.parametrize("algo, options", [pytest.param("wgangp", {}, marks=pytest.mark.slow), ("dcgan", {}),
                                           pytest.param("dcgan", CHEAP, id="dcgan shared step")])
def test_mirrored_on_two_devices_equals_one_device_on_the_same_global_batch(algo, options):
    results = run_python("""
        algo = sys.argv[2]
        config = apply_overrides(RunConfig(), {**TINY, "algo": algo, **json.loads(sys.argv[3])})
        batch = rgb_batch_to_model_inputs(make_cel_images(4, 32, seed=3))
        single = get_trainer(algo)(config)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        mirrored = get_trainer(algo)(config, strategy)
        assert strategy.num_replicas_in_sync == 2
        split = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch).repeat())
        batches = iter(split)
        out = {"single": [], "mirrored": []}
        for _ in range(3):
            out["single"].append({k: float(v) for k, v in single.train_step(batch).items()})
            out["mirrored"].append({k: float(v) for k, v in mirrored.train_step(next(batches)).items()})
        diff = max(float(np.max(np.abs(a.numpy() - b.numpy())))
                   for a, b in zip(single.generator.weights, mirrored.generator.weights))
        out["max_weight_diff"] = diff
        print(json.dumps(out))
    """, algo, json.dumps(options))
    for single, mirrored in zip(results["single"], results["mirrored"]):
        assert single.keys() == mirrored.keys()
        for name in single:
            assert mirrored[name] == pytest.approx(single[name], rel=1e-3, abs=1e-4), (name, single, mirrored)
    assert results["max_weight_diff"] < 1e-4


def test_a_checkpoint_from_one_strategy_resumes_under_another(tmp_path, no_export):
    import shutil

    import tensorflow as tf

    from anime_colorize import training
    from anime_colorize.config import RunConfig, apply_overrides

    straight, stopped = tmp_path / "a", tmp_path / "b"
    training.fit(apply_overrides(RunConfig(), {**TINY, "steps": 4, "checkpoint_every": 1, "eager": True,
                                               "out": str(straight)}), progress=False)
    # The same run stopped after step 2, resumed under a two-device strategy (compiled steps).
    shutil.copytree(straight, stopped)
    for path in [*(stopped / "checkpoints").glob("ckpt-3.*"), *(stopped / "checkpoints").glob("ckpt-4.*")]:
        path.unlink()
    result = run_python("""
        from anime_colorize import training
        training.export.export_generator = lambda generator, folder: (None, None)  # compared by checkpoint
        training.plot_loss_curves = lambda metrics_path, png_path: None
        config = training.resolve_config({"out": sys.argv[2], "steps": 4, "strategy": "mirrored", "eager": False},
                                         resume=True)
        summary = training.fit(config, resume=True, progress=False)
        print(json.dumps({"start": summary["start_step"], "step": summary["step"]}))
    """, str(stopped))
    assert result["start"] == 2 and result["step"] == 4
    readers = [tf.train.load_checkpoint(str(run / "checkpoints" / "ckpt-4")) for run in (straight, stopped)]
    names = set(readers[0].get_variable_to_shape_map()) - {"_CHECKPOINTABLE_OBJECT_GRAPH",
                                                           "save_counter/.ATTRIBUTES/VARIABLE_VALUE"}
    assert names == set(readers[1].get_variable_to_shape_map()) - {"_CHECKPOINTABLE_OBJECT_GRAPH",
                                                                   "save_counter/.ATTRIBUTES/VARIABLE_VALUE"}
    for name in sorted(names):
        np.testing.assert_allclose(readers[1].get_tensor(name), readers[0].get_tensor(name), rtol=1e-4, atol=1e-5,
                                   err_msg=name)


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_local_worker_processes_train_and_write_one_checkpoint(tmp_path):
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    out = tmp_path / "run"
    scratch = tmp_path / "scratch"  # where the non-chief worker keeps its own saves
    scratch.mkdir()
    command = [sys.executable, "-m", "anime_colorize.train", "--strategy", "multiworker", "--out", str(out),
               "--steps", "3", "--quiet"] + [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]
    procs = []
    for index in range(2):
        tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        env = dict(os.environ, TF_CONFIG=tf_config, TF_CPP_MIN_LOG_LEVEL="3", TMPDIR=str(scratch))
        procs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (stdout, stderr) in zip(procs, outputs):
        assert p.returncode == 0, stderr[-3000:]
    assert "model:" in outputs[0][0]  # the chief reports the model it wrote
    assert "worker finished at step 3; the chief writes the run to" in outputs[1][0]
    assert not list(scratch.glob("anime_colorize_worker_*")), "the worker's scratch folder was left behind"
    checkpoints = sorted(p.name for p in (out / "checkpoints").glob("ckpt-*.index"))
    assert checkpoints[-1] == "ckpt-3.index"
    assert (out / "generator.keras").exists() and (out / "config.json").exists()
    assert json.loads((out / "config.json").read_text())["train"]["strategy"] == "multiworker"
