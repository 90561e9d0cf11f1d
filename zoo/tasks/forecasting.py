"""Forecasting: the next value(s) of a target series from a window of driving series and the
target's own history (DA-RNN, Qin et al. 2017).

* Data (`zoo train NAME`): the embedded synthetic default with known drivers
  (`zoo.data.series.synthetic_series`: `--series-length`, `--num-drivers`,
  `--num-true-drivers`, `--relation`), or any CSV file (`--csv FILE --target COLUMN [--drivers A,B,...]`, e.g.
  the paper's `nasdaq100_padding.csv` with `--target NDX`). A time column (`--time-column COL`,
  or a first column of ISO dates such as `2024-01-01T00:00`) orders the rows and is no driver.
  Sliding windows of `--window` steps, chronological train / validation / test splits
  (`--val-fraction`, `--test-fraction`; the paper's proportions by default: 35,100 / 2,730 /
  2,730 rows of NASDAQ 100), standardisation fitted on the training rows only and passed to
  the builder, so that the model (and its export) takes raw values and returns raw values.
* Training: mean squared error in standardised units (the raw error over the target's training
  standard deviation, which the model carries); metrics RMSE, MAE and MAPE (%) in the data's own
  units. Adam at 0.001 divided by 10 every 10,000 steps (`--lr-decay-steps`), batch 128: the
  paper's. After training, the test split's metrics and those of two baselines on the same
  windows (the last value; a linear autoregression fitted on the training windows) are added to
  the run's summary (`test`: all three; `baselines`: the two) and shown on the final line; the
  summary also records the `target`, the `drivers` in the models' input order and, with a time
  column, `time_column` and `time_range` (first, last).
* The model forecasts relative to the last observed values (`--residual`, `--window-relative`,
  both on by default; `--no-residual --no-window-relative` trains the paper's model): on real
  series whose level moves (an index, a temperature) the paper's model, reading standardised
  levels, misses the level of the test split (docs/da_rnn.md has the measurement).
* Serving: `serving_default` takes `drivers` float32 `[N, T, n]` and `history` float32
  `[N, T-1]` in raw units and returns `forecast` `[N, horizon]`; `attention` also returns the
  input attention `[N, T, n]` and the temporal attention `[N, T]` of the forecast, and
  where the names are known (a trained model, or the `driver_names` export option)
  `driver_names` `[N, n]` (string): the driving series of the input attention's last axis, in
  order. A trained model's export records `target_name` and `driver_names` in the options of its
  `signatures.json` and in the outputs' docs.
* Search: trials train on the synthetic default, windowed at the longest window of the space;
  each trial reads the last T steps of every window (its own window size).

Example:
    >>> from zoo.tasks import task_for
    >>> task_for("da_rnn").monitor
    'rmse'
"""

from __future__ import annotations

import argparse
from typing import Any, Dict

import numpy as np
import tensorflow as tf

from zoo.data import series as fdata
from zoo.data.series import forecasting_source
from zoo.layers.da_rnn import Standardize
from zoo.models.da_rnn import ResidualToLast, attention_model
from zoo.roles.serving import Endpoint, TensorDoc, named_function
from zoo.roles.task import Task, export_note, f32
from zoo.tasks.image_classification import limit_eval

__all__ = ["Forecasting", "TASK", "forecasting_source", "target_scale", "evaluate_windows",
           "compare_forecasters", "SEARCH_WINDOW", "set_series_names", "series_names_of"]

# trials of a search train on windows this long and read their own last T steps
SEARCH_WINDOW = 25
# the attribute of a model that holds the names of the series it was trained on
SERIES_NAMES_ATTR = "_zoo_series_names"


def set_series_names(model, target_name, driver_names):
    """Record on `model` the names of its target and its driving series (input order), which
    its export serves (`target_name`, `driver_names` export options); returns `model`."""
    object.__setattr__(model, SERIES_NAMES_ATTR, {"target_name": str(target_name),
                                                  "driver_names": [str(d) for d in driver_names]})
    return model


def series_names_of(model) -> Dict[str, Any]:
    """`{"target_name", "driver_names"}` recorded on `model` by `set_series_names`, or `{}`."""
    return dict(getattr(model, SERIES_NAMES_ATTR, None) or {})


def target_scale(model) -> float:
    """The target's training standard deviation a forecasting model carries (its inverse
    `Standardize` output layer), else 1: the loss is the squared error in standardised units."""
    for layer in reversed(model.layers):
        if (isinstance(layer, Standardize) and layer.invert) or isinstance(layer, ResidualToLast):
            return float(layer.std if not isinstance(layer.std, list) else layer.std[0])
    return 1.0


