"""DA-RNN against its baselines on real series (the real-data table of docs/da_rnn.md).

For each series (`--series NAME=FILE:TARGET`, a CSV file with a header; every other numeric
column drives) and seed: DA-RNN and the same network without its attention stages (the LSTM
encoder-decoder), both as `zoo train da_rnn` builds them (forecast relative to the last observed
target, drivers relative to their last value in the window), trained with Adam on the training
rows, each keeping its epoch of lowest validation loss; a linear autoregression on the same
windows and the last value. Optionally (`--paper-seeds`) the paper's DA-RNN (standardised levels
in, level out) on the first seeds, for the before/after comparison. Nothing is downloaded: the
files come from a folder the user names.

    python benchmarks/da_rnn_real.py --series nasdaq=DIR/nasdaq100_padding.csv:NDX \\
        --series sml=DIR/sml2010.csv:3:Temperature_Comedor_Sensor --out benchmarks/results/da_rnn_real

Writes `<out>.json` (every run), `<out>.md` (test RMSE, MAE, MAPE: mean and standard deviation
over the seeds) and `--png` (the input attention per driving series and the temporal attention,
DA-RNN, first seed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

NAMES = {"da_rnn": "DA-RNN", "lstm_encoder_decoder": "LSTM encoder-decoder",
         "linear_ar": "linear AR (same window)", "last_value": "last value",
         "da_rnn_paper": "DA-RNN, the paper's output (levels in and out)"}


def run_series(name, path, target, args):
    import keras

    from zoo.data import series as fd
    from zoo.models.da_rnn import attention_model
    from zoo.tasks.forecasting import compare_forecasters

    series = fd.read_csv(path, target)
    keep = [k for k in range(series.drivers.shape[1])
            if np.ptp(series.drivers[:, k]) > 0]  # constant columns carry nothing
    series.drivers = series.drivers[:, keep]
    series.driver_names = [series.driver_names[k] for k in keep]
    data = fd.prepare(series, window=args.window)
    runs, alphas, betas = [], None, None
    for seed in range(args.seeds):
        t0 = time.time()
        res = compare_forecasters(data, units=args.units, epochs=args.epochs,
                                  learning_rate=args.lr, batch_size=args.batch_size, seed=seed,
                                  patience=args.patience, residual=True, window_relative=True)
        metrics = res["metrics"]
        if seed < args.paper_seeds:
            from zoo.models.da_rnn import da_rnn

            keras.utils.set_random_seed(seed)
            x, h, y = data.test
            paper = da_rnn(num_drivers=x.shape[-1], window=data.window, encoder_units=args.units,
                           decoder_units=args.units, **data.stats)
            paper.compile(keras.optimizers.Adam(args.lr), "mse")
            paper.fit(list(data.train[:2]), data.train[2], batch_size=args.batch_size,
                      epochs=args.epochs, verbose=0,
                      validation_data=(list(data.val[:2]), data.val[2]),
                      callbacks=[keras.callbacks.EarlyStopping(
                          "val_loss", patience=args.patience, restore_best_weights=True)])
            metrics["da_rnn_paper"] = fd.forecast_metrics(paper.predict([x, h], verbose=0), y)
        if seed == 0:
            _, a, b = attention_model(res["models"]["da_rnn"]).predict(list(data.test[:2]),
                                                                      verbose=0)
            alphas, betas = a.mean((0, 1)), b.mean(0)
        runs.append({"seed": seed, "metrics": metrics, "epochs": res["epochs"],
                     "seconds": time.time() - t0})
        print(f"{name} seed {seed}: " + ", ".join(
            f"{k} {v['rmse']:.4g}" for k, v in metrics.items()), flush=True)
    n_tr, n_va, n_te = data.rows
    y_tr = series.target[:n_tr]
    return {"runs": runs, "rows": data.rows, "drivers": len(keep),
            "driver_names": series.driver_names, "target": target,
            "train_range": [float(y_tr.min()), float(y_tr.max())],
            "test_range": [float(data.test[2].min()), float(data.test[2].max())],
            "alphas": alphas.tolist(), "betas": betas.tolist()}


def table(results, args, seconds):
    lines = []
    for name, res in results.items():
        lines += [f"**{name}** ({res['target']}, {res['drivers']} driving series, rows "
                  f"{res['rows'][0]} / {res['rows'][1]} / {res['rows'][2]}; test target range "
                  f"{res['test_range'][0]:.5g}-{res['test_range'][1]:.5g}, training "
                  f"{res['train_range'][0]:.5g}-{res['train_range'][1]:.5g})", "",
                  "| model | test RMSE | test MAE | test MAPE (%) | runs |",
                  "| --- | --- | --- | --- | --- |"]
        for key in ("da_rnn", "lstm_encoder_decoder", "linear_ar", "last_value", "da_rnn_paper"):
            vals = [r["metrics"][key] for r in res["runs"] if key in r["metrics"]]
            if not vals:
                continue
            cells = []
            for metric, fmt in (("rmse", ".4g"), ("mae", ".4g"), ("mape", ".3g")):
                v = np.array([m[metric] for m in vals])
                sd = f" ± {v.std(ddof=1):{fmt}}" if len(v) > 1 else ""
                cells.append(f"{v.mean():{fmt}}{sd}")
            lines.append(f"| {NAMES[key]} | " + " | ".join(cells) + f" | {len(vals)} |")
        lines.append("")
    lines.append(f"Mean ± standard deviation over seeds; window T = {args.window}, m = p = "
                 f"{args.units}, Adam at {args.lr}, batch {args.batch_size}, at most "
                 f"{args.epochs} epochs, each network keeps its epoch of lowest validation loss "
                 f"(patience {args.patience}); {seconds:.0f} s on {args.machine}.")
    return "\n".join(lines)


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 2, figsize=(12, 3.2 * len(results)), squeeze=False)
    for row, (name, res) in zip(axes, results.items()):
        a = np.array(res["alphas"])
        top = np.argsort(a)[::-1][:20]
        row[0].bar(range(len(top)), a[top])
        row[0].axhline(1.0 / len(a), color="k", ls="--", lw=1, label="uniform")
        row[0].set_xticks(range(len(top)))
        row[0].set_xticklabels([res["driver_names"][k][:12] for k in top], rotation=70,
                               fontsize=7)
        row[0].set_title(f"{name}: input attention (mean over test windows), top 20")
        row[0].legend(fontsize=7)
        b = np.array(res["betas"])
        row[1].bar(range(1, len(b) + 1), b)
        row[1].set_xlabel("encoder step (T = last)")
        row[1].set_title(f"{name}: temporal attention of the forecast")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--series", action="append", required=True, metavar="NAME=FILE:TARGET")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--paper-seeds", type=int, default=1)
    p.add_argument("--window", type=int, default=10)
    p.add_argument("--units", type=int, default=32)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--patience", type=int, default=4)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--out", default="benchmarks/results/da_rnn_real")
    p.add_argument("--png", default=None)
    p.add_argument("--machine", default="a 2-core AMD EPYC shared with other agents' work")
    args = p.parse_args(argv)
    t0 = time.time()
    results = {}
    for spec in args.series:
        name, _, rest = spec.partition("=")
        path, _, target = rest.partition(":")
        results[name] = run_series(name, path, target, args)
    md = table(results, args, time.time() - t0)
    print(md)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out + ".json", "w") as fh:
        json.dump({"args": vars(args), "results": results}, fh, indent=1)
    with open(args.out + ".md", "w") as fh:
        fh.write(md + "\n")
    if args.png:
        plot(results, args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
