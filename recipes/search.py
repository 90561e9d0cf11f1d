"""A keras-tuner search over a registered model's declared search space, then its export.

    python recipes/search.py highway_net --show-space            # the space and its grid size
    python recipes/search.py highway_net --tuner grid --set depth=5 --set width=16 \\
        --set activation=relu --set learning_rate=0.03 --steps-per-epoch 5     # 7 trials
    python recipes/search.py peephole_lstm_classifier --tuner hyperband --max-epochs 9
    # interrupted? run the same command again: finished trials are not run again

The flags are those of `zoo tune NAME` (`zoo.tuning.add_cli`, `zoo tune --help`), distributed
searches included (docs/tuning.md). Trials train with `zoo.train.Trainer` on the task's embedded
search data; the results go to `<directory>/<name>_<tuner>/trials.{md,csv,png}` and the best
model to `saved_models/<name>/<version>/`. In Python the search is one call:

    from zoo import tuning
    result = tuning.run_search("highway_net", tuning.SearchSettings(tuner="grid", steps_per_epoch=5,
        restrict={"depth": 5, "width": 16, "activation": "relu", "learning_rate": 0.03}))
    result["best_hyperparameters"], result["export_path"]
"""

import argparse
import sys

from zoo import tuning


def main(argv=None):
    commands = argparse.ArgumentParser(prog="search.py").add_subparsers()
    tuning.add_cli(commands)  # `zoo tune NAME`: its parser, and `run_search` with its flags
    parser = commands.choices["tune"]
    parser.prog = "search.py"
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
