"""Launch files for clusters: `zoo launch slurm|kubernetes NAME ...` writes an `sbatch` script or
Kubernetes manifests (a Kubeflow `TFJob`; an indexed Job + headless Service) that run `zoo train`
(or a distributed `zoo tune`) on every task with `--cluster`. Manual: docs/recipes.md (Clusters).
"""

from zoo.launch.kubernetes import indexed_job, kubernetes_manifests, tf_job, to_yaml
from zoo.launch.slurm import slurm_script

__all__ = ["slurm_script", "kubernetes_manifests", "tf_job", "indexed_job", "to_yaml"]
