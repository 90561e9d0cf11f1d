"""The cluster a run is part of, read by tf.distribute's own cluster resolvers.

`--cluster` of `zoo train` (and of `zoo tune`'s workers) names where the cluster comes from:

* `tf_config`: the `TF_CONFIG` environment variable (written by hand, or by Kubeflow's training
  operator into each pod of a `TFJob`): `TFConfigClusterResolver`.
* `slurm`: the Slurm job step this process is a task of (`srun`; `SLURM_PROCID`,
  `SLURM_STEP_NODELIST`, `SLURM_STEP_TASKS_PER_NODE`): `SlurmClusterResolver`, the tasks of a node
  on ports `port`, `port + 1`, ...
* `kubernetes`: a pod of a plain indexed Job (`JOB_COMPLETION_INDEX`) whose workers are named by
  a headless Service (`ZOO_WORKER_HOSTS`, written by `zoo launch kubernetes`), or of a `TFJob`
  (`TF_CONFIG`); `KubernetesClusterResolver` itself needs the API server and the `kubernetes`
  client, which a pod of a Job has no need for: the Job's stable names are the cluster.
* `tpu`: a Cloud TPU (`--tpu NAME`, `$TPU_NAME`, or `local` on a TPU VM): `TPUClusterResolver`.
* `auto` (the default): the first of these the environment shows (`TF_CONFIG`; a Slurm step of
  more than one task; an indexed Job's pod with `ZOO_WORKER_HOSTS`; `$TPU_NAME`), else none.
* `none`: this machine alone.

Example:
    >>> from zoo.train.cluster import detect_cluster
    >>> detect_cluster({})
    'none'
"""

from __future__ import annotations

import os
import shutil

from zoo.train.config import CLUSTERS

__all__ = ["CLUSTERS", "DEFAULT_PORT", "detect_cluster", "cluster_resolver", "describe_cluster",
           "tpu_strategy", "tuner_environment"]

DEFAULT_PORT = 8888  # SlurmClusterResolver's first port on each node


def detect_cluster(environ=None):
    """The cluster `auto` finds in `environ` (default `os.environ`): a name of `CLUSTERS`."""
    env = os.environ if environ is None else environ
    if env.get("TF_CONFIG"):
        return "tf_config"
    if "SLURM_PROCID" in env and int(env.get("SLURM_STEP_NUM_TASKS") or 1) > 1:
        return "slurm"
    if "JOB_COMPLETION_INDEX" in env and env.get("ZOO_WORKER_HOSTS"):
        return "kubernetes"
    if env.get("TPU_NAME"):
        return "tpu"
    return "none"


def _check(cluster):
    if cluster not in CLUSTERS:
        raise ValueError(f"`cluster` must be one of {CLUSTERS}. Received: cluster={cluster!r}")


def _missing(cluster, variable, what):
    return ValueError(f"cluster={cluster!r} reads {what} from the {variable} environment "
                      f"variable, which is not set. Received: {variable}=None")