class Forecasting(Task):
    """See the module docstring.

    Args:
        lr_decay_steps: the learning rate is divided by `lr_decay_rate` every this many steps
            (0: constant).
        lr_decay_rate: the factor (0.1 in the paper).
        residual, window_relative: the builder's (DA-RNN's forecast relative to the last
            observed values; see `zoo.models.da_rnn`).
    """

    name = "forecasting"
    monitor = "rmse"
    objective = ("val_loss", "min")
    flag_defaults = dict(epochs=10, batch_size=128, learning_rate=1e-3, optimizer="adam")

    def __init__(self, lr_decay_steps=10_000, lr_decay_rate=0.1, residual=True,
                 window_relative=True):
        if not isinstance(lr_decay_steps, int) or lr_decay_steps < 0:
            raise ValueError("`lr_decay_steps` must be a non-negative integer. "
                             f"Received: lr_decay_steps={lr_decay_steps!r}")
        if not 0 < lr_decay_rate <= 1:
            raise ValueError("`lr_decay_rate` must be in (0, 1]. "
                             f"Received: lr_decay_rate={lr_decay_rate!r}")
        self.lr_decay_steps = lr_decay_steps
        self.lr_decay_rate = lr_decay_rate
        self.residual, self.window_relative = bool(residual), bool(window_relative)

    # ------------------------------------------------------------------------- training
    def build_optimizers(self, model, make_optimizer):
        """The recipe's optimizer with its learning rate divided by `lr_decay_rate` every
        `lr_decay_steps` steps (the paper: Adam, 0.001, divided by 10 every 10,000 steps)."""
        import keras

        opt = make_optimizer()
        inner = getattr(opt, "inner_optimizer", opt)
        schedules = keras.optimizers.schedules
        if self.lr_decay_steps and not isinstance(inner.learning_rate,
                                                  schedules.LearningRateSchedule):
            # a new optimizer of the same configuration (replacing the learning rate of a built
            # one would change the variables a checkpoint tracks)
            config = inner.get_config()
            config["learning_rate"] = schedules.serialize(schedules.ExponentialDecay(
                float(config["learning_rate"]), self.lr_decay_steps, self.lr_decay_rate,
                staircase=True))
            decayed = type(inner).from_config(config)
            opt = keras.optimizers.LossScaleOptimizer(decayed) if inner is not opt else decayed
        return {"optimizer": opt}

    def forward(self, model, batch, training):
        (drivers, history), y = batch
        window = model.inputs[0].shape[1]
        if window is not None:  # a search's windows are longer: read the last T steps
            drivers, history = drivers[:, -window:], history[:, -(window - 1):]
        out = f32(model([drivers, history], training=training))
        y = tf.reshape(f32(y), tf.shape(out))
        err = out - y
        sq = tf.reduce_mean(tf.square(err), axis=-1)
        loss_sum = tf.reduce_sum(sq) / target_scale(model) ** 2
        nonzero = tf.cast(tf.abs(y) > 1e-12, tf.float32)
        ape = tf.abs(err) / tf.maximum(tf.abs(y), 1e-12) * nonzero
        return loss_sum, {"loss_sum": loss_sum, "mse_sum": tf.reduce_sum(sq),
                          "mae_sum": tf.reduce_sum(tf.reduce_mean(tf.abs(err), -1)),
                          "ape_sum": tf.reduce_sum(ape), "ape_count": tf.reduce_sum(nonzero),
                          "count": tf.cast(tf.shape(out)[0], tf.float32)}

    def summarize(self, sums: Dict[str, float]) -> Dict[str, float]:
        count = max(float(sums.get("count", 1.0)), 1e-12)
        out = {"loss": float(sums.get("loss_sum", 0.0)) / count}
        if "mse_sum" in sums:
            out["rmse"] = (float(sums["mse_sum"]) / count) ** 0.5
            out["mae"] = float(sums["mae_sum"]) / count
            out["mape"] = 100.0 * float(sums["ape_sum"]) / max(float(sums["ape_count"]), 1e-12)
        return out

    # ---------------------------------------------------------------------- the recipe
    @classmethod
    def add_arguments(cls, parser):
        g = parser.add_argument_group("forecasting data")
        g.add_argument("--csv", default=None,
                       help="a CSV file with a header row (default: the embedded synthetic series)")
        g.add_argument("--target", default=None, help="CSV: the column to forecast")
        g.add_argument("--drivers", default=None,
                       help="CSV: driving columns, comma-separated (default: every other column)")
        g.add_argument("--time-column", default=None,
                       help="CSV: the column of times (ISO dates or numbers) that orders the rows "
                            "and is no driver (default: a first column of ISO dates, if any)")
        g.add_argument("--window", type=int, default=None,
                       help="steps T per window (default: the model's, 10)")
        g.add_argument("--horizon", type=int, default=None, help="values forecast (default 1)")
        g.add_argument("--val-fraction", type=float, default=None,
                       help="validation rows (default: the paper's 2,730 / 40,560)")
        g.add_argument("--test-fraction", type=float, default=None,
                       help="test rows (default: the paper's 2,730 / 40,560)")
        g.add_argument("--series-length", type=int, default=6000, help="synthetic: rows")
        g.add_argument("--num-drivers", type=int, default=10, help="synthetic: driving series")
        g.add_argument("--num-true-drivers", type=int, default=3,
                       help="synthetic: of which drive the target (1 to 3)")
        g.add_argument("--relation", choices=("fixed", "switching"), default="fixed",
                       help="synthetic: the same drivers matter in every window (fixed), or the "
                            "driver of highest recent level (switching: where the input "
                            "attention shows; docs/da_rnn.md)")
        g.add_argument("--lr-decay-steps", type=int, default=10_000,
                       help="divide the learning rate by 10 every this many steps (0: never)")
        g.add_argument("--residual", action=argparse.BooleanOptionalAction, default=True,
                       help="forecast the change from the last observed target (default: on; "
                            "--no-residual: the paper's output)")
        g.add_argument("--window-relative", action=argparse.BooleanOptionalAction, default=True,
                       help="driving series relative to their last value in the window "
                            "(default: on; --no-window-relative: standardised levels, the paper's)")

    @classmethod
    def from_args(cls, args):
        time_column = getattr(args, "time_column", None)
        if getattr(args, "csv", None) is None and (args.target or args.drivers or time_column):
            raise ValueError("`--target`, `--drivers` and `--time-column` need `--csv`. "
                             f"Received: target={args.target!r}, drivers={args.drivers!r}, "
                             f"time_column={time_column!r}")
        if getattr(args, "csv", None) is not None and not args.target:
            raise ValueError(f"`--csv` needs `--target COLUMN`. Received: csv={args.csv!r}")
        for flag, least in (("window", 2), ("horizon", 1)):
            value = getattr(args, flag, None)
            if value is not None and value < least:
                raise ValueError(f"`--{flag}` must be an integer >= {least} (steps). "
                                 f"Received: --{flag}={value}")
        return cls(lr_decay_steps=args.lr_decay_steps,
                   residual=getattr(args, "residual", True),
                   window_relative=getattr(args, "window_relative", True))

    def series_of(self, args):
        """The `Series` the recipe's flags name (a CSV file, else the synthetic default)."""
        if args.csv is not None:
            drivers = [d.strip() for d in args.drivers.split(",")] if args.drivers else None
            return fdata.read_csv(args.csv, args.target, drivers, getattr(args, "time_column", None))
        return fdata.synthetic_series(length=args.series_length, num_drivers=args.num_drivers,
                                      num_true=args.num_true_drivers, seed=args.seed,
                                      relation=getattr(args, "relation", "fixed"))

    def make_source(self, spec, args):
        window = args.window if args.window is not None else int(spec.defaults.get("window") or 10)
        horizon = args.horizon if args.horizon is not None else 1
        data = fdata.prepare(self.series_of(args), window=window, horizon=horizon,
                             val_fraction=args.val_fraction, test_fraction=args.test_fraction)
        src = forecasting_source(data)
        return src, self.fixed_by(src.info)

    def model_fn(self, spec, args, source, fixed):
        """The builder's model with the names of the series recorded on it (its export serves
        them)."""
        build = super().model_fn(spec, args, source, fixed)
        names = (getattr(source, "info", None) or {}).get("series_names")

        def fn():
            model = build()
            return set_series_names(model, names["target"], names["drivers"]) if names else model

        return fn

    def fixed_by(self, info):
        """The builder arguments the data fixes: sizes and the training rows' standardisation;
        and the task's forecast relative to the last values."""
        return dict(num_drivers=info["num_drivers"], window=info["window"],
                    horizon=info["horizon"], residual=self.residual,
                    window_relative=self.window_relative, **info["stats"])

    def after_training(self, trainer, args, source):
        """The test split's metrics, beside the last value's and a linear autoregression's."""
        data = source.info["windows"]
        test = evaluate_windows(trainer.model, data)
        trainer.update_summary(test=test, baselines={k: v for k, v in test.items() if k != "model"},
                               **source.info.get("series_names", {}))

    def report(self, summary):
        test = dict(summary.get("test", {}))
        model = test.pop("model", None)
        head = (f"test rmse {model['rmse']:.4g} (mae {model['mae']:.4g}, mape "
                f"{model['mape']:.3g}%)" if model else "test")
        names = {"last_value": "last value", "linear_ar": "linear AR"}
        base = "; ".join(f"{names.get(k, k)} rmse {v['rmse']:.4g}" for k, v in test.items())
        return (f"{summary['name']} on {summary['dataset']}: {head}"
                f"{f' (baselines: {base})' if base else ''}{export_note(summary)}")

    # -------------------------------------------------------------------------- serving
    def export_options(self, spec=None, model=None) -> Dict[str, Any]:
        """The role's options and the series' names recorded on a trained `model`."""
        opts = super().export_options(spec, model)
        opts.update(series_names_of(model) if model is not None else {})
        return opts

    def endpoints(self, model, **opts):
        t, n = model.inputs[0].shape[1], model.inputs[0].shape[2]
        horizon = model.outputs[0].shape[-1]
        target, drivers = _checked_names(opts, n)
        shown = f" ({', '.join(drivers)})" if drivers else ""
        ins = [TensorDoc("drivers", "float32", [None, t, n],
                         f"driving series over the window{shown}, in their own units",
                         {"shape": [2, t, n], "normal": True}),
               TensorDoc("history", "float32", [None, t - 1],
                         f"the target's{f' ({target})' if target else ''} values before the "
                         "forecast step, in its own units", {"shape": [2, t - 1], "normal": True})]
        forecast = TensorDoc("forecast", "float32", [None, horizon],
                             f"the next value(s) of the target{f' ({target})' if target else ''}, "
                             "in its own units")

        def serve(drivers, history):
            return {"forecast": f32(model([drivers, history], training=False))}

        eps = [Endpoint("serving_default", named_function(serve, ["drivers", "history"]), ins,
                        [forecast], "Forecast the target from a raw window.")]
        names = {layer.name for layer in model.layers}
        if {"input_attention_encoder", "temporal_attention_decoder"} <= names:
            att = attention_model(model)

            table = tf.constant(drivers or [""], tf.string)

            def attend(drivers, history):
                y, alpha, beta = att([drivers, history], training=False)
                out = {"forecast": f32(y), "input_attention": f32(alpha),
                       "temporal_attention": f32(beta)}
                if opts.get("driver_names") is not None:  # as `classes`: where the names are known
                    out["driver_names"] = tf.tile(table[None], [tf.shape(alpha)[0], 1])
                return out

            eps.append(Endpoint(
                "attention", named_function(attend, ["drivers", "history"]), ins,
                [forecast, TensorDoc("input_attention", "float32", [None, t, n],
                                     "weight of each driving series at each step (rows sum to 1; "
                                     f"last axis in the order of driver_names{shown})"),
                 TensorDoc("temporal_attention", "float32", [None, t],
                           "weight of each encoder step in the forecast's context")]
                + ([TensorDoc("driver_names", "string", [None, n],
                              "the driving series of input_attention's last axis, in order (the "
                              "same row for every window)")] if drivers else []),
                "The forecast and the attention weights of both stages."))
        return eps

    # --------------------------------------------------------------------------- search
    def default_space(self, hp):
        return {"learning_rate": hp.Choice("learning_rate", [1e-3, 3e-4]), "optimizer": "adam"}

    def search_data(self, spec, base, *, eval_examples=256, num_train=2048, seed=0):
        n = int(base.get("num_drivers") or spec.defaults.get("num_drivers") or 10)
        window = max(SEARCH_WINDOW, int(base.get("window") or 2))
        length = int((num_train + window) / 0.8) + 1  # 80% training rows
        series = fdata.synthetic_series(length=max(length, 400), num_drivers=n,
                                        num_true=min(3, n), seed=seed)
        data = fdata.prepare(series, window=window, val_fraction=0.1, test_fraction=0.1)
        src = limit_eval(forecasting_source(data), eval_examples)
        over = self.fixed_by(src.info)
        over.pop("window")  # each trial's own (windows are read from their end)
        return src, over

    def tuning_task(self, training):
        return type(self)(lr_decay_steps=self.lr_decay_steps, lr_decay_rate=self.lr_decay_rate,
                          residual=self.residual, window_relative=self.window_relative)

    def trial_defaults(self) -> Dict[str, Any]:
        return {"learning_rate": 1e-3, "optimizer": "adam", "beta_1": 0.9}


