"""`zoo tune NAME` (argparse only; TensorFlow and keras-tuner are imported when a search runs)."""

from __future__ import annotations

import sys

from zoo.core.registry import parse_overrides, resolve_spec
from zoo.core.spaces import TUNERS, format_space, grid_trials, restricted_space
from zoo.train.config import CLUSTERS
from zoo.tuning.settings import SearchSettings, check_restrict
from zoo.tuning.transport import TOKEN_ENV, Refused, check_security, role_from_env

__all__ = ["add_cli"]


def _parse_restrict(items):
    return parse_overrides(items)  # `--set KEY=VALUE`, JSON values, as the recipes'


def settings_of(args, security=None) -> SearchSettings:
    """The `SearchSettings` of `zoo tune`'s flags."""
    return SearchSettings(
        tuner=args.tuner, directory=args.directory, project_name=args.project_name,
        max_trials=args.max_trials, epochs=args.epochs, max_epochs=args.max_epochs,
        objective=args.objective, overwrite=args.overwrite,
        base_overrides={} if args.full_size else None, export=not args.no_export,
        export_dir=args.export_dir, time_limit=args.time_limit, num_workers=args.num_workers,
        restrict=_parse_restrict(args.set), steps_per_epoch=args.steps_per_epoch,
        eval_examples=args.eval_examples, batch_size=args.batch_size, security=security)


def _join_cluster(args):
    """keras-tuner's variables from `--cluster` (zoo.train.cluster.tuner_environment); the chief
    listens at its own cluster address unless `--oracle-address` says otherwise."""
    import os

    from zoo.train.cluster import tuner_environment

    env = tuner_environment(args.cluster, args.cluster_port)
    if env:
        os.environ.update({k: v for k, v in env.items() if k.startswith("KERASTUNER_")})
        args.num_workers = int(env["ZOO_TUNER_WORKERS"])
        if env["KERASTUNER_TUNER_ID"] == "chief" and args.oracle_address is None:
            args.oracle_address = env["KERASTUNER_ORACLE_IP"]
        print(f"[zoo.tune] cluster {args.cluster}: this task is {env['KERASTUNER_TUNER_ID']} of "
              f"{args.num_workers} worker(s); oracle at {env['KERASTUNER_ORACLE_IP']}:"
              f"{env['KERASTUNER_ORACLE_PORT']}", flush=True)


def _cmd_tune(args):
    spec = resolve_spec(args.name)  # a bad name or `module:attr`: one line, before any work
    restrict = _parse_restrict(args.set)
    if args.show_space:  # the space alone: no TensorFlow, no keras-tuner
        print(f"{spec.name}: {'declared' if spec.search_space else 'default (training only)'} search space")
        space = spec.search_space
        if space is None:  # the task's default (imports the task: TensorFlow)
            from zoo.tasks import space_of
            space = space_of(spec)
        check_restrict(space, restrict)
        for line in format_space(restricted_space(space, restrict)):
            print("  " + line)
        print(f"  grid: {len(grid_trials(space, restrict))} trials")
        return 0
    if args.cluster != "none":  # the chief's and workers' roles from the scheduler
        _join_cluster(args)
    security = check_security(oracle_address=args.oracle_address, tls_cert=args.tls_cert,
                              tls_key=args.tls_key, tls_ca=args.tls_ca, token_file=args.token_file,
                              role=role_from_env())
    settings = settings_of(args, security).validate()  # every flag, before any folder is made
    try:
        from zoo.tuning.search import run_search

        res = run_search(args.name, settings)
    except Refused as e:  # a worker the chief refused: one line, no traceback
        print(f"zoo: error: {e}", file=sys.stderr)
        return 1
    if "table_md" in res:
        print(open(res["table_md"]).read())
    return 0


def add_cli(subparsers):
    """Add `zoo tune NAME` to the `zoo` command."""
    p = subparsers.add_parser("tune", help="keras-tuner search over a model's declared search space")
    p.add_argument("name", help="registered model name (or module:attr giving a ModelSpec)")
    p.add_argument("--tuner", choices=TUNERS, default="random")
    p.add_argument("--max-trials", type=int, default=6)
    p.add_argument("--epochs", type=int, default=1, help="epochs per trial")
    p.add_argument("--max-epochs", type=int, default=3, help="hyperband's largest budget")
    p.add_argument("--objective", default=None,
                   help="default val_loss (frechet, lower is better, for the DCGAN's image tasks)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="search a subspace: fix a hyperparameter (d_model=16) or restrict its "
                        "choices (dropout=[0.0,0.1]); JSON values")
    p.add_argument("--steps-per-epoch", type=int, default=None,
                   help="trainer steps per epoch (default: the training examples / batch)")
    p.add_argument("--eval-examples", type=int, default=256, help="held-out examples scoring a trial")
    p.add_argument("--batch-size", type=int, default=None, help="default: the space's or 32")
    p.add_argument("--show-space", action="store_true", help="print the declared space and exit")
    p.add_argument("--directory", default="runs/tune")
    p.add_argument("--project-name", default=None)
    p.add_argument("--overwrite", action="store_true", help="start afresh instead of resuming")
    p.add_argument("--full-size", action="store_true",
                   help="search the full model, not the card's small test configuration")
    p.add_argument("--no-export", action="store_true")
    p.add_argument("--export-dir", default="saved_models")
    p.add_argument("--time-limit", type=float, default=None,
                   help="seconds; distributed chief and workers exit by then")
    p.add_argument("--num-workers", type=int, default=2, help="distributed: workers the chief waits for")
    p.add_argument("--oracle-address", default=None, metavar="HOST",
                   help="distributed chief: the address it listens on (default 127.0.0.1, this machine "
                        "only; workers dial KERASTUNER_ORACLE_IP)")
    p.add_argument("--tls-cert", default=None, metavar="FILE",
                   help="distributed chief: its TLS certificate (PEM), with --tls-key; on a worker, "
                        "trusted when --tls-ca is not given")
    p.add_argument("--tls-key", default=None, metavar="FILE",
                   help="distributed chief: its TLS private key (PEM)")
    p.add_argument("--tls-ca", default=None, metavar="FILE",
                   help="distributed worker: the certificate (PEM) it trusts for the chief")
    p.add_argument("--token-file", default=None, metavar="FILE",
                   help=f"distributed: a file holding the token workers must present (default: ${TOKEN_ENV})")
    p.add_argument("--cluster", choices=CLUSTERS, default="none",
                   help="a distributed search's chief and workers from the scheduler: the first "
                        "task is the chief (zoo.train.cluster.tuner_environment)")
    p.add_argument("--cluster-port", type=int, default=8888,
                   help="--cluster slurm: the first task's port on each node (the oracle's)")
    p.set_defaults(func=_cmd_tune)
