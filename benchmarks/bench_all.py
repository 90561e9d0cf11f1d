"""`zoo bench` on every registered model, one model at a time, into benchmarks/results/.

Usage:
    python benchmarks/bench_all.py                        # TensorFlow, float32, jit off, 10 rounds
    python benchmarks/bench_all.py --jit both --precision both --backend both
    python benchmarks/bench_all.py --from resnet50        # resume at a model (alphabetical order)

Every flag but `--from` is `zoo bench`'s (see `zoo bench --help`); each model runs at the
registry's small test configuration unless `--size`/`--batch` say otherwise. The results of each
model are merged into benchmarks/results/bench-<machine kind>.csv and .md as soon as it is done
(a later run replaces the rows of the same model and setting and keeps the others), so an
interrupted run loses one model at most. Each model runs in its own process (`zoo bench NAME`),
so that no model's memory outlives it. Exit status 1 if any model failed a setting (its rows say
why in the `note` column).
"""

import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=True)
    p.add_argument("--from", dest="start", default=None, help="first model (alphabetical order)")
    args, rest = p.parse_known_args(argv)
    from zoo.core.registry import list_models

    names = list_models()
    if args.start is not None:
        if args.start not in names:
            p.error(f"--from must name a registered model. Received: --from={args.start}")
        names = names[names.index(args.start):]
    if "--out" not in rest:
        rest += ["--out", os.path.join(ROOT, "benchmarks", "results")]
    failed = []
    for i, name in enumerate(names):
        t0 = time.perf_counter()
        print(f"== {name} ({i + 1}/{len(names)})", flush=True)
        # a child process per model: memory the models leave behind (XLA executables, traced
        # graphs: 20 GB after 25 models with --jit on, in one process) goes with the child
        status = subprocess.run([sys.executable, "-m", "zoo.cli", "bench", name, *rest],
                                cwd=ROOT, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                    p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)}
                                ).returncode
        if status == 2:  # a bad flag: the same for every model
            return 2
        if status:
            failed.append(name)
        print(f"== {name}: {time.perf_counter() - t0:.0f} s", flush=True)
    if failed:
        print(f"failed settings: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