def _checked_names(opts, n):
    """The `target_name` and `driver_names` export options (None when absent), the drivers one
    per driving series."""
    target, drivers = opts.get("target_name"), opts.get("driver_names")
    if drivers is not None and (isinstance(drivers, str) or len(drivers) != n
                                or not all(isinstance(d, str) for d in drivers)):
        raise ValueError(f"`driver_names` must be a list of {n} strings, one per driving series. "
                         f"Received: driver_names={drivers!r}")
    if target is not None and not isinstance(target, str):
        raise ValueError(f"`target_name` must be a string. Received: target_name={target!r}")
    return target, (list(drivers) if drivers is not None else None)


def evaluate_windows(model, data: "fdata.Windows", batch_size=512) -> Dict[str, Dict[str, float]]:
    """RMSE, MAE and MAPE on the test windows of `data` of `model`, the last value and a linear
    autoregression fitted on the training windows."""
    x, h, y = data.test
    pred = model.predict([x, h], batch_size=batch_size, verbose=0)
    w = fdata.linear_ar_fit(*data.train)
    return {"model": fdata.forecast_metrics(pred, y),
            "last_value": fdata.forecast_metrics(fdata.last_value_forecast(h, data.horizon), y),
            "linear_ar": fdata.forecast_metrics(fdata.linear_ar_forecast(w, x, h), y)}


