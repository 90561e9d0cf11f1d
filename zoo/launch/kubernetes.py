"""`zoo launch kubernetes NAME ...`: manifests running `zoo train NAME` (or a distributed
`zoo tune NAME`) on Kubernetes, each pod reading the cluster with `--cluster kubernetes`.

* `tf_job`: a Kubeflow training-operator `TFJob` (kubeflow.org/v1): the operator writes each
  pod's `TF_CONFIG` (`TFConfigClusterResolver`).
* `indexed_job`: for clusters without the operator, an indexed `Job` (batch/v1, one pod per
  worker, `JOB_COMPLETION_INDEX`) and a headless `Service` that gives pod `i` the stable name
  `<name>-<i>.<name>`; the pods find each other in `ZOO_WORKER_HOSTS`.

Both mount a `PersistentVolumeClaim` (`ReadWriteMany`, storage every pod sees) holding the run
folder; a pod that fails is restarted (`restartPolicy: OnFailure`, up to `backoffLimit` times),
and every restarted worker resumes from the chief's last checkpoint there.
"""

from __future__ import annotations

import json
import re

from zoo.launch.common import task_command

__all__ = ["tf_job", "indexed_job", "kubernetes_manifests", "to_yaml", "KINDS"]

KINDS = ("tfjob", "job", "both")
_DNS = re.compile(r"^[a-z]([-a-z0-9]{0,50}[a-z0-9])?$")


def _check(value, arg, cond, allowed):
    if not cond:
        raise ValueError(f"`{arg}` must be {allowed}. Received: {arg}={value!r}")


def _container(name, image, command, port, mount, claim, cpu, gpus, container="tensorflow"):
    c = {"name": container, "image": image, "command": command,
         "ports": [{"name": "tfjob-port" if container == "tensorflow" else "zoo-port",
                    "containerPort": port}]}
    resources = {}
    if cpu:
        resources["requests"] = {"cpu": str(cpu)}
    if gpus:
        resources["limits"] = {"nvidia.com/gpu": gpus}
    if resources:
        c["resources"] = resources
    if claim:
        c["volumeMounts"] = [{"name": "shared", "mountPath": mount}]
    return c


def _pod_spec(container, claim):
    spec = {"containers": [container]}
    if claim:
        spec["volumes"] = [{"name": "shared", "persistentVolumeClaim": {"claimName": claim}}]
    return spec


def _checked(name, workers, image, port, backoff_limit):
    _check(name, "job_name", isinstance(name, str) and bool(_DNS.match(name)),
           "a DNS label: lower-case letters, digits and '-', at most 52 characters")
    _check(workers, "workers", isinstance(workers, int) and workers >= 1, "an integer >= 1")
    _check(image, "image", isinstance(image, str) and bool(image.strip()), "a container image")
    _check(port, "port", isinstance(port, int) and 0 < port < 65536, "a port number")
    _check(backoff_limit, "backoff_limit", isinstance(backoff_limit, int) and backoff_limit >= 0,
           "an integer >= 0")


def tf_job(name, argv=(), *, workers=2, image, port=2222, claim=None, mount="/shared",
           backoff_limit=3, cpu=None, gpus=0, search=False, command="zoo", job_name=None):
    """A Kubeflow `TFJob` (dict) of `workers` pods running `zoo train name argv` (with `search`,
    a `Chief` pod serving `zoo tune`'s oracle and `workers` trial workers).

    Example:
        >>> job = tf_job("highway_net", ["--run-dir", "/shared/hw"], image="zoo:1", claim="runs")
        >>> job["kind"], job["spec"]["tfReplicaSpecs"]["Worker"]["replicas"]
        ('TFJob', 2)
    """
    job_name = job_name or f"zoo-{name.replace('_', '-')}"
    _checked(job_name, workers, image, port, backoff_limit)
    verb = "tune" if search else "train"
    cmd = task_command(verb, name, argv, "kubernetes", None, command)
    pod = {"spec": _pod_spec(_container(name, image, cmd, port, mount, claim, cpu, gpus), claim)}
    replicas = {"Worker": {"replicas": workers, "restartPolicy": "OnFailure", "template": pod}}
    if search:
        replicas = {"Chief": {"replicas": 1, "restartPolicy": "OnFailure", "template": pod},
                    **replicas}
    return {
        "apiVersion": "kubeflow.org/v1", "kind": "TFJob",
        "metadata": {"name": job_name, "labels": {"app.kubernetes.io/name": "zoo",
                                                  "zoo/model": name.replace("_", "-")}},
        "spec": {"runPolicy": {"backoffLimit": backoff_limit, "cleanPodPolicy": "None"},
                 "tfReplicaSpecs": replicas},
    }


