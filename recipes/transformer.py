"""A Transformer on sequence reversal with tf.distribute, written out with zoo's Python API.

    python recipes/transformer.py --strategy mirrored --cpu-devices 2 --num-train 10000 \\
        --set num_layers=2 --set d_model=64 --set d_ff=128 --set num_heads=4 --set dropout=0 \\
        --epochs 6 --lr 1e-2 --warmup-steps 100

Trains `transformer_base` (or `--model transformer_big`) with teacher forcing on the embedded
reversal problem (no download), decodes test sources greedily, prints the exact-match rate
and exports the beam-search and greedy translation signatures. `zoo train NAME` is the same
recipe with TFDS translation datasets and subword tokenizers: zoo/tasks/translation.py.
"""

import argparse
import sys

from zoo import data, train
from zoo.tasks.translation import Translation


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="transformer_base", help="a registered translator")
    parser.add_argument("--max-length", type=int, default=20, help="longest sequence")
    parser.add_argument("--vocab", type=int, default=20, help="symbols")
    parser.add_argument("--num-train", type=int, default=20_000, help="training sequences")
    parser.add_argument("--decode-examples", type=int, default=500)
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="builder argument")
    args = train.add_train_arguments(parser, **Translation.flag_defaults).parse_args(argv)

    strategy = train.make_strategy(args.strategy, cpu_devices=args.cpu_devices)
    # (source, decoder input) -> labels; ids 0, 1, 2 are padding, begin and end
    source = data.reversal_source(args.max_length, args.vocab, num_train=args.num_train)
    target_len, vocab = source.info["target_len"], source.info["vocab_size"]
    # the loss is normalised by the global count of target tokens; the export serves decodings
    # of up to `max_length` tokens (with the begin token they fill the model's positions)
    task = Translation(label_smoothing=0.0, max_length=target_len - 1)
    model_fn = train.builder_fn(args.model, args.set, vocabulary_size=vocab, max_length=target_len)
    trainer = train.Trainer(task, source, model_fn, train.config_from_args(args, args.model),
                            strategy=strategy)
    summary = trainer.fit()
    task.after_training(trainer, args, source)  # greedy decoding of --decode-examples sources
    print(f"{args.model}: test token accuracy "
          f"{summary['final_test']['token_accuracy']:.4f}, greedy exact match "
          f"{summary['greedy_exact_match']:.4f} ({args.decode_examples} sequences), exported to "
          f"{summary.get('export_path')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
