"""The GCN (Kipf & Welling 2017) on a graph: `zoo train gcn`'s recipe for node classification.

    python recipes/gcn.py                                            # Zachary's karate club
    python recipes/gcn.py --planetoid ~/gcn/gcn/data --dataset cora   # Kipf's Planetoid files

The flags are those of `zoo train gcn` (`zoo.train.recipe.build_parser`: the task's, `--set` and
the trainer's, with the paper's Adam at 0.01 for 200 full-graph epochs). The task module,
zoo/tasks/node_classification.py, holds the recipe: the whole graph is one example, the loss
covers the labelled nodes only, the held-out accuracy is the test nodes'. One graph is one
example, so a run uses one replica (`--strategy one_device`, this recipe's default).
"""

import sys

import zoo
from zoo import train
from zoo.tasks import task_for
from zoo.train.recipe import build_parser

NAME = "gcn"


def main(argv=None):
    parser = build_parser(NAME)  # the flags of `zoo train gcn`, with its task's defaults
    parser.prog = "gcn.py"
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))

    strategy = train.make_strategy(args.strategy, cpu_devices=args.cpu_devices)
    spec = zoo.get_spec(NAME)
    task = task_for(spec).from_args(args)  # NodeClassification on --dataset / --planetoid
    source, fixed = task.make_source(spec, args)  # one graph; num_features and classes
    model_fn = task.model_fn(spec, args, source, fixed)  # built in the strategy's scope
    trainer = train.Trainer(task, source, model_fn, train.config_from_args(args, NAME),
                            strategy=strategy)
    trainer.fit()
    task.after_training(trainer, args, source)  # accuracy on the train / val / test nodes
    print(f"{trainer.summary['params']:,} parameters: {task.report(trainer.summary)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
