"""`zoo launch slurm NAME ...`: an `sbatch` script running `zoo train NAME` (or a distributed
`zoo tune NAME`) as one task per node under `srun`, each task reading the cluster with
`--cluster slurm` (tf.distribute's `SlurmClusterResolver`).

The run folder must be on storage every node sees (the chief writes the checkpoints there, the
others read them to resume); `--requeue` puts the job back in the queue when a node fails or it
is preempted, and the requeued job resumes from the chief's last checkpoint in that folder.
"""

from __future__ import annotations

import re

from zoo.launch.common import run_dir_of, shell_join, task_command

__all__ = ["slurm_script"]

_TIME = re.compile(r"^(\d+-)?\d+(:\d{2}){0,2}$")


def _check(value, arg, cond, allowed):
    if not cond:
        raise ValueError(f"`{arg}` must be {allowed}. Received: {arg}={value!r}")


# one function on purpose: the script reads top to bottom as the file it writes (docs/recipes.md
# shows that file), each #SBATCH line beside the argument it comes from
def slurm_script(name, argv=(), *, nodes=1, tasks_per_node=1, gpus_per_node=0, cpus_per_task=None,
                 port=8888, time=None, partition=None, search=False, command="zoo",
                 job_name=None):
    """The text of an `sbatch` script for `zoo train name argv` on `nodes` nodes.

    Args:
        name: the registered model.
        argv: `zoo train`'s flags (`zoo tune`'s with `search`); `--run-dir` (`--directory`)
            should be on shared storage.
        nodes / tasks_per_node: the tasks (one per node by default; task 0 is the chief).
        gpus_per_node / cpus_per_task: what each node / task asks for (0 / None: not asked).
        port: the first task's port on each node (`--cluster-port`).
        time / partition: `#SBATCH --time` / `--partition` (None: the cluster's default).
        search: a distributed `zoo tune`: task 0 serves the oracle, the others run trials.
        command: how the nodes start zoo (e.g. `/shared/venv/bin/zoo`).
        job_name: default `zoo-<name>`.

    Example:
        >>> text = slurm_script("highway_net", ["--run-dir", "/shared/hw"], nodes=2)
        >>> "#SBATCH --requeue" in text and "--cluster slurm" in text
        True
    """
    _check(nodes, "nodes", isinstance(nodes, int) and nodes >= 1, "an integer >= 1")
    _check(tasks_per_node, "tasks_per_node", isinstance(tasks_per_node, int) and tasks_per_node >= 1,
           "an integer >= 1")
    _check(gpus_per_node, "gpus_per_node", isinstance(gpus_per_node, int) and gpus_per_node >= 0,
           "an integer >= 0")
    _check(port, "port", isinstance(port, int) and 1024 <= port < 65536 - tasks_per_node,
           "a port number (1024 to 65535)")
    _check(time, "time", time is None or bool(_TIME.match(str(time))), "Slurm's [D-]HH:MM:SS")
    tasks = nodes * tasks_per_node
    if search:
        _check(tasks, "nodes", tasks >= 2, "at least 2 tasks for a search (a chief and a worker)")
    verb = "tune" if search else "train"
    argv = [str(a) for a in argv]
    words = task_command(verb, name, argv, "slurm", port, command)
    run_dir = run_dir_of(verb, argv)
    job = job_name or f"zoo-{name}"
    lines = [
        "#!/bin/bash",
        f"# Written by `zoo launch slurm {name}`: {tasks} task(s), {tasks_per_node} per node; "
        + ("task 0 is the tuner's chief, the others its workers." if search else
           "task 0 is the chief (checkpoints, export), all train together."),
        "# Submit with `sbatch <this file>`; re-submitting (or Slurm's requeue) resumes from the "
        "last checkpoint.",
        f"#SBATCH --job-name={job}",
        f"#SBATCH --nodes={nodes}",
        f"#SBATCH --ntasks-per-node={tasks_per_node}",
    ]
    if cpus_per_task:
        lines.append(f"#SBATCH --cpus-per-task={int(cpus_per_task)}")
    if gpus_per_node:
        lines.append(f"#SBATCH --gpus-per-node={gpus_per_node}")
    if time:
        lines.append(f"#SBATCH --time={time}")
    if partition:
        lines.append(f"#SBATCH --partition={partition}")
    lines += [
        "#SBATCH --output=%x-%j.out",
        "#SBATCH --open-mode=append",
        "# a failed node or a preemption puts the job back in the queue; it resumes from the",
        "# chief's last checkpoint in the run folder",
        "#SBATCH --requeue",
        "set -euo pipefail",
        'echo "zoo launch: job $SLURM_JOB_ID on $SLURM_JOB_NODELIST, restart '
        '${SLURM_RESTART_COUNT:-0}"',
    ]
    if run_dir:
        lines += ["# the run folder, on storage every node sees", f"mkdir -p {shell_join([run_dir])}"]
    lines += [
        "# each task: SlurmClusterResolver, "
        + (f"port {port}" if tasks_per_node == 1 else f"ports {port}..{port + tasks_per_node - 1}")
        + " on each node;",
        "# a task that fails ends the step (--kill-on-bad-exit), the others after one line",
        "srun --kill-on-bad-exit=1 " + shell_join(words),
        "",
    ]
    return "\n".join(lines)
