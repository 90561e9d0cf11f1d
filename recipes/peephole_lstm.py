"""Peephole LSTMs with tf.distribute: `zoo train`'s recipe for a sequence task, step by step.

    python recipes/peephole_lstm.py --strategy mirrored --cpu-devices 2 --steps 50 --epochs 5
    python recipes/peephole_lstm.py --model peephole_lstm_classifier --set units=32   # digits rows

The flags are those of `zoo train MODEL` (`zoo.train.recipe.build_parser`: the task's, `--set`
and the trainer's), so every dataset of the task works: the adding problem (the regressor's
default, mean squared error), the digits as 8 rows of 8 features (the classifier's), a TFDS text
dataset (`--dataset imdb_reviews`). The task module, zoo/tasks/sequence_regression.py (and
sequence_classification.py, sequence.py), holds the recipe.
"""

import argparse
import sys

import zoo
from zoo import train
from zoo.tasks import task_for
from zoo.train.recipe import build_parser

MODELS = ("peephole_lstm_regressor", "peephole_lstm_classifier")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    pick = argparse.ArgumentParser(add_help=False)
    pick.add_argument("--model", choices=MODELS, default=MODELS[0])
    name = pick.parse_known_args(argv)[0].model
    parser = build_parser(name)  # the flags of `zoo train NAME`, with its task's defaults
    parser.prog = "peephole_lstm.py"
    parser.add_argument("--model", choices=MODELS, default=name, help="the registered model")
    args = parser.parse_args(argv)

    # the strategy first: `multi_worker` (TF_CONFIG) must start before other TensorFlow work
    strategy = train.make_strategy(args.strategy, cpu_devices=args.cpu_devices)
    spec = zoo.get_spec(name)
    task = task_for(spec)  # SequenceRegression (MSE, MAE) or SequenceClassification (accuracy)
    source, fixed = task.make_source(spec, args)  # and the builder arguments the data fixes
    model_fn = task.model_fn(spec, args, source, fixed)  # built in the strategy's scope
    trainer = train.Trainer(task, source, model_fn, train.config_from_args(args, name),
                            strategy=strategy)
    summary = trainer.fit()
    print(f"{summary['params']:,} parameters, {summary['replicas']} replica(s), "
          f"{summary['examples_per_second'] or 0:.0f} examples/s: {task.report(summary)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
