"""`zoo launch slurm|kubernetes NAME [launch flags] [zoo train flags]` (argparse only).

The flags this command does not know are `zoo train`'s (with `--search`, `zoo tune`'s), checked
by that command's own parser before anything is written.

Example:
    $ zoo launch slurm highway_net --nodes 2 --run-dir /shared/runs/hw --epochs 5 > hw.sbatch
    $ zoo launch kubernetes highway_net --workers 2 --image registry/zoo:1 --claim runs \\
          --run-dir /shared/runs/hw > hw.yaml
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_cli"]


def _write(text, output):
    if output in (None, "-"):
        sys.stdout.write(text)
        return
    with open(output, "w") as f:
        f.write(text)
    print(f"zoo launch: wrote {output}", file=sys.stderr)


def _cmd_slurm(args, rest):
    from zoo.launch.slurm import slurm_script

    text = slurm_script(args.name, rest, nodes=args.nodes, tasks_per_node=args.tasks_per_node,
                        gpus_per_node=args.gpus_per_node, cpus_per_task=args.cpus_per_task,
                        port=args.port, time=args.time, partition=args.partition,
                        search=args.search, command=args.command, job_name=args.job_name)
    _write(text, args.output)
    return 0


def _cmd_kubernetes(args, rest):
    from zoo.launch.kubernetes import kubernetes_manifests, to_yaml

    docs = kubernetes_manifests(
        args.name, rest, kind=args.kind, workers=args.workers, image=args.image, port=args.port,
        claim=args.claim, mount=args.mount, backoff_limit=args.backoff_limit, cpu=args.cpu,
        gpus=args.gpus, search=args.search, command=args.command, job_name=args.job_name)
    _write(to_yaml(docs), args.output)
    return 0


def _cmd_launch(args):
    """The launch flags may come before or after NAME; the words left are zoo train's flags."""
    rest = list(args.rest)
    if "--" in rest:
        i = rest.index("--")
        rest, tail = rest[:i], rest[i + 1:]
    else:
        tail = []
    parser = argparse.ArgumentParser(prog=f"zoo launch {args.scheduler}", allow_abbrev=False)
    _add_options(parser, args.scheduler)
    args, flags = parser.parse_known_args(rest, namespace=args)
    return args.launch(args, flags + tail)


def _add_options(q, scheduler):
    q.add_argument("--search", action="store_true",
                   help="a distributed zoo tune: the first task is the chief, the others workers")
    q.add_argument("--command", default="zoo",
                   help="how each task starts zoo (e.g. /shared/venv/bin/zoo)")
    q.add_argument("--job-name", default=None, help="default: zoo-NAME")
    q.add_argument("--output", "-o", default=None, help="the file to write (default: stdout)")
    if scheduler == "slurm":
        q.add_argument("--nodes", type=int, default=1)
        q.add_argument("--tasks-per-node", type=int, default=1, help="tasks on each node (default 1)")
        q.add_argument("--gpus-per-node", type=int, default=0)
        q.add_argument("--cpus-per-task", type=int, default=None)
        q.add_argument("--port", type=int, default=8888, help="the first task's port on each node")
        q.add_argument("--time", default=None, help="#SBATCH --time, [D-]HH:MM:SS")
        q.add_argument("--partition", default=None)
        q.set_defaults(launch=_cmd_slurm)
        return
    q.add_argument("--kind", choices=("tfjob", "job", "both"), default="both",
                   help="tfjob: Kubeflow's training operator; job: an indexed Job + headless Service")
    q.add_argument("--workers", type=int, default=2, help="training (or trial) worker pods")
    q.add_argument("--image", default=None, help="a container image with zoo installed (required)")
    q.add_argument("--port", type=int, default=2222, help="the port each pod listens on")
    q.add_argument("--claim", default=None,
                   help="a ReadWriteMany PersistentVolumeClaim holding the run folder")
    q.add_argument("--mount", default="/shared", help="where the claim is mounted")
    q.add_argument("--backoff-limit", type=int, default=3, help="restarts before the job fails")
    q.add_argument("--cpu", default=None, help="CPU request per pod (e.g. 4)")
    q.add_argument("--gpus", type=int, default=0, help="nvidia.com/gpu limit per pod")
    q.set_defaults(launch=_cmd_kubernetes)


def add_cli(subparsers):
    """Add `zoo launch slurm|kubernetes NAME ...` to the `zoo` command."""
    p = subparsers.add_parser(
        "launch", help="write an sbatch script or Kubernetes manifests for zoo train / zoo tune",
        description="Write the files that run `zoo train NAME` (or, with --search, a distributed "
                    "`zoo tune NAME`) on a scheduler; the flags it does not know are zoo "
                    "train's (zoo tune's). Guide: docs/recipes.md, Clusters.")
    sub = p.add_subparsers(dest="scheduler", required=True)
    for scheduler, text in (("slurm", "an sbatch script: one task per node under srun"),
                            ("kubernetes", "a Kubeflow TFJob and/or an indexed Job + headless "
                                           "Service")):
        q = sub.add_parser(scheduler, help=text, allow_abbrev=False)
        _add_options(q, scheduler)
        q.add_argument("name", help="registered model name")
        q.add_argument("rest", nargs=argparse.REMAINDER, help="zoo train's (zoo tune's) flags")
    p.set_defaults(func=_cmd_launch)
