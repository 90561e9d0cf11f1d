"""Can DA-RNN's input attention tell the true drivers from noise series at all? A probe.

Trains only `zoo.layers.InputAttentionEncoder` (eq. 8-11) on the windows of the embedded
synthetic series, with a loss that asks directly for attention on the true drivers
(`-log` of their summed weight), and prints, after each epoch, their share of the weight over the
training windows against the uniform share. If the share climbs far above uniform, the attention
can represent the separation (from the content of each series' window: the drivers are smooth
AR(1) processes, the noise series white); whether the forecasting loss asks for it is another
question, answered by `benchmarks/da_rnn_synthetic.py` (docs/da_rnn.md).

    python benchmarks/da_rnn_attention_probe.py --num-drivers 40 --num-true 3 --length 3000
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--length", type=int, default=3000)
    p.add_argument("--num-drivers", type=int, default=40)
    p.add_argument("--num-true", type=int, default=3)
    p.add_argument("--relation", choices=("fixed", "switching"), default="fixed")
    p.add_argument("--window", type=int, default=10)
    p.add_argument("--units", type=int, default=16)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import keras
    from keras import ops

    from zoo.data import series as fd
    from zoo.layers.da_rnn import InputAttentionEncoder

    keras.utils.set_random_seed(args.seed)
    series = fd.synthetic_series(length=args.length, num_drivers=args.num_drivers,
                                 num_true=args.num_true, seed=args.seed, relation=args.relation)
    data = fd.prepare(series, window=args.window, val_fraction=0.1, test_fraction=0.1)
    x = ((data.train[0] - np.asarray(data.stats["driver_mean"]))
         / np.asarray(data.stats["driver_std"])).astype("float32")
    true = np.zeros(args.num_drivers, "float32")
    true[series.true_drivers] = 1.0

    inputs = keras.Input(x.shape[1:])
    _, alphas = InputAttentionEncoder(args.units)(inputs)
    model = keras.Model(inputs, alphas)

    def loss(_, alpha):
        return -ops.mean(ops.log(ops.sum(alpha * true, axis=-1) + 1e-9))

    model.compile(keras.optimizers.Adam(args.lr), loss)
    zeros = np.zeros((len(x),) + x.shape[1:], "float32")
    lines = ["| epoch | attention share on the true drivers / uniform |", "| ---: | ---: |"]
    for epoch in range(args.epochs + 1):
        if epoch:
            model.fit(x, zeros, batch_size=64, epochs=1, verbose=0)
        share, uniform = fd.attention_share(model.predict(x, verbose=0), series.true_drivers)
        lines.append(f"| {epoch} | {share / uniform:.2f} |")
        print(lines[-1], flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
