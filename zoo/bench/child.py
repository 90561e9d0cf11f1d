"""The child process of `zoo bench` for another Keras backend (`KERAS_BACKEND` set by the parent).

    python -m zoo.bench.child '{"names": [...], "rounds": 10, ...}'

Runs `zoo.bench.run_here` with the settings (JSON; lists where the parent has tuples) and prints
one line `ZOO_BENCH_ROWS {"rows": [...], "kind": "cpu"}`; progress goes to standard error.
With `ZOO_BENCH_BLOCK_TENSORFLOW=1` (benchmarks/gpu_jax.py) TensorFlow cannot be imported.
"""

from __future__ import annotations

import importlib.abc
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
BLOCK_TENSORFLOW = "ZOO_BENCH_BLOCK_TENSORFLOW"


class _BlockTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ModuleNotFoundError("TensorFlow is blocked in this benchmark", name=name)
        return None


def block_tensorflow():
    """Make `import tensorflow` fail in this process (and, through the environment, in the bench's
    child processes): a measurement that shows the JAX backend runs without it."""
    os.environ[BLOCK_TENSORFLOW] = "1"
    if not any(isinstance(f, _BlockTensorFlow) for f in sys.meta_path):
        sys.meta_path.insert(0, _BlockTensorFlow())


def main(argv=None):
    from zoo.core.lazy import skip_optional_imports

    skip_optional_imports()
    if os.environ.get(BLOCK_TENSORFLOW) == "1":
        block_tensorflow()
    from zoo.bench import CHILD_MARK, run_here

    settings = json.loads((sys.argv[1:] if argv is None else argv)[0])
    names = settings.pop("names")
    settings = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}

    def progress(line):
        print(f"zoo bench: {line}", file=sys.stderr, flush=True)

    rows, kind = run_here(names, progress=progress, **settings)
    print(CHILD_MARK + json.dumps({"rows": rows, "kind": kind}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
