"""`zoo export` and `zoo verify` (argparse only; TensorFlow is imported when a command runs)."""

from __future__ import annotations

import json

from zoo.core.registry import parse_overrides
from zoo.core.task_kinds import RENAMED_TASKS
from zoo.tasks import EXPORT_TASKS

__all__ = ["add_cli"]


def _parse_sets(items):
    return parse_overrides(items)  # `--set KEY=VALUE`, JSON values, as the recipes'


# TF Serving reads a version folder's name as an int64
MAX_VERSION = 2 ** 63 - 1


def _check_export_args(args):
    """The flags of `zoo export` that need no model: a ValueError naming the first bad one."""
    import os

    from zoo.core.saving import check_writable_folder
    from zoo.roles.serving import check_export_options  # imports Keras: only when a command runs

    check_export_options(_parse_sets(args.opt))
    if args.version is not None and not 0 <= args.version <= MAX_VERSION:
        raise ValueError(f"`--version` must be an integer from 0 to 2**63-1 (TF Serving's int64 "
                         f"versions). Received: --version={args.version}")
    check_writable_folder(args.export_dir, "export_dir")
    check_writable_folder(os.path.join(args.export_dir, args.name), "export_dir/name")
    if args.keras_file is not None and not os.path.isfile(args.keras_file):
        raise ValueError(f"`--keras-file` must be an existing .keras file. "
                         f"Received: --keras-file={args.keras_file!r}")


def _cmd_export(args):
    import zoo.layers  # noqa: F401  (registers zoo's layers for loading a .keras file)
    from zoo.core.locks import shown_path
    from zoo.core.registry import check_folder_name, create_model
    from zoo.core.weights import load_model
    from zoo.export.archive import export_model, write_model_config
    from zoo.export.verification import verify

    check_folder_name(args.name, "name")  # before any model is loaded or built
    _check_export_args(args)
    if args.keras_file:  # a file saved by zoo carries the preprocessing its weights expect
        model = _with_run_folder(load_model(args.keras_file), args.keras_file)
    else:
        model = create_model(args.name, **_parse_sets(args.set))
    opts = _parse_sets(args.opt)  # checked by _check_export_args
    path = export_model(model, args.name, task=args.task, export_dir=args.export_dir,
                        version=args.version, **opts)
    if args.model_base_path:  # models.config for where the server sees the folder
        write_model_config(args.export_dir, base_path=args.model_base_path)
    print(shown_path(path))  # as the user named it (relative inside the working folder)
    if args.verify:
        report = verify(path, keras_model=model, tflite=args.tflite, onnx=args.onnx)
        _print_report(report)
        return 0 if report["ok"] else 1
    return 0


def _with_run_folder(model, keras_file):
    """`model` with what its run folder (the `.keras` file's folder) records beside it: the
    tokenizer of a text model (`tokenizer.model`, `tokenizer.json`) and the class names
    (`summary.json`), so that its export answers raw text with class names."""
    import os

    from zoo.data.text import load_text_settings, set_tokenizer
    from zoo.roles.class_names import class_names_of, set_class_names

    folder = os.path.dirname(os.path.abspath(keras_file))
    set_tokenizer(model, *load_text_settings(folder))
    summary = os.path.join(folder, "summary.json")
    if class_names_of(model) is None and os.path.isfile(summary):
        try:
            with open(summary) as f:
                set_class_names(model, json.load(f).get("class_names"))
        except (OSError, ValueError):
            pass  # a damaged summary: the export serves class indices as names
    return model


def _print_report(report):
    print(f"verify {report['path']} ({report['task']}): {'OK' if report['ok'] else 'FAILED'}")
    print(f"  zoo importable in the serving process: {not report['zoo_blocked']}")
    print(f"  saved_model_cli lists: {', '.join(report['saved_model_cli'])}")
    for key, sig in report["signatures"].items():
        ins = ", ".join(f"{n} {d}{s}" for n, (d, s) in sig["inputs"].items())
        outs = ", ".join(f"{n} {d}{s}" for n, (d, s) in sig["outputs"].items())
        print(f"  {key}({ins}) -> {outs}")
    for k, r in report["outputs"].items():
        print(f"  {k}: {'ok' if r['ok'] else 'MISMATCH'} {r}")
    if not report["outputs"]:
        print("  outputs not compared with a Keras model (give --keras-file); ran every signature")
    for conv in ("tflite", "onnx"):
        for k, v in report.get(conv, {}).items():
            print(f"  {conv} {k}: {v}")
    for p in report["problems"]:
        print(f"  problem: {p}")


def _cmd_verify(args):
    import zoo.layers  # noqa: F401  (registers zoo's layers for loading a .keras file)
    from zoo.core.weights import load_model
    from zoo.export.verification import find_exports, verify_many

    paths = [p for path in args.path for p in find_exports(path)]
    if not paths:
        raise ValueError(f"no export found under {args.path}. Received: path={args.path!r}")
    keras_files = args.keras_file or []
    if keras_files and len(keras_files) != len(paths):
        raise ValueError(
            f"`--keras-file` must be given once per export ({len(paths)}: {paths}). "
            f"Received: --keras-file={keras_files!r}"
        )
    items = [(p, load_model(k) if keras_files else None, {})
             for p, k in zip(paths, keras_files or [None] * len(paths))]
    reports = verify_many(items, tflite=args.tflite, onnx=args.onnx)
    if args.json:
        print(json.dumps(reports[0] if len(reports) == 1 else reports, indent=2, default=str))
    else:
        for report in reports:
            _print_report(report)
    return 0 if all(r["ok"] for r in reports) else 1


def add_cli(subparsers):
    """Add `zoo export` and `zoo verify` to the `zoo` command."""
    p = subparsers.add_parser("export", help="export a model as a SavedModel for TF Serving")
    p.add_argument("name", help="registered model name (also the served name)")
    p.add_argument("--keras-file", help="export this .keras file instead of building NAME")
    p.add_argument("--task", choices=EXPORT_TASKS + tuple(RENAMED_TASKS), default=None,
                   help="default: the registered task of NAME (the old names "
                        f"{', '.join(RENAMED_TASKS)} warn and give the new ones)")
    p.add_argument("--export-dir", default="saved_models")
    p.add_argument("--version", type=int, default=None)
    p.add_argument("--model-base-path", default=None, metavar="PATH",
                   help="the export folder as the server sees it (e.g. /models in the "
                        "tensorflow/serving container): models.config's base paths; default: "
                        "this machine's absolute path")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="builder override (JSON value)")
    p.add_argument("--opt", action="append", metavar="KEY=VALUE",
                   help="export option, e.g. preprocessing=torch, top_k=3, beam_size=4")
    p.add_argument("--verify", action="store_true", help="verify the export afterwards")
    p.add_argument("--tflite", action="store_true", help="with --verify: compare a TFLite conversion")
    p.add_argument("--onnx", action="store_true", help="with --verify: compare a tf2onnx conversion")
    p.set_defaults(func=_cmd_export)

    p = subparsers.add_parser("verify", help="check a SavedModel export in a process without zoo")
    p.add_argument("path", nargs="+",
                   help="saved_models/<name>/<version>, a model folder (all its versions) or an "
                        "export folder (every model's versions); all verified in one process")
    p.add_argument("--keras-file", action="append",
                   help="compare with this .keras model (once per export, in order)")
    p.add_argument("--tflite", action="store_true", help="also compare a TFLite conversion")
    p.add_argument("--onnx", action="store_true", help="also compare a tf2onnx conversion (onnxruntime)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_verify)
