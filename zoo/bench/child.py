"""The child process of `zoo bench` for another Keras backend (`KERAS_BACKEND` set by the parent).

    python -m zoo.bench.child '{"names": [...], "rounds": 10, ...}'

Runs `zoo.bench.run_here` with the settings (JSON; lists where the parent has tuples) and prints
one line `ZOO_BENCH_ROWS {"rows": [...], "kind": "cpu"}`; progress goes to standard error.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv=None):
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