TASK = Forecasting


def compare_forecasters(data: "fdata.Windows", *, units=16, epochs=30, learning_rate=1e-2,
                        batch_size=64, seed=0, builder=None, patience=None, **model_kwargs):
    """The paper's comparison on `data`'s test windows: DA-RNN (`builder`, default `da_rnn`, at
    m = p = `units`), the same model without its attention stages (a plain LSTM
    encoder-decoder of the same sizes), a linear autoregression on the same window and the last
    value; both networks trained the same way (Adam, mean squared error, `model.fit`). With
    `patience`, each network keeps the weights of its epoch of lowest validation loss, and stops
    after `patience` epochs without a lower one (the test split plays no part in the choice).
    Other keyword arguments go to the builder of both networks (e.g. `residual=True`).

    Returns:
        `{"metrics": {name: {"rmse", "mae", "mape"}}, "attention": (share, uniform) or None,
        "models": {...}, "alphas": input attention on the test windows, "epochs": {name: (epoch
        kept, epochs run)}}`; the attention share is that of `data.series.true_drivers` when the
        series has them.
    """
    import keras

    if builder is None:
        from zoo.models.da_rnn import da_rnn as builder
    x, h, y = data.test
    sizes = dict(num_drivers=int(x.shape[-1]), window=data.window, horizon=data.horizon,
                 encoder_units=units, decoder_units=units, **data.stats)
    models, metrics, kept = {}, {}, {}
    for name, attention in (("da_rnn", True), ("lstm_encoder_decoder", False)):
        keras.utils.set_random_seed(seed)
        model = builder(**sizes, input_attention=attention, temporal_attention=attention,
                        **model_kwargs)
        model.compile(keras.optimizers.Adam(learning_rate), "mse")
        early = {} if patience is None else dict(
            validation_data=(list(data.val[:2]), data.val[2]),
            callbacks=[keras.callbacks.EarlyStopping("val_loss", patience=patience,
                                                     restore_best_weights=True)])
        hist = model.fit(list(data.train[:2]), data.train[2], batch_size=batch_size,
                         epochs=epochs, verbose=0, **early).history
        ran = len(hist["loss"])
        kept[name] = (int(np.argmin(hist["val_loss"])) + 1 if patience is not None else ran, ran)
        models[name] = model
        metrics[name] = fdata.forecast_metrics(model.predict([x, h], verbose=0), y)
    base = evaluate_windows(models["da_rnn"], data)
    metrics["linear_ar"], metrics["last_value"] = base["linear_ar"], base["last_value"]
    alphas = attention_model(models["da_rnn"]).predict([x, h], verbose=0)[1]
    true = data.series.true_drivers
    share = fdata.attention_share(alphas, true) if true else None
    return {"metrics": metrics, "attention": share, "models": models, "alphas": alphas,
            "epochs": kept}
