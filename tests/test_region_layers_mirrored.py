"""RegionPooling and HintFill under a MirroredStrategy on two logical CPU devices (in a fresh
process, as tests/test_distribute.py explains) give what one device gives on the whole batch:
regions and hints are per image, so splitting the batch must not change them."""
from test_distribute import run_python


def test_region_layers_on_two_replicas_equal_one_device():
    result = run_python("""
        from anime_colorize.models.hint_fill import HintFill
        from anime_colorize.models.region_pooling import RegionPooling
        rng = np.random.default_rng(0)
        features = rng.standard_normal((4, 8, 8, 3)).astype("float32")
        labels = rng.integers(0, 5, (4, 16, 16)).astype("int32")
        hint = np.zeros((4, 16, 16, 3), "float32")
        hint[np.arange(4), [1, 5, 9, 13], [2, 6, 10, 14]] = [0.5, -0.5, 1.0]

        def step(pool, fill, x, regions, hint):
            with tf.GradientTape() as tape:
                tape.watch(x)
                pooled = pool([x, regions])
                loss = tf.reduce_sum(tf.square(pooled))
            return pooled, tape.gradient(loss, [x, pool.gate]), fill(hint)

        single = step(RegionPooling(8, mode="gate"), HintFill(levels=2), tf.constant(features),
                      tf.constant(labels), tf.constant(hint))
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            pool, fill = RegionPooling(8, mode="gate"), HintFill(levels=2)
        data = tf.data.Dataset.from_tensors((features, labels, hint))
        inputs = next(iter(strategy.experimental_distribute_dataset(data)))
        replicas = strategy.run(tf.function(lambda *a: step(pool, fill, *a)), args=inputs)
        local = strategy.experimental_local_results
        pooled = np.concatenate([v.numpy() for v in local(replicas[0])])
        x_grad = np.concatenate([v.numpy() for v in local(replicas[1][0])])
        gate_grad = sum(v.numpy() for v in local(replicas[1][1]))
        filled = np.concatenate([v.numpy() for v in local(replicas[2])])
        print(json.dumps({
            "replicas": strategy.num_replicas_in_sync,
            "pooled": float(np.abs(pooled - single[0].numpy()).max()),
            "x_grad": float(np.abs(x_grad - single[1][0].numpy()).max()),
            "gate_grad": float(np.abs(gate_grad - single[1][1].numpy()).max()),
            "gate_grad_size": float(np.abs(single[1][1].numpy()).max()),
            "filled": float(np.abs(filled - single[2].numpy()).max()),
            "filled_size": float(np.abs(filled).max())}))
    """)
    assert result["replicas"] == 2
    assert result["pooled"] < 1e-5 and result["x_grad"] < 1e-5 and result["filled"] < 1e-6
    assert result["gate_grad"] < 1e-4 * max(1.0, result["gate_grad_size"]) and result["gate_grad_size"] > 0
    assert result["filled_size"] == 1.0
