"""Data of the forecasting task: series, windows, splits, standardisation, baselines (NumPy),
and the `DataSource`s of windows (TensorFlow).

* `synthetic_series`: the embedded default with a known answer: n driving series of which only
  a few (the *true drivers*, smooth AR(1) processes) drive the target through a nonlinear, lagged
  relation; the others are white noise, like the noise series the DA-RNN paper adds to the
  NASDAQ 100 stocks in its robustness test (Qin et al. 2017, section 4.4, Figure 4).
* `read_csv`: any CSV file with a header; one target column and driving columns (default: all
  the others), with an error naming the problem (missing column, non-numeric value, too few rows);
  a time column (named, or a first column of ISO dates) orders the rows and is no driver.
* `split_series` / `windows`: chronological train / validation / test splits of the rows (the
  paper's NASDAQ 100 split is 35,100 / 2,730 / 2,730 of 40,560 rows) and sliding windows whose
  forecast values lie in each split; `standardization` is fitted on the training rows only.
* Baselines the models are compared with: the last value, and a linear autoregression on the
  same window (least squares); `forecast_metrics` gives RMSE, MAE and MAPE in the data's units.

Example:
    >>> from zoo.data.series import prepare, synthetic_series
    >>> data = prepare(synthetic_series(length=400, num_drivers=5), window=10)
    >>> data.train[0].shape, data.train[1].shape, data.train[2].shape
    ((337, 10, 5), (337, 9), (337, 1))
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["Series", "Windows", "PAPER_SPLIT", "PAPER_FRACTION", "synthetic_series", "read_csv", "split_rows",
           "standardization", "windows", "prepare", "last_value_forecast", "linear_ar_fit",
           "linear_ar_forecast", "forecast_metrics", "attention_share", "forecasting_source",
           "synthetic_series_source", "csv_series_source", "parse_time"]

# the paper's NASDAQ 100 split (rows): train, validation, test
PAPER_SPLIT = (35_100, 2_730, 2_730)
PAPER_FRACTION = PAPER_SPLIT[1] / sum(PAPER_SPLIT)  # of the rows, validation and test each


@dataclasses.dataclass
class Series:
    """Aligned series: `drivers` (rows, n), `target` (rows,), their names, for synthetic
    data the indices of the driving series that really drive the target, and for a CSV file
    with a time column its name and its cells (`times`, in the rows' order)."""

    name: str
    drivers: np.ndarray
    target: np.ndarray
    driver_names: List[str]
    target_name: str
    true_drivers: Optional[List[int]] = None
    time_column: Optional[str] = None
    times: Optional[List[str]] = None

    def names(self) -> Dict[str, object]:
        """What a run's summary records of the series: `target`, `drivers` (in the models'
        input order) and, with a time column, `time_column` and `time_range` (first, last)."""
        out: Dict[str, object] = {"target": self.target_name, "drivers": list(self.driver_names)}
        if self.time_column is not None and self.times:
            out["time_column"] = self.time_column
            out["time_range"] = {"first": self.times[0], "last": self.times[-1]}
        return out


@dataclasses.dataclass
class Windows:
    """Windows of each split, `(drivers (N, T, n), history (N, T-1), targets (N, horizon))` in
    raw units, and the standardisation fitted on the training rows."""

    series: Series
    window: int
    horizon: int
    train: Tuple[np.ndarray, np.ndarray, np.ndarray]
    val: Tuple[np.ndarray, np.ndarray, np.ndarray]
    test: Tuple[np.ndarray, np.ndarray, np.ndarray]
    stats: Dict[str, object]
    rows: Tuple[int, int, int]


def synthetic_series(length=6000, num_drivers=10, num_true=3, noise=0.1, seed=0,
                     relation="fixed"):
    """The embedded default: `num_true` smooth drivers, the rest white noise, and a target
    `y_t = 0.5 y_{t-1} + (x1_{t-1}^2 - 1) + sin(2 x2_t) + 0.5 tanh(x1_t x3_{t-2}) + noise`
    (x1, x2, x3: the true drivers, as many of those terms as `num_true` allows), whose
    nonlinear terms a linear autoregression cannot follow. The true drivers are at random
    positions among the series (`Series.true_drivers`).

    `relation="switching"`: which driver matters changes from window to window, and shows in the
    drivers' own recent values: `y_t = 0.5 y_{t-1} + 2 max_k m_k(t) + noise`, with `m_k(t)` the
    mean of true driver k over steps `t-5..t-1` (drivers AR(1) at 0.95). Only the driver with the
    highest recent level drives the target, the selection an input attention is for (with
    `"fixed"` the same drivers matter in every window, and constant attention is interchangeable
    with the encoder's input weights; see docs/da_rnn.md).
    """
    if relation not in ("fixed", "switching"):
        raise ValueError("`relation` must be 'fixed' or 'switching'. "
                         f"Received: relation={relation!r}")
    if not isinstance(num_true, int) or not 1 <= num_true <= min(3, num_drivers):
        raise ValueError("`num_true` must be 1, 2 or 3 and at most `num_drivers`. "
                         f"Received: num_true={num_true!r}, num_drivers={num_drivers!r}")
    if not isinstance(length, int) or length < 50:
        raise ValueError(f"`length` must be an integer of at least 50. Received: length={length!r}")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((length, num_drivers))  # noise series: white
    smooth = np.zeros((length, num_true))
    phi = 0.9 if relation == "fixed" else 0.95
    eps = rng.standard_normal((length, num_true)) * np.sqrt(1 - phi ** 2)
    for t in range(1, length):
        smooth[t] = phi * smooth[t - 1] + eps[t]
    true = sorted(rng.choice(num_drivers, num_true, replace=False).tolist())
    x[:, true] = smooth
    names = [f"x{k}" for k in range(num_drivers)]
    e = rng.standard_normal(length) * noise
    if relation == "switching":
        return Series("synthetic", x.astype("float32"),
                      _switching_target(smooth, e).astype("float32"), names, "y", true)
    x1 = smooth[:, 0]
    x2 = smooth[:, 1] if num_true > 1 else np.zeros(length)
    x3 = smooth[:, 2] if num_true > 2 else np.zeros(length)
    y = np.zeros(length)
    for t in range(2, length):
        y[t] = (0.5 * y[t - 1] + (x1[t - 1] ** 2 - 1.0) + np.sin(2.0 * x2[t])
                + 0.5 * np.tanh(x1[t] * x3[t - 2]) + e[t])
    return Series("synthetic", x.astype("float32"), y.astype("float32"), names, "y", true)


def _switching_target(smooth, e, span=5):
    """`y_t = 0.5 y_{t-1} + 2 max_k m_k(t) + e_t`, `m_k(t)`: mean of driver k over t-span..t-1."""
    length = len(smooth)
    csum = np.concatenate([np.zeros((1, smooth.shape[1])), np.cumsum(smooth, axis=0)])
    level = np.zeros_like(smooth)
    t = np.arange(1, length)
    level[1:] = (csum[t] - csum[np.maximum(t - span, 0)]) / span
    y = np.zeros(length)
    for i in range(1, length):
        y[i] = 0.5 * y[i - 1] + 2.0 * level[i].max() + e[i]
    return y


def level_series(kind="drift", length=1000, num_drivers=4, noise=0.1, seed=0):
    """A generated series whose level leaves its training range, with a known answer. The driving
    series are random walks, `x_k,t = x_k,t-1 + u_k,t` (`u` standard normal; like the stocks of an
    index, they too leave their training range), and the target's *change* is a nonlinear
    function of the first two drivers' changes, `g_t = u_1,t + 2 (u_2,t^2 - 1)`:

    * `kind="drift"`: a random walk with drift, `y_t = y_{t-1} + 1 + g_t + noise`;
    * `kind="shifts"`: `y_t = L_t + g_t + noise` with a level `L_t` that steps up by 4 to 8
      every 100 to 200 rows.

    The best forecast of `y_T` from the window is `y_{T-1}` plus a nonlinear function of the
    drivers' last changes (`1 + g_T`; for shifts `g_T - g_{T-1}`, but at a step), which neither
    the last value nor a linear autoregression (which can follow `u_1` but not `u_2^2`) reaches.

    Example:
        >>> s = level_series("drift", length=300)
        >>> s.drivers.shape, float(s.target[-1]) > float(s.target[:200].max())
        ((300, 4), True)
    """
    if kind not in ("drift", "shifts"):
        raise ValueError(f"`kind` must be 'drift' or 'shifts'. Received: kind={kind!r}")
    if not isinstance(num_drivers, int) or num_drivers < 2:
        raise ValueError("`num_drivers` must be an integer of at least 2. "
                         f"Received: num_drivers={num_drivers!r}")
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((length, num_drivers))
    x = np.cumsum(u, axis=0)
    g = u[:, 0] + 2.0 * (u[:, 1] ** 2 - 1.0)
    e = rng.standard_normal(length) * noise
    if kind == "drift":
        y = np.cumsum(1.0 + g + e)
    else:
        steps = np.zeros(length)
        t = int(rng.integers(100, 200))
        while t < length:
            steps[t] = rng.uniform(4.0, 8.0)
            t += int(rng.integers(100, 200))
        y = np.cumsum(steps) + g + e
    names = [f"x{k}" for k in range(num_drivers)]
    return Series(f"level_{kind}", x.astype("float32"), y.astype("float32"), names, "y", [0, 1])


__all__ += ["level_series"]


def parse_time(cell):
    """A time cell as a sortable key: an ISO date or date-time (`2024-01-01`,
    `2024-01-01T00:00`, `2024-01-01 00:00:00+01:00`; those with a zone compare in UTC) or a
    number (e.g. seconds); None when it is neither.

    Example:
        >>> parse_time("2024-01-02") > parse_time("2024-01-01T23:59")
        True
    """
    cell = cell.strip()
    try:
        return ("number", float(cell)) if np.isfinite(float(cell)) else None
    except ValueError:
        pass
    try:
        t = datetime.datetime.fromisoformat(cell)
    except ValueError:
        return None
    if t.tzinfo is not None:
        return ("zoned", t.astimezone(datetime.timezone.utc).replace(tzinfo=None))
    return ("local", t)


def _time_order(body, header, column, path):
    """The row order by time column `column` (index), refusing a cell that does not parse, one
    of another kind (a number among dates, a zone among local times) and a repeated time."""
    keys, first = [], {}
    for r, row in enumerate(body):
        cell = row[column].strip() if column < len(row) else ""
        key = parse_time(cell)
        if key is None or (keys and key[0] != keys[0][0]):
            want = "an ISO date or date-time, or a number" if key is None else \
                f"a time of the kind of row 2's ({keys[0][0]})"
            raise ValueError(f"The CSV file's time column {header[column]!r} must hold {want} in "
                             f"every row: row {r + 2} holds {cell!r}. Received: csv={path!r}")
        if key in first:
            raise ValueError(f"The CSV file's time column {header[column]!r} holds {cell!r} twice: "
                             f"rows {first[key] + 2} and {r + 2}. Received: csv={path!r}")
        first[key] = r
        keys.append(key)
    return sorted(range(len(body)), key=lambda r: keys[r][1])


def _detect_time_column(header, body, target, drivers):
    """The first column, when it is neither the target nor a named driver and its first cell is
    not a number but an ISO date or date-time; else None."""
    if not body or header[0] == target or (drivers is not None and header[0] in drivers):
        return None
    key = parse_time(body[0][0]) if body[0] else None
    return header[0] if key is not None and key[0] != "number" else None


def read_csv(path, target, drivers=None, time_column=None):
    """A CSV file with a header row as `Series`: column `target`, and `drivers` (names; default
    every other column but the time column). The time column (`time_column`, else a first
    column of ISO dates or date-times) orders the rows and gives `Series.times`.

    Raises ValueError naming a missing or repeated column, a row with more or fewer cells than
    the header (its number), a non-numeric or empty value (its row and column), a time that does
    not parse or is repeated (its rows), or a file without data rows.

    Example:
        >>> import pathlib, tempfile
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "s.csv"
        >>> _ = f.write_text("date,a,y\\n2024-01-02,1,2\\n2024-01-01,3,4\\n")
        >>> s = read_csv(f, "y")
        >>> s.driver_names, s.times, s.target.tolist()
        (['a'], ['2024-01-01', '2024-01-02'], [4.0, 2.0])
    """
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        raise ValueError(f"Cannot read the CSV file. Received: csv={path!r} ({e.strerror})") from None
    if not rows or not rows[0]:
        raise ValueError(f"The CSV file has no header row. Received: csv={path!r}")
    header = [h.strip() for h in rows[0]]
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:
        raise ValueError(f"The CSV file's header names a column more than once: {twice}. "
                         f"Received: csv={path!r}")
    body = rows[1:]
    while body and not body[-1]:  # blank lines at the end
        body.pop()
    drivers, time_column = _columns(path, header, body, target, drivers, time_column)
    cols = [header.index(c) for c in [*drivers, target]]
    data = _numbers(path, header, body, cols)
    times = None
    if time_column is not None:
        t = header.index(time_column)
        order = _time_order(body, header, t, path)
        data, times = data[order], [body[r][t].strip() for r in order]
    return Series(str(path), data[:, :-1].astype("float32"), data[:, -1].astype("float32"),
                  list(drivers), target, time_column=time_column, times=times)


def _columns(path, header, body, target, drivers, time_column):
    """`(drivers, time_column)` of `read_csv`, checked against the header."""
    if target not in header:
        raise ValueError(f"`target` must be a column of {path}: one of {header}. "
                         f"Received: target={target!r}")
    if time_column is None:
        time_column = _detect_time_column(header, body, target, drivers)
    elif time_column not in header or time_column == target or time_column in (drivers or ()):
        raise ValueError(f"`time_column` must be a column of {path} other than the target and the "
                         f"drivers: one of {header}. Received: time_column={time_column!r}")
    if drivers is None:
        drivers = [h for h in header if h not in (target, time_column)]
    missing = [d for d in drivers if d not in header]
    if missing:
        raise ValueError(f"`drivers` must be columns of {path}: of {header}. "
                         f"Received: drivers={list(drivers)!r} (missing {missing})")
    if target in drivers or not drivers:
        raise ValueError("`drivers` must be at least one column other than the target. "
                         f"Received: drivers={list(drivers)!r}, target={target!r}")
    return list(drivers), time_column


def _numbers(path, header, body, cols):
    """The cells of columns `cols` (indices) as float64 (rows, len(cols)), refusing a row of
    another length than the header and a cell that is not a finite number."""
    data = np.empty((len(body), len(cols)), "float64")
    for r, row in enumerate(body):
        if len(row) != len(header):
            raise ValueError(f"The CSV file's row {r + 2} has {len(row)} cells, its header "
                             f"{len(header)} columns {header}. Received: csv={path!r}")
        for j, c in enumerate(cols):
            cell = row[c].strip() if c < len(row) else ""
            try:
                data[r, j] = float(cell)
            except ValueError:
                data[r, j] = np.nan
            if not np.isfinite(data[r, j]):
                raise ValueError(f"The CSV file must hold numbers in every used column: row "
                                 f"{r + 2}, column {header[c]!r} holds {cell!r}. Received: "
                                 f"csv={path!r}")
    return data


def split_rows(rows, val_fraction=PAPER_FRACTION, test_fraction=PAPER_FRACTION):
    """Chronological `(train, val, test)` row counts (by default the paper's proportions, which
    give exactly 35,100 / 2,730 / 2,730 of NASDAQ 100's 40,560 rows)."""
    for name, v in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not isinstance(v, (int, float)) or not 0 < v < 0.5:
            raise ValueError(f"`{name}` must be a float in (0, 0.5). Received: {name}={v!r}")
    val, test = int(round(rows * val_fraction)), int(round(rows * test_fraction))
    return rows - val - test, val, test


def standardization(series: Series, train_rows: int) -> Dict[str, object]:
    """Means and standard deviations of the training rows only, and those of their one-step
    changes (`driver_change_std`, `target_change_std`); a constant series gets 1."""
    d, y = series.drivers[:train_rows].astype("float64"), series.target[:train_rows].astype("float64")
    dstd, ystd = d.std(0), float(y.std())
    # the one-step changes' (for a forecast relative to the last values: DA-RNN's `residual`)
    dcs = np.diff(d, axis=0).std(0) if len(d) > 1 else np.zeros(d.shape[1])
    ycs = float(np.diff(y).std()) if len(y) > 1 else 0.0
    return {"driver_mean": d.mean(0).tolist(), "driver_std": np.where(dstd > 0, dstd, 1.0).tolist(),
            "target_mean": float(y.mean()), "target_std": ystd if ystd > 0 else 1.0,
            "driver_change_std": np.where(dcs > 0, dcs, 1.0).tolist(),
            "target_change_std": ycs if ycs > 0 else 1.0}


def windows(drivers, target, window, horizon=1, first=None, last=None):
    """Sliding windows forecasting rows `first..last-1` (default: all that fit): drivers at rows
    `s..s+T-1`, history `s..s+T-2`, targets `s+T-1..s+T+horizon-2`."""
    rows = len(target)
    first = window - 1 if first is None else max(first, window - 1)
    last = rows - horizon + 1 if last is None else min(last, rows - horizon + 1)
    starts = np.arange(first - window + 1, last - window + 1)
    idx = starts[:, None] + np.arange(window)[None, :]
    x = drivers[idx]
    h = target[idx[:, :-1]]
    y = target[starts[:, None] + window - 1 + np.arange(horizon)[None, :]]
    return x.astype("float32"), h.astype("float32"), y.astype("float32")


def prepare(series: Series, window=10, horizon=1, val_fraction=None, test_fraction=None):
    """`Windows` of `series`: chronological splits of its rows (each window's forecast values in
    one split; earlier rows serve as its history) and the training rows' standardisation."""
    for name, v, low in (("window", window, 2), ("horizon", horizon, 1)):
        if not isinstance(v, int) or isinstance(v, bool) or v < low:
            raise ValueError(f"`{name}` must be an integer of at least {low}. "
                             f"Received: {name}={v!r}")
    fr = {k: v for k, v in (("val_fraction", val_fraction), ("test_fraction", test_fraction))
          if v is not None}
    rows = len(series.target)
    n_tr, n_va, n_te = split_rows(rows, **fr)
    need = window + horizon
    if min(n_tr, n_va, n_te) < need:
        raise ValueError(f"Too few rows for the window: {rows} rows split into {n_tr} / {n_va} / "
                         f"{n_te}, and each split needs at least window + horizon = {need}. "
                         f"Received: window={window}, horizon={horizon}")
    x, y = series.drivers, series.target
    return Windows(series, window, horizon,
                   train=windows(x, y, window, horizon, last=n_tr - horizon + 1),
                   val=windows(x, y, window, horizon, first=n_tr, last=n_tr + n_va - horizon + 1),
                   test=windows(x, y, window, horizon, first=n_tr + n_va),
                   stats=standardization(series, n_tr), rows=(n_tr, n_va, n_te))


def last_value_forecast(history, horizon=1):
    """The last known target value, repeated over the horizon."""
    return np.repeat(np.asarray(history)[:, -1:], horizon, axis=1)


def _design(drivers, history):
    n = len(history)
    return np.concatenate([np.asarray(drivers, "float64").reshape(n, -1),
                           np.asarray(history, "float64"), np.ones((n, 1))], axis=1)


def linear_ar_fit(drivers, history, targets, ridge=1e-6):
    """Least-squares weights of a linear autoregression with exogenous inputs on the whole
    window (every driving value and every past target value, plus a bias)."""
    a = _design(drivers, history)
    gram = a.T @ a + ridge * len(a) * np.eye(a.shape[1])
    return np.linalg.solve(gram, a.T @ np.asarray(targets, "float64"))


def linear_ar_forecast(weights, drivers, history):
    return (_design(drivers, history) @ weights).astype("float32")


def forecast_metrics(pred, true) -> Dict[str, float]:
    """RMSE, MAE and MAPE (in %, over targets that are not 0) in the data's units."""
    pred, true = np.asarray(pred, "float64"), np.asarray(true, "float64")
    err = pred - true
    nz = np.abs(true) > 1e-12
    mape = float(np.mean(np.abs(err[nz] / true[nz])) * 100) if nz.any() else float("nan")
    return {"rmse": float(np.sqrt(np.mean(err ** 2))), "mae": float(np.mean(np.abs(err))),
            "mape": mape}


def attention_share(alphas, true_drivers: Sequence[int]) -> Tuple[float, float]:
    """`(share, uniform)`: the mean over windows and steps of the input attention weight on
    `true_drivers` (alphas: (N, T, n)), and the share uniform attention would give them."""
    alphas = np.asarray(alphas, "float64")
    share = float(alphas[..., list(true_drivers)].sum(-1).mean())
    return share, len(true_drivers) / alphas.shape[-1]


# ------------------------------------------------------------------------------ data sources


def forecasting_source(data: Windows):
    """A `DataSource` of windows `((drivers, history), targets)`: training, validation (what the
    trainer evaluates after each epoch) and test splits (`source.test`: the summary's
    `final_test`; the test split also stays in `data` for the comparison with the baselines after
    training)."""
    from zoo.data.source import array_source  # TensorFlow only here: the rest is NumPy

    info = {"num_drivers": int(data.train[0].shape[-1]), "window": data.window,
            "horizon": data.horizon, "stats": data.stats, "windows": data,
            "series_names": data.series.names(),
            "input_shape": {"drivers": tuple(data.train[0].shape[1:]),
                            "history": tuple(data.train[1].shape[1:])}}
    (xt, ht, yt), (xv, hv, yv), (xs, hs, ys) = data.train, data.val, data.test
    return array_source(data.series.name, (xt, ht), yt, (xs, hs), ys, info=info,
                        validation=((xv, hv), yv))


def synthetic_series_source(window=10, horizon=1, val_fraction=None, test_fraction=None,
                            **series_kwargs):
    """`forecasting_source` of `synthetic_series(**series_kwargs)` cut into windows (`prepare`)."""
    return forecasting_source(prepare(synthetic_series(**series_kwargs), window, horizon,
                                      val_fraction, test_fraction))


def csv_series_source(path, target, drivers=None, window=10, horizon=1, val_fraction=None,
                      test_fraction=None, time_column=None):
    """`forecasting_source` of the CSV file `path` (`read_csv`) cut into windows (`prepare`)."""
    return forecasting_source(prepare(read_csv(path, target, drivers, time_column), window,
                                      horizon, val_fraction, test_fraction))
