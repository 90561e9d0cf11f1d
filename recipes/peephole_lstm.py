"""Peephole LSTM: sequence classification and the adding problem.

    zoo train peephole_lstm_regressor --dataset adding --steps 100       # embedded, MSE target
    zoo train peephole_lstm_classifier --dataset digits_rows             # embedded, 8 rows of 8
    zoo train peephole_lstm_classifier --dataset imdb_reviews --vocab-size 20000 --max-length 256

The task follows the model's registered task (`sequence_regression` -> mean squared error,
otherwise sparse cross-entropy), or `--task`. Text datasets (TFDS `imdb_reviews`, ...) are
tokenised with a `TextVectorization` vocabulary learned from the training split.
"""

import argparse
import sys

import tensorflow as tf

from zoo import data, train


def build_parser():
    p = argparse.ArgumentParser(prog="zoo train MODEL", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a registered sequence model (`zoo list --family peephole_lstm`)")
    p.add_argument("--dataset", default=None,
                   help="adding | digits_rows (embedded; default: adding for regression, else "
                        "digits_rows) | a TFDS text dataset (imdb_reviews)")
    p.add_argument("--task", choices=("auto", "classification", "regression"), default="auto",
                   help="auto: regression for sequence_regression models and the adding problem")
    p.add_argument("--steps", type=int, default=100, help="adding problem: sequence length")
    p.add_argument("--num-train", type=int, default=20_000, help="adding problem: examples")
    p.add_argument("--vocab-size", type=int, default=20_000, help="text: vocabulary")
    p.add_argument("--max-length", type=int, default=256, help="text: tokens per example")
    p.add_argument("--data-dir", default=None, help="TFDS data_dir")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="builder argument")
    return train.add_train_arguments(p, epochs=20, batch_size=64, learning_rate=1e-3,
                                     clipnorm=1.0)


def _registered_task(name):
    try:
        return train.zoo_task_of(name)
    except ValueError:
        return None


def _builder_params(name):
    import inspect

    from zoo.registry import get_spec

    try:
        return inspect.signature(get_spec(name).builder).parameters
    except ValueError:
        return {}


def make_source(args, regression):
    name = args.dataset or ("adding" if regression else "digits_rows")
    if name == "adding":
        return data.adding_source(steps=args.steps, num_train=args.num_train)
    if name in data.EMBEDDED:
        return data.get_source(name)
    src = data.tfds_source(name, data_dir=args.data_dir)
    texts = src.train(None).take(20_000).map(lambda text, label: text)
    vectorize = tf.keras.layers.TextVectorization(
        args.vocab_size, output_sequence_length=args.max_length)
    vectorize.adapt(texts.batch(512))
    src.preprocess = lambda ex, training: (vectorize(ex[0]), tf.cast(ex[1], tf.int32))
    src.info.update(input_shape=(args.max_length,), vocab_size=args.vocab_size)
    return src


def run(args, model_fn=None):
    task_name = args.task
    if task_name == "auto":
        registered = _registered_task(args.model) or ""
        task_name = "regression" if ("regression" in registered or args.dataset == "adding") \
            else "classification"
    regression = task_name == "regression"
    src = make_source(args, regression)
    info = src.info
    overrides = train.parse_overrides(args.set)
    if "vocabulary_size" in _builder_params(args.model):  # None: feature vectors (digits_rows)
        overrides = {"vocabulary_size": info.get("vocab_size"), **overrides}
    model_fn = model_fn or train.model_builder(
        args.model, overrides, input_shape=info.get("input_shape"),
        vocab_size=info.get("vocab_size"), classes=info.get("num_classes"), num_classes=info.get("num_classes"),
        outputs=1 if regression else None)
    task = train.RegressionTask() if regression else train.ClassificationTask()
    return train.run_recipe(args, task, src, model_fn).summary


def main(argv=None):
    summary = run(build_parser().parse_args(argv))
    print(f"{summary['name']} on {summary['dataset']}: held-out {summary['final_eval']}, "
          f"exported to {summary.get('export_path')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
