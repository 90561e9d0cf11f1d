"""Hyperparameter search over a model's declared search space (keras-tuner), then export.

    python recipes/search.py highway_net --show-space        # the declared space, its grid size
    python recipes/search.py highway_net --tuner grid --set depth=10 --set width=50   # a subspace
    python recipes/search.py resnet50 --tuner bayesian --max-trials 10 --steps-per-epoch 50
    python recipes/search.py peephole_lstm_classifier --tuner hyperband --max-epochs 9
    python recipes/search.py transformer_base --full-size --set 'd_model=[256, 512]'
    # interrupted? run the same command again: finished trials are not re-run.

Trials train with the recipes' trainer (zoo.train) on the recipes' embedded data (zoo.data):
digits for the image models, digits rows for the LSTMs, the adding problem, sequence reversal.

Distributed (one chief, two workers, on one machine):

    export KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000
    KERASTUNER_TUNER_ID=chief  python recipes/search.py highway_net --tuner grid --time-limit 600 &
    KERASTUNER_TUNER_ID=tuner0 python recipes/search.py highway_net --tuner grid --time-limit 600 &
    KERASTUNER_TUNER_ID=tuner1 python recipes/search.py highway_net --tuner grid --time-limit 600

The chief writes `runs/tune/<name>_<tuner>/trials.{md,csv,png}` and exports the best model to
`saved_models/<name>/<version>/`. NAME may also be `module:attr` giving a `zoo.registry.ModelSpec`.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from zoo import tuning  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(prog="search.py")
    tuning.add_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["tune"] + list(sys.argv[1:] if argv is None else argv))
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