def indexed_job(name, argv=(), *, workers=2, image, port=2222, claim=None, mount="/shared",
                backoff_limit=3, cpu=None, gpus=0, search=False, command="zoo", job_name=None):
    """A headless `Service` and an indexed `Job` (two dicts) of `workers` pods running
    `zoo train name argv`; with `search`, pod 0 is the tuner's chief and `workers` more pods its
    workers.

    Example:
        >>> service, job = indexed_job("highway_net", image="zoo:1")
        >>> service["spec"]["clusterIP"], job["spec"]["completionMode"]
        ('None', 'Indexed')
    """
    job_name = job_name or f"zoo-{name.replace('_', '-')}"
    _checked(job_name, workers, image, port, backoff_limit)
    pods = workers + 1 if search else workers
    verb = "tune" if search else "train"
    cmd = task_command(verb, name, argv, "kubernetes", None, command)
    container = _container(name, image, cmd, port, mount, claim, cpu, gpus, container="zoo")
    hosts = ",".join(f"{job_name}-{i}.{job_name}:{port}" for i in range(pods))
    container["env"] = [{"name": "ZOO_WORKER_HOSTS", "value": hosts}]
    labels = {"app.kubernetes.io/name": "zoo", "zoo/job": job_name}
    spec = _pod_spec(container, claim)
    spec.update({"subdomain": job_name, "restartPolicy": "OnFailure"})
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": job_name, "labels": labels},
        "spec": {"clusterIP": "None", "selector": {"zoo/job": job_name},
                 "ports": [{"name": "zoo-port", "port": port, "targetPort": port}],
                 "publishNotReadyAddresses": True},
    }
    job = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": job_name, "labels": labels},
        "spec": {"completionMode": "Indexed", "completions": pods, "parallelism": pods,
                 "backoffLimit": backoff_limit,
                 "template": {"metadata": {"labels": labels}, "spec": spec}},
    }
    return service, job


def kubernetes_manifests(name, argv=(), *, kind="both", **options):
    """The manifests (a list of dicts) of `kind`: `tfjob`, `job` (Service + indexed Job) or
    `both`; `options` as `tf_job`'s."""
    _check(kind, "kind", kind in KINDS, f"one of {KINDS}")
    docs = []
    if kind in ("tfjob", "both"):
        docs.append(tf_job(name, argv, **options))
    if kind in ("job", "both"):
        docs.extend(indexed_job(name, argv, **options))
    return docs


_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./:-]*$")
_RESERVED = {"y", "n", "yes", "no", "true", "false", "on", "off", "null", "none"}


def _scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    v = str(v)
    if _PLAIN.match(v) and v.lower() not in _RESERVED:
        return v
    return json.dumps(v)  # a JSON string is a YAML double-quoted scalar


def _emit(obj, indent, out):
    pad = " " * indent
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}{k}:")
                _emit(v, indent + 2, out)
            else:
                out.append(f"{pad}{k}: {_scalar(v) if not isinstance(v, (dict, list)) else json.dumps(v)}")
    else:
        for v in obj:
            if isinstance(v, (dict, list)) and v:
                inner = []
                _emit(v, indent + 2, inner)
                out.append(f"{pad}- {inner[0].lstrip()}")
                out.extend(inner[1:])
            else:
                out.append(f"{pad}- {_scalar(v)}")


def to_yaml(docs):
    """`docs` (dicts) as one YAML stream, `---` between documents (no YAML library needed)."""
    parts = []
    for d in docs:
        out = []
        _emit(d, 0, out)
        parts.append("\n".join(out))
    return "---\n" + "\n---\n".join(parts) + "\n"
