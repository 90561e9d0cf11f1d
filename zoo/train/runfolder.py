"""What a run folder holds a run of: `run.json`, written beside the checkpoints, and checked
before a re-run resumes from them.

A re-run of another model, task, input shape or output size (classes) in a run folder is
refused with one line naming the differences, before anything in the folder is touched: it
would otherwise restore nothing (or the wrong weights) and overwrite the other run's
checkpoints, history and summary.

Example:
    >>> from zoo.train.runfolder import check_run_identity
    >>> check_run_identity("/tmp/zoo-doc-new-run", {"name": "highway_net"})  # nothing there yet
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Dict, List, Optional

__all__ = ["IDENTITY_FILE", "run_identity", "check_run_identity", "write_run_identity",
           "checkpoint_candidates"]

IDENTITY_FILE = "run.json"
# compared on a re-run, in this order (the message names the first ones that differ)
_KEYS = ("name", "task", "inputs", "outputs", "params", "weight_shapes")


def _shapes(tensors) -> Optional[list]:
    try:
        return [list(t.shape) for t in tensors]
    except (AttributeError, TypeError, ValueError):
        return None


def run_identity(name: str, task: str, model) -> Dict[str, Any]:
    """The identity of a run: its name, task, the model's input and output shapes, its number
    of weights and a digest of their shapes (another layout with as many weights)."""
    try:
        inputs = _shapes(model.inputs)
        outputs = _shapes(model.outputs)
    except (AttributeError, ValueError):  # a subclassed model without symbolic inputs
        inputs = outputs = None
    shapes = json.dumps([list(w.shape) for w in model.weights])
    return {"name": name, "task": task, "inputs": inputs, "outputs": outputs,
            "params": int(sum(int(_prod(w.shape)) for w in model.weights)),
            "weight_shapes": hashlib.sha256(shapes.encode()).hexdigest()[:16]}


def _prod(shape):
    n = 1
    for d in shape:
        n *= int(d)
    return n


def check_run_identity(run_dir: str, identity: Dict[str, Any]) -> None:
    """Refuse (ValueError, one line) a run whose `identity` differs from the one recorded in
    `run_dir` (nothing recorded: a new folder, or one of an older release, passes)."""
    path = os.path.join(run_dir, IDENTITY_FILE)
    try:
        with open(path) as f:
            recorded = json.load(f)
    except FileNotFoundError:
        return
    except (OSError, ValueError) as e:
        raise ValueError(f"The run folder's {path} is damaged ({type(e).__name__}); use another "
                         f"--run-dir, or delete {run_dir} to start over. "
                         f"Received: run_dir={run_dir!r}") from None
    diffs = [f"{k} {recorded.get(k)!r} there, {identity.get(k)!r} now" for k in _KEYS
             if k in identity and k in recorded and recorded[k] != identity[k]]
    if diffs:
        raise ValueError(
            f"The run folder {run_dir} holds another run ({'; '.join(diffs[:2])}); its "
            f"checkpoints, history and summary are left as they are. Use another --run-dir, "
            f"or delete {run_dir} to start over. Received: run_dir={run_dir!r}")


def write_run_identity(run_dir: str, identity: Dict[str, Any]) -> None:
    """Record `identity` in `run_dir` (written aside and renamed into place)."""
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, IDENTITY_FILE)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(identity, f, indent=2)
    os.replace(tmp, path)


def checkpoint_candidates(ckpt_dir) -> List[str]:
    """The checkpoints of a run folder, newest first: those the `checkpoint` state file lists,
    and any other complete-looking `ckpt-N` (an `.index` file) in case the state file itself
    is damaged or was not updated before a kill."""
    import tensorflow as tf

    found = {}
    # absolute first: TensorFlow joins a relative folder onto the paths it reads, and joining it
    # again here found nothing, so every re-run in runs/<name> started from scratch (issue 30)
    ckpt_dir = os.path.abspath(ckpt_dir)
    try:
        state = tf.train.get_checkpoint_state(ckpt_dir)
    except Exception:  # noqa: BLE001 -- a damaged state file: fall back to the folder listing
        state = None
    paths = list(state.all_model_checkpoint_paths) if state else []
    if state and state.model_checkpoint_path:
        paths.append(state.model_checkpoint_path)
    if os.path.isdir(ckpt_dir):
        paths += [os.path.join(ckpt_dir, f[: -len(".index")]) for f in os.listdir(ckpt_dir)
                  if f.startswith("ckpt-") and f.endswith(".index")]
    for p in paths:
        p = p if os.path.isabs(p) else os.path.join(ckpt_dir, p)
        tail = os.path.basename(p).rsplit("-", 1)[-1]
        if tail.isdigit() and os.path.exists(p + ".index"):
            found[os.path.normpath(p)] = int(tail)
    return sorted(found, key=found.get, reverse=True)
