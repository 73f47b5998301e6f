"""tf.distribute strategies and mixed precision for the trainers.

``--strategy`` picks one of:
- ``default``: one device (the GPU if TensorFlow sees one, else the CPU);
- ``mirrored``: every local GPU (or the CPU, or logical CPU devices in tests), the batch
  split across them and gradients summed;
- ``multiworker``: ``MultiWorkerMirroredStrategy`` over the machines named in ``TF_CONFIG``
  (one process per machine, see the README). It must be created before TensorFlow runs any
  op, so :func:`make_strategy` is the first thing a run does.
All replicas see the same seeds and the trainers average losses over the global batch, so the
strategy changes the speed, not the result (up to floating-point order).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator

import keras
import tensorflow as tf

log = logging.getLogger(__name__)

STRATEGIES = ("default", "mirrored", "multiworker")


def make_strategy(name: str) -> tf.distribute.Strategy:
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy multiworker needs TF_CONFIG describing the cluster (see README)")
        try:
            json.loads(os.environ["TF_CONFIG"])
        except ValueError as e:
            raise ValueError(f"TF_CONFIG is not valid JSON: {e}") from None
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.AUTO)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    raise ValueError(f"unknown strategy '{name}'; choose one of {', '.join(STRATEGIES)}")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True for the one process that writes logs, previews and the run's checkpoints."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def distribute_dataset(strategy: tf.distribute.Strategy,
                       dataset: tf.data.Dataset) -> tf.data.Dataset | tf.distribute.DistributedDataset:
    """Splits each global batch across the replicas (and workers) of ``strategy``.

    The dataset is generated, not read from files, so workers shard it by DATA: each one
    builds the same global batches and keeps its replicas' rows, in replica order.
    """
    if strategy.num_replicas_in_sync == 1 and not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(dataset.with_options(options))


def mixed_precision_policy_name() -> str:
    """float16 on GPUs (fast tensor cores, needs loss scaling), bfloat16 elsewhere."""
    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"


@contextlib.contextmanager
def dtype_policy(mixed: bool) -> Iterator[None]:
    """Layers built inside take the mixed policy; the global policy is restored afterwards
    so building one mixed trainer does not change models built later."""
    previous = keras.config.dtype_policy()
    if mixed:
        keras.config.set_dtype_policy(mixed_precision_policy_name())
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def make_optimizer(learning_rate: float, beta_1: float, beta_2: float, mixed: bool) -> keras.optimizers.Optimizer:
    """Adam, wrapped in dynamic loss scaling when the compute dtype is float16."""
    optimizer = keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2)
    if mixed and mixed_precision_policy_name() == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
