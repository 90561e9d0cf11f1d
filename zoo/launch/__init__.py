"""Launch files for clusters: `zoo launch slurm|kubernetes NAME ...` writes an `sbatch` script or
Kubernetes manifests (a Kubeflow `TFJob`, or an indexed Job with a headless Service) that run
`zoo train NAME` (or a distributed `zoo tune NAME`) with the flags given, on every task, with
`--cluster` naming the scheduler. Manual: docs/recipes.md ("Clusters").

Example:
    >>> from zoo.launch import slurm_script
    >>> print(slurm_script("highway_net", ["--run-dir", "/shared/runs/hw"], nodes=2).splitlines()[0])
    #!/bin/bash
"""

from zoo.launch.kubernetes import indexed_job, kubernetes_manifests, tf_job, to_yaml
from zoo.launch.slurm import slurm_script

__all__ = ["slurm_script", "kubernetes_manifests", "tf_job", "indexed_job", "to_yaml"]
