"""`zoo verify --onnx`'s converter process: each signature of an export converted by tf2onnx as
`python -I -m tf2onnx.convert ARGS` would, one after another in this one process (TensorFlow
starts once, not once per signature), each with its own exit status and standard error.

    python -I onnx_child.py RUNS_JSON RESULT_FILE

RUNS_JSON: a JSON list of tf2onnx argument lists; RESULT_FILE: where the list of
`[exit status, stderr]` grows after each conversion. Run by zoo/export/verify_child.py (by path,
isolated, so zoo is not imported here either).
"""

import importlib.util
import io
import json
import runpy
import sys
import traceback


class _Stderr(io.TextIOBase):
    """What the conversion under way writes to standard error."""

    text = io.StringIO()

    def writable(self):
        return True

    def write(self, s):
        return self.text.write(s)


sys.stderr = _Stderr()
runs, result_file, done = json.loads(sys.argv[1]), sys.argv[2], []
try:  # as `python -m` says it
    missing = None if importlib.util.find_spec("tf2onnx.convert") else (
        "No module named tf2onnx.convert")
except ImportError as e:
    missing = (f"Error while finding module specification for 'tf2onnx.convert' "
               f"({type(e).__name__}: {e})")
for argv in runs:
    sys.stderr.text, status = io.StringIO(), 0
    sys.argv = ["tf2onnx.convert"] + argv
    try:
        if missing:
            sys.exit(f"{sys.executable}: {missing}")
        runpy.run_module("tf2onnx.convert", run_name="__main__", alter_sys=True)
    except SystemExit as e:  # as Python exits with it
        if e.code is not None and not isinstance(e.code, int):
            print(e.code, file=sys.stderr)
        status = e.code if isinstance(e.code, int) else int(e.code is not None)
    except BaseException:
        traceback.print_exc()
        status = 1
    done.append([status, sys.stderr.text.getvalue()])
    with open(result_file, "w") as f:
        json.dump(done, f)
