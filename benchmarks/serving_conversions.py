"""Which registered families convert to TFLite and ONNX, and why not (zoo.export's extras).

For one registered model per (family, task), at the registry's `test_overrides`, the script
exports a SavedModel with `zoo.export.export_model` and runs `zoo.export.verify_many` with
`tflite=True, onnx=True` in one fresh process (zoo blocked): every signature is converted to
TFLite (builtin ops, then builtins + SELECT_TF_OPS when the builtins cannot express the graph)
and to ONNX (tf2onnx, run with onnxruntime), and each conversion's outputs are compared with the
Keras model's (1e-5; uint8 images within one grey level). Not a speed benchmark: it writes the
conversion table of docs/serving.md.

Usage:
    pip install -e ".[onnx]"
    python benchmarks/serving_conversions.py [--models resnet50 highway_net ...]

Writes benchmarks/results/serving_conversions.md (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# one per (family, task): the smallest registered variant of each
REPRESENTATIVES = (
    "resnet50", "inception_v3", "googlenet", "gated_resnet50", "highway_net",
    "peephole_lstm_classifier", "peephole_lstm_regressor", "transformer_base",
    "transformer_classifier", "dcgan_generator_28", "dcgan_discriminator_28",
)
OPTIONS = {"transformer_base": dict(max_length=6, beam_size=3)}


def _status(text, diffs):
    if text is None:
        return "not run"
    if text == "converted":
        return f"converts, agrees (max diff {max(diffs):.1e})" if diffs else "converts"
    if text.startswith("converted with SELECT_TF_OPS"):
        why = text.split("builtins only failed: ", 1)[-1]
        agree = f", agrees (max diff {max(diffs):.1e})" if diffs else ""
        return f"needs SELECT_TF_OPS (Flex){agree}; builtins: {why}"
    if text.startswith("mismatch"):
        return "converts, **disagrees**: " + text.replace("|", "/")
    return "**fails**: " + text.replace("failed: ", "", 1).replace("|", "/")


def _merge(old, new, models):
    """`old` table lines with the rows of `models` replaced by those of `new` (same order)."""
    def model_of(line):
        cells = line.split("|")
        return cells[2].strip().split(" ")[0].strip("`") if line.startswith("| ") and len(cells) > 3 else None

    fresh = [l for l in new if model_of(l) in models]
    out = []
    for line in old:
        note = f" Rows of {', '.join(models)} from a later run (`--update`)."
        if line.startswith("`python benchmarks/serving_conversions.py`") and note not in line:
            line += note
        if model_of(line) in models:
            continue
        out.append(line)
    # put each model's new rows back where its family's rows are, per section (tables in order)
    result, pending = [], list(fresh)
    for line in out:
        result.append(line)
    second = new.index("## Signatures (as loaded from the SavedModel, in the process without zoo)")
    for row in pending:
        section = [i for i, l in enumerate(new) if l == row][0] > second
        heads = [i for i, l in enumerate(result) if l.startswith("| family |")]
        start = heads[1] if section else heads[0]
        end = next((i for i in range(start + 2, len(result)) if not result[i].startswith("| ")), len(result))
        family = row.split("|")[1].strip()
        at = max([i for i in range(start + 2, end) if result[i].split("|")[1].strip() == family],
                 default=end - 1)
        result.insert(at + 1, row)
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(REPRESENTATIVES))
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                                 "serving_conversions.md"))
    p.add_argument("--update", action="store_true",
                   help="replace only the rows of --models in an existing --out table")
    args = p.parse_args(argv)

    import keras
    import tensorflow as tf

    from zoo import export as ex
    from zoo.core.registry import get_spec

    base = tempfile.mkdtemp(prefix="zoo-conversions-")
    items, options = [], {}
    for i, name in enumerate(args.models):
        keras.utils.set_random_seed(i)
        spec = get_spec(name)
        model = spec.build(**spec.test_overrides)
        path = ex.export_model(model, name, export_dir=base, **OPTIONS.get(name, {}))
        with open(os.path.join(path, "assets.extra", "signatures.json")) as f:
            options[name] = {k: v for k, v in json.load(f)["options"].items() if v is not None}
        items.append((path, model))
    start = time.time()
    try:
        reports = ex.verify_many(items, tflite=True, onnx=True, timeout=3600)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    seconds = time.time() - start

    import onnxruntime
    import tf2onnx

    lines = [
        "# TFLite and ONNX conversion of the served signatures",
        "",
        f"`python benchmarks/serving_conversions.py` on {platform.machine()}, TensorFlow {tf.__version__}, "
        f"Keras {keras.__version__}, tf2onnx {tf2onnx.__version__}, onnxruntime {onnxruntime.__version__} "
        f"({seconds:.0f} s of verification). Registered builders at their `test_overrides`; outputs "
        "compared with the Keras model (1e-5, uint8 images within one level).",
        "",
        "| family | model (task) | signature | SavedModel | TFLite | ONNX (tf2onnx + onnxruntime) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in zip(args.models, reports):
        spec = get_spec(name)
        for key in sorted(k for k in r["signatures"] if not k.startswith("__")):
            def diffs(prefix, r=r, key=key):
                return [v["max_abs_diff"] for k, v in r["outputs"].items()
                        if k.startswith(f"{prefix}{key}::") and v.get("max_abs_diff") is not None]

            saved = ("verified, max diff %.1e" % max(diffs("")) if r["ok"] and diffs("")
                     else "FAILED: " + "; ".join(r["problems"])[:200])
            lines.append(f"| {spec.family} | `{name}` ({spec.task}) | `{key}` | {saved} | "
                         f"{_status(r['tflite'].get(key), diffs('tflite::'))} | "
                         f"{_status(r['onnx'].get(key), diffs('onnx::'))} |")
    lines += [
        "",
        "## Signatures (as loaded from the SavedModel, in the process without zoo)",
        "",
        "| family | model | signature | inputs | outputs | export options |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in zip(args.models, reports):
        for key in sorted(k for k in r["signatures"] if not k.startswith("__")):
            sig = r["signatures"][key]
            fmt = lambda d: ", ".join(f"`{n}` {t}{s}" for n, (t, s) in sorted(d.items()))  # noqa: E731
            lines.append(f"| {get_spec(name).family} | `{name}` | `{key}` | {fmt(sig['inputs'])} | "
                         f"{fmt(sig['outputs'])} | {options[name] or ''} |".replace("None", "?"))
    if args.update and os.path.exists(args.out):
        lines = _merge(open(args.out).read().splitlines(), lines, args.models)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
