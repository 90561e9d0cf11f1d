"""`zoo bench NAME|PATTERN ... [flags]` (argparse only; Keras is imported when the command runs).

Example:
    $ zoo bench "resnet5*" --rounds 10 --backend both --jit both
    $ zoo bench highway_net --mode infer --precision both --no-peers --out /tmp/bench
    $ zoo bench resnet50 inception_v3 --full-size --batch-size 8 16
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

__all__ = ["add_cli", "check_args", "names_matching"]

BOTH = {"backend": ("tensorflow", "jax"), "jit": ("off", "on"), "precision": ("float32", "mixed"),
        "mode": ("train", "infer")}


def _both(value, flag):
    return BOTH[flag] if value == "both" else (value,)


def names_matching(patterns, argument="NAME"):
    """The registered models matching `patterns` (names or wildcards), in order, each once; a
    ValueError naming `argument` for a pattern that matches none."""
    from zoo.core.registry import list_models

    names = []
    for pattern in patterns:
        found = list_models(pattern)
        if not found:
            raise ValueError(f"No registered model matches {pattern!r} (see `zoo list`). "
                             f"Received: {argument}={pattern!r}")
        names += [n for n in found if n not in names]
    return names


def check_args(args):
    """The models and settings of `args`; ValueError naming the first bad flag, before any
    work."""
    from zoo.core.saving import check_writable_folder

    full = args.full_size
    defaults = {"rounds": 3 if full else 10, "warmup": 1 if full else 2,
                "length": None if full else 16}
    for flag, value in defaults.items():
        if getattr(args, flag) is None:
            setattr(args, flag, value)
    batches = args.batch or ([] if full else [2])
    for value in batches:
        if value < 1:
            raise ValueError(f"--batch must be at least 1. Received: --batch={value}")
    if full and args.rounds < 3:
        raise ValueError(f"--rounds must be at least 3 with --full-size (the spread of 3 "
                         f"timings). Received: --rounds={args.rounds}")
    for flag, least in (("steps", 1), ("rounds", 2), ("warmup", 1), ("length", 1)):
        value = getattr(args, flag)
        if value is not None and value < least:
            raise ValueError(f"--{flag} must be at least {least}"
                             f"{' (a confidence interval needs two rounds)' if flag == 'rounds' else ''}"
                             f"{' (the first step traces)' if flag == 'warmup' else ''}. "
                             f"Received: --{flag}={value}")
    if args.size is not None and args.size < 8:
        raise ValueError(f"--size must be at least 8. Received: --size={args.size}")
    check_writable_folder(args.out, "--out")  # a file there or above it, an unwritable parent
    backends = _both(args.backend, "backend")
    for backend in backends:
        if importlib.util.find_spec(backend) is None:
            raise ValueError(f"--backend {backend} needs the `{backend}` package, which is not "
                             f"installed. Received: --backend={args.backend}")
    names = names_matching(args.patterns)
    settings = {"batch": tuple(batches) if len(batches) > 1 else (batches or [None])[0],
                "size": args.size, "length": args.length, "full_size": full, "twin": args.twin,
                "steps": args.steps, "rounds": args.rounds, "warmup": args.warmup,
                "precisions": _both(args.precision, "precision"),
                "jits": tuple(j == "on" for j in _both(args.jit, "jit")),
                "modes": _both(args.mode, "mode"), "peers": args.peers, "seed": args.seed}
    return names, backends, settings


def _cmd_bench(args):
    names, backends, settings = check_args(args)
    from zoo.bench import bench
    from zoo.bench.report import format_table, write_results

    def progress(line):
        if not args.quiet:
            print(f"zoo bench: {line}", file=sys.stderr, flush=True)

    try:
        rows, kind = bench(names, backends=backends, progress=progress, isolate=args.isolate,
                           **settings)
    except RuntimeError as e:
        print(f"zoo bench: {e}", file=sys.stderr)
        return 1
    print(format_table(rows))
    csv_path, md_path = write_results(rows, args.out, kind, full_size=args.full_size)
    print(f"\nwritten: {csv_path}, {md_path}")
    failed = sorted({r["model"] for r in rows if r.get("note")})
    if failed:
        print(f"zoo bench: failed settings for {', '.join(failed)} (see the note column)",
              file=sys.stderr)
        return 1
    return 0


def add_cli(subparsers):
    """Add `zoo bench NAME|PATTERN ... [flags]`."""
    p = subparsers.add_parser(
        "bench", help="training and inference throughput against the peers",
        description="Time registered models (training step and batch inference) against their "
                    "peers and an A/A twin, interleaved over rounds in random order; print a "
                    "table and write CSV + Markdown to --out (bench-<machine kind>.csv/.md).")
    p.add_argument("patterns", nargs="+", metavar="NAME|PATTERN",
                   help="registered names or wildcards, e.g. 'resnet*'")
    p.add_argument("--full-size", action="store_true",
                   help="each model's registered configuration at its default input size (224, "
                        "299; the cards' 64 tokens), with its FLOP/s and fraction of the "
                        "machine's matmul peak, measured before it; into bench-<kind>-full.csv")
    p.add_argument("--batch", "--batch-size", dest="batch", type=int, nargs="+", default=None,
                   metavar="N", help="batch size(s), each in turn (default 2; with --full-size "
                                     "the largest power of two in [4, 256] whose forward pass "
                                     "is at most 32 G multiply-adds)")
    p.add_argument("--size", type=int, default=None,
                   help="image side in pixels (default: the registry's test size of each model, "
                        "the default input size with --full-size)")
    p.add_argument("--length", type=int, default=None,
                   help="length of inputs without a fixed one: tokens, nodes (default 16; with "
                        "--full-size the card's, e.g. 64 tokens)")
    p.add_argument("--steps", type=int, default=1,
                   help="consecutive steps per timing, at least (more for fast models: a timing "
                        "lasts about 20 ms; default 1)")
    p.add_argument("--rounds", type=int, default=None,
                   help="timed rounds (default 10; 3 with --full-size)")
    p.add_argument("--warmup", type=int, default=None,
                   help="untimed rounds first (default 2; 1 with --full-size)")
    p.add_argument("--backend", choices=("tensorflow", "jax", "both"), default="tensorflow",
                   help="Keras backend(s); another than this process's runs in a child process")
    p.add_argument("--jit", choices=("off", "on", "both"), default="off",
                   help="jit_compile (XLA) setting(s) (default off)")
    p.add_argument("--precision", choices=("float32", "mixed", "both"), default="float32",
                   help="float32, mixed (mixed_float16 on a GPU, mixed_bfloat16 on a CPU), both")
    p.add_argument("--mode", choices=("train", "infer", "both"), default="both",
                   help="training step (train_on_batch), batch inference, or both (default)")
    p.add_argument("--peers", action=argparse.BooleanOptionalAction, default=True,
                   help="time the peer where one exists (default on)")
    p.add_argument("--twin", action=argparse.BooleanOptionalAction, default=None,
                   help="time an A/A twin, the noise control (default on; off with --full-size)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, data, orders")
    p.add_argument("--isolate", action=argparse.BooleanOptionalAction, default=None,
                   help="each model in a process of its own, so that no model's memory (XLA "
                        "executables, traced graphs) outlives it (default: on when several "
                        "models are named)")
    p.add_argument("--out", default=os.path.join("benchmarks", "results"),
                   help="results folder (default benchmarks/results)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_cmd_bench)
