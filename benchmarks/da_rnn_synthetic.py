"""DA-RNN against its baselines on the embedded synthetic series (the table of docs/da_rnn.md).

Trains DA-RNN and the same network without its attention stages (a plain LSTM encoder-decoder
of the same sizes) on `zoo.data.series.synthetic_series`, fits a linear
autoregression on the same windows and takes the last value, and writes:

* a Markdown table of test RMSE, MAE and MAPE (in the series' units) of the four, with the input
  attention's share on the true drivers against uniform attention's;
* a PNG (`--png`, shown in docs/da_rnn.md): the mean input attention per driving series (true
  drivers marked) and the forecasts against the truth over the first test windows.

    python benchmarks/da_rnn_synthetic.py --out benchmarks/results/da_rnn_synthetic
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


def table(result, args, seconds):
    m = result["metrics"]
    names = {"da_rnn": "DA-RNN", "lstm_encoder_decoder": "LSTM encoder-decoder (no attention)",
             "linear_ar": "linear autoregression (same window)", "last_value": "last value"}
    lines = ["| model | test RMSE | test MAE | test MAPE (%) |", "| --- | --- | --- | --- |"]
    for key in ("da_rnn", "lstm_encoder_decoder", "linear_ar", "last_value"):
        lines.append(f"| {names[key]} | {m[key]['rmse']:.4f} | {m[key]['mae']:.4f} | "
                     f"{m[key]['mape']:.1f} |")
    share, uniform = result["attention"]
    lines += ["", f"Input attention on the {args.num_true} true drivers among {args.num_drivers}: "
                  f"{share:.3f} of the weight on average over the test windows and steps "
                  f"(uniform: {uniform:.3f}; ratio {share / uniform:.2f}).",
              "", f"Series of {args.length} rows ({args.relation} relation, seed {args.seed}), "
                  f"window T = {args.window}, "
                  f"m = p = {args.units}, {args.epochs} epochs of Adam at {args.lr}, batch "
                  f"{args.batch_size}; {seconds:.0f} s."]
    if args.patience:
        kept = result["epochs"]
        lines[-1] = lines[-1].replace(f"{args.epochs} epochs", (
            f"at most {args.epochs} epochs (each network keeps its epoch of lowest validation "
            f"loss, patience {args.patience}: DA-RNN epoch {kept['da_rnn'][0]} of "
            f"{kept['da_rnn'][1]}, LSTM encoder-decoder epoch {kept['lstm_encoder_decoder'][0]} "
            f"of {kept['lstm_encoder_decoder'][1]})"))
    return "\n".join(lines) + "\n"


def plot(result, data, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    alphas = np.asarray(result["alphas"]).mean(axis=(0, 1))
    true = data.series.true_drivers
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.6))
    colors = ["tab:red" if k in true else "tab:gray" for k in range(len(alphas))]
    a.bar(range(len(alphas)), alphas, color=colors)
    a.axhline(1 / len(alphas), color="k", lw=0.8, ls="--", label="uniform")
    a.set_xlabel("driving series (red: true drivers)")
    a.set_ylabel("mean input attention")
    a.legend()
    x, h, y = data.test
    n = min(120, len(y))
    b.plot(y[:n, 0], "k", lw=1.2, label="truth")
    for key, style in (("da_rnn", "tab:red"), ("lstm_encoder_decoder", "tab:blue")):
        b.plot(result["models"][key].predict([x[:n], h[:n]], verbose=0)[:, 0], color=style,
               lw=0.9, label=key)
    b.set_xlabel("test window")
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--length", type=int, default=6000)
    p.add_argument("--num-drivers", type=int, default=40)
    p.add_argument("--num-true", type=int, default=3)
    p.add_argument("--relation", choices=("fixed", "switching"), default="switching",
                   help="the target's relation to its drivers (zoo.data.series."
                        "synthetic_series): the same drivers in every window, or the driver of "
                        "highest recent level")
    p.add_argument("--window", type=int, default=10)
    p.add_argument("--units", type=int, default=16)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--patience", type=int, default=5,
                   help="keep each network's epoch of lowest validation loss, stop after "
                        "PATIENCE epochs without a lower one (default 5; 0: train all epochs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=os.path.join("benchmarks", "results", "da_rnn_synthetic"),
                   help="writes OUT.md (the table), OUT.json")
    p.add_argument("--png", default=os.path.join("docs", "da_rnn_synthetic.png"),
                   help="the attention and forecast plot (shown in docs/da_rnn.md)")
    args = p.parse_args(argv)

    from zoo.data import series as fd
    from zoo.tasks.forecasting import compare_forecasters

    t0 = time.time()
    series = fd.synthetic_series(length=args.length, num_drivers=args.num_drivers,
                                 num_true=args.num_true, seed=args.seed,
                                 relation=args.relation)
    data = fd.prepare(series, window=args.window, val_fraction=0.1, test_fraction=0.1)
    result = compare_forecasters(data, units=args.units, epochs=args.epochs,
                                 learning_rate=args.lr, batch_size=args.batch_size,
                                 seed=args.seed, patience=args.patience or None)
    text = table(result, args, time.time() - t0)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out + ".md", "w") as f:
        f.write(f"`python benchmarks/da_rnn_synthetic.py {' '.join(sys.argv[1:])}`\n\n{text}")
    with open(args.out + ".json", "w") as f:
        json.dump({"metrics": result["metrics"], "attention": result["attention"],
                   "epochs": result["epochs"], "args": vars(args)}, f, indent=1)
    plot(result, data, args.png)
    print(text)


if __name__ == "__main__":
    main()