def _gpus_here():
    """GPUs this process may use, counted without initialising TensorFlow's devices."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    if shutil.which("nvidia-smi") is None:
        return 0
    from tensorflow.python.distribute.cluster_resolver import slurm_cluster_resolver as s

    try:
        return s.get_num_gpus()
    except RuntimeError:
        return 0


def _slurm(port):
    import tensorflow as tf
    from tensorflow.python.distribute.cluster_resolver import slurm_cluster_resolver as s

    if "SLURM_PROCID" not in os.environ:
        raise _missing("slurm", "SLURM_PROCID", "this task's rank (run the script with srun)")
    tasks = s.expand_tasks_per_node(os.environ.get("SLURM_STEP_TASKS_PER_NODE", "1"))
    per_node, gpus = max(tasks), _gpus_here()

    class Resolver(tf.distribute.cluster_resolver.SlurmClusterResolver):
        """Slurm's resolver; without GPUs, each task's devices are its CPU (the class itself
        would hand out GPU ids it does not have, and reports what `num_accelerators` says)."""

        def num_accelerators(self, task_type=None, task_id=None, config_proto=None):
            return {"GPU": self._gpus_per_task} if gpus else {}

    if gpus:
        return Resolver(port_base=port, gpus_per_node=gpus, gpus_per_task=max(1, gpus // per_node))
    # one placeholder "GPU" per task keeps the class's port assignment; none is set visible
    return Resolver(port_base=port, gpus_per_node=per_node, gpus_per_task=1, auto_set_gpu=False)


def _kubernetes():
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):  # a TFJob's pod: the operator wrote TF_CONFIG
        return tf.distribute.cluster_resolver.TFConfigClusterResolver()
    hosts = [h for h in os.environ.get("ZOO_WORKER_HOSTS", "").split(",") if h]
    if not hosts:
        raise _missing("kubernetes", "ZOO_WORKER_HOSTS", "the workers' addresses (or TF_CONFIG)")
    if "JOB_COMPLETION_INDEX" not in os.environ:
        raise _missing("kubernetes", "JOB_COMPLETION_INDEX", "this pod's index (an Indexed Job)")
    return tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec({"worker": hosts}), task_type="worker",
        task_id=int(os.environ["JOB_COMPLETION_INDEX"]), rpc_layer="grpc")


def cluster_resolver(cluster="auto", port=DEFAULT_PORT, tpu=None):
    """`(name, resolver)` of the cluster `cluster` names (see the module's docstring); `(\"none\",
    None)` for this machine alone.

    Raises:
        ValueError: the environment does not show the cluster asked for (one line naming it).
    """
    _check(cluster)
    name = detect_cluster() if cluster == "auto" else cluster
    if name == "none":
        return name, None
    import tensorflow as tf

    if name == "tf_config":
        if not os.environ.get("TF_CONFIG"):
            raise _missing(name, "TF_CONFIG", "the cluster")
        return name, tf.distribute.cluster_resolver.TFConfigClusterResolver()
    if name == "slurm":
        return name, _slurm(port)
    if name == "kubernetes":
        return name, _kubernetes()
    tpu = tpu or os.environ.get("TPU_NAME") or "local"
    try:
        return name, tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
        raise ValueError(f"cluster='tpu' reaches no TPU ({_first_line(e)}). Received: "
                         f"tpu={tpu!r}") from None


def _first_line(error):
    """The first sentence of `error`'s message (TensorFlow's go on for lines)."""
    text = str(error).strip().splitlines()
    return text[0].split(". ")[0].rstrip(".") if text else type(error).__name__


def tpu_strategy(resolver, tpu):
    """`TPUStrategy` on `resolver`'s TPUs, after connecting to them and initialising them.

    Raises:
        ValueError: no TPU is reachable there (one line).
    """
    import tensorflow as tf

    try:
        if resolver.master():  # a TPU reached over the network (a TPU VM's own is local)
            tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (tf.errors.OpError, RuntimeError, ValueError) as e:
        raise ValueError(f"cluster='tpu' reaches no TPU ({_first_line(e)}). Received: "
                         f"tpu={tpu!r}") from None
    return tf.distribute.TPUStrategy(resolver)


def describe_cluster(name, resolver, devices=None):
    """The one line naming the cluster as this task sees it: hosts, this task's role and index,
    the devices each task has."""
    spec = resolver.cluster_spec().as_dict()
    hosts = [a for job in sorted(spec) for a in (spec[job] if isinstance(spec[job], list)
                                                 else spec[job].values())]
    role, index = resolver.task_type, resolver.task_id
    gpus = (resolver.num_accelerators() or {}).get("GPU", 0) if name != "tpu" else 0
    if devices is None:
        devices = f"{gpus} GPU" if gpus else "CPU"
    chief = role == "chief" or (role == "worker" and index == 0 and "chief" not in spec)
    where = ", ".join(hosts) or "this host"
    return (f"[zoo.train] cluster {name}: {len(hosts) or 1} task(s) on {where}; this task: "
            f"{role or 'worker'} {index if index is not None else 0}"
            f"{' (chief)' if chief else ''}; devices per task: {devices}")


def tuner_environment(cluster="auto", port=DEFAULT_PORT):
    """keras-tuner's variables of a distributed search for this task, from the cluster's
    resolver: the first task (the `chief` of `TF_CONFIG`, else worker 0 / Slurm's task 0) is the
    tuner's chief and serves the oracle at its host and port; every other task is a worker,
    `tuner0`, `tuner1`, ... ({} on this machine alone).

    Example:
        >>> import json, os
        >>> os.environ["TF_CONFIG"] = json.dumps({"cluster": {"chief": ["a:2222"],
        ...     "worker": ["b:2222"]}, "task": {"type": "worker", "index": 0}})
        >>> tuner_environment("tf_config")["KERASTUNER_TUNER_ID"]
        'tuner0'
        >>> del os.environ["TF_CONFIG"]
    """
    name, resolver = cluster_resolver(cluster, port=port)
    if resolver is None or name == "tpu":
        return {}
    spec = resolver.cluster_spec().as_dict()
    order = [(job, i, addr) for job in ("chief", "worker") if job in spec
             for i, addr in enumerate(spec[job])]
    if not order:
        raise ValueError(f"cluster={name!r} names no chief or worker task. Received: "
                         f"cluster_spec={spec!r}")
    mine = [k for k, (job, i, _) in enumerate(order)
            if job == resolver.task_type and i == resolver.task_id]
    if not mine:
        raise ValueError(f"this task ({resolver.task_type} {resolver.task_id}) is not in the "
                         f"cluster. Received: cluster_spec={spec!r}")
    host, _, oracle_port = order[0][2].rpartition(":")
    return {"KERASTUNER_TUNER_ID": "chief" if mine[0] == 0 else f"tuner{mine[0] - 1}",
            "KERASTUNER_ORACLE_IP": host, "KERASTUNER_ORACLE_PORT": oracle_port,
            "ZOO_TUNER_WORKERS": str(len(order) - 1)}
