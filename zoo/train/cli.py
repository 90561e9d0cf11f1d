"""`zoo train NAME [flags]` (argparse only; TensorFlow is imported when the command runs)."""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_cli"]


def _cmd_train(args):
    from zoo.train.backend import check_backend

    check_backend()  # before `import keras`, which fails under a backend whose package is missing
    from zoo.train.recipe import build_parser, train_task
    from zoo.train.trainer import NonFiniteLossError, WorkerLostError

    parser = build_parser(args.name)
    try:
        trainer = train_task(args.name, parser.parse_args(list(args.recipe_args)))
    except (NonFiniteLossError, WorkerLostError) as e:
        print(f"zoo train: {e}", file=sys.stderr)
        return 1
    print(trainer.task_report)
    return 0


def add_cli(subparsers):
    """Add `zoo train NAME [flags]`: the flags after NAME are the task's recipe flags."""
    p = subparsers.add_parser(
        "train", help="train a registered model with its task's recipe",
        description="Train a registered model with its task's recipe; the flags after NAME are "
                    "the recipe's (see `zoo train NAME --help`).")
    p.add_argument("name")
    p.add_argument("recipe_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=_cmd_train)
