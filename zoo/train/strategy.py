"""`tf.distribute` strategies by name (and from a cluster's resolver), and who is the chief."""

from __future__ import annotations

import os

import tensorflow as tf

from zoo.train.cluster import DEFAULT_PORT, cluster_resolver, describe_cluster, tpu_strategy
from zoo.train.config import STRATEGIES

__all__ = ["make_strategy", "split_cpu", "is_chief", "worker_index", "num_workers"]


def split_cpu(n):
    """Split the CPU into `n` logical devices (n > 1; before TensorFlow initialises its devices)."""
    if n and n > 1:
        cpus = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
        )


def make_strategy(name="auto", cpu_devices=0, cluster="none", port=DEFAULT_PORT, tpu=None,
                  announce=True):
    """A `tf.distribute` strategy by name (see `zoo.train`'s docstring); `cpu_devices` > 1 first
    splits the CPU into that many logical devices (`mirrored` without GPUs then runs a replica on
    each), which must happen before TensorFlow initialises its devices.

    `cluster` (`zoo.train.cluster`: `auto`, `tf_config`, `slurm`, `kubernetes`, `tpu`, `none`)
    reads the cluster with tf.distribute's resolver for it: `MultiWorkerMirroredStrategy` on it
    for CPU / GPU workers, `TPUStrategy` for a TPU (`port`: Slurm's first port on each node;
    `tpu`: the TPU's name or address). With a cluster, each task prints one line naming it
    (`announce`). `auto` finds none when `name` is `one_device` or `mirrored`.

    Example:
        >>> from zoo.train import make_strategy
        >>> make_strategy("one_device").num_replicas_in_sync
        1
    """
    if name not in STRATEGIES:
        raise ValueError(f"`strategy` must be one of {STRATEGIES}. Received: strategy={name!r}")
    cluster_name, resolver = _resolver(name, cluster, port, tpu)
    split_cpu(cpu_devices)
    if resolver is not None:
        if cluster_name == "tpu":
            strategy = tpu_strategy(resolver, tpu)
            devices = f"{strategy.num_replicas_in_sync} TPU core(s)"
        else:
            strategy = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
            devices = None
        if announce:
            print(describe_cluster(cluster_name, resolver, devices), flush=True)
        return strategy
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "strategy='multi_worker' reads the cluster from the TF_CONFIG environment "
                "variable, which is not set. Received: TF_CONFIG=None"
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored":
        if gpus:
            return tf.distribute.MirroredStrategy()
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(
            devices=cpus, cross_device_ops=tf.distribute.ReductionToOneDevice()
        )
    if name == "auto" and len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")


def _resolver(name, cluster, port, tpu):
    """`(cluster name, resolver)` for `make_strategy`; a named cluster with a one-machine
    strategy is refused."""
    if cluster in (None, "none"):
        return "none", None
    if name in ("one_device", "mirrored"):
        if cluster == "auto":
            return "none", None
        raise ValueError(f"cluster={cluster!r} runs on several workers, which strategy={name!r} "
                         "does not: give --strategy auto or multi_worker. Received: "
                         f"strategy={name!r}")
    return cluster_resolver(cluster, port=port, tpu=tpu)


def is_chief(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type is None or task_type == "chief" or (
        task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()
    )


def worker_index(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and resolver is not None:
        return f"{resolver.task_type}_{resolver.task_id}"
    return "0"


def num_workers(strategy):
    """How many worker processes train together (1 unless `MultiWorkerMirroredStrategy`)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return 1
    spec = resolver.cluster_spec().as_dict()
    return max(1, sum(len(v) for k, v in spec.items() if k in ("chief", "worker")))
