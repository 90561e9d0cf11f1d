"""Series with names (issue 28): a time column orders the rows and is no driver, the run's summary
records the target, the drivers and the time range, and the export serves the names."""

import datetime
import json
import os

import numpy as np
import pytest

from zoo.data import series as fd


def _write(path, rows, header="date,a,b,y"):
    path.write_text("\n".join([header, *(",".join(str(c) for c in r) for r in rows)]) + "\n")
    return str(path)


def _dated_rows(n=60, seed=0, fmt="%Y-%m-%dT%H:%M"):
    """`n` hourly rows (date, a, b, y) with y = the row's number, in a shuffled order."""
    start = datetime.datetime(2024, 1, 1)
    rng = np.random.default_rng(seed)
    rows = [((start + datetime.timedelta(hours=i)).strftime(fmt), round(float(rng.normal()), 4),
             round(float(rng.normal()), 4), i) for i in range(n)]
    return [rows[i] for i in rng.permutation(n)]


def test_a_first_column_of_dates_orders_the_rows_and_is_no_driver(tmp_path):
    rows = _dated_rows(20)
    s = fd.read_csv(_write(tmp_path / "s.csv", rows), "y")
    assert s.driver_names == ["a", "b"] and s.time_column == "date"
    assert s.target.tolist() == list(range(20))  # sorted by the date
    by_date = sorted(rows)
    np.testing.assert_allclose(s.drivers, [[r[1], r[2]] for r in by_date], rtol=1e-6)
    assert s.names() == {"target": "y", "drivers": ["a", "b"], "time_column": "date",
                         "time_range": {"first": "2024-01-01T00:00", "last": "2024-01-01T19:00"}}
    # plain dates; a named time column anywhere, of numbers too; explicit drivers keep their order
    dates = fd.read_csv(_write(tmp_path / "d.csv", _dated_rows(5, fmt="%Y-%m-%d %H:%M:%S")), "y")
    assert dates.times[0] == "2024-01-01 00:00:00" and dates.target.tolist() == [0, 1, 2, 3, 4]
    days = fd.read_csv(_write(tmp_path / "days.csv", [("2024-01-03", 1, 3), ("2024-01-01", 2, 1)],
                              "day,a,y"), "y")
    assert days.times == ["2024-01-01", "2024-01-03"] and days.target.tolist() == [1, 3]
    named = fd.read_csv(_write(tmp_path / "n.csv", [(1, 5, 20), (2, 6, 10)], "a,t,y"), "y",
                        time_column="t")
    assert named.target.tolist() == [20, 10] and named.driver_names == ["a"]
    assert fd.read_csv(str(tmp_path / "s.csv"), "y", ["b", "a"]).driver_names == ["b", "a"]
    # a numeric first column is a driver unless named
    assert fd.read_csv(str(tmp_path / "n.csv"), "y").driver_names == ["a", "t"]


@pytest.mark.parametrize("rows, time_column, match", [
    ([("2024-01-02", 1, 2), ("yesterday", 3, 4)], "date", r"row 3 holds 'yesterday'"),
    ([("2024-01-02", 1, 2), ("2024-01-01", 3, 4), ("2024-01-02", 5, 6)], None,
     r"holds '2024-01-02' twice: rows 2 and 4"),
    ([("2024-01-02", 1, 2), ("2024-01-01T00:00+01:00", 3, 4)], None, r"row 3 holds"),
    ([("2024-01-02", 1, 2), ("", 3, 4)], "date", r"row 3 holds ''"),
    ([("2024-01-02", 1, 2)], "nope", r"time_column='nope'"),
    ([("2024-01-02", 1, 2)], "y", r"time_column='y'"),
])
def test_bad_time_columns_are_refused_naming_the_row(tmp_path, rows, time_column, match):
    path = _write(tmp_path / "bad.csv", rows, "date,a,y")
    with pytest.raises(ValueError, match=match) as e:
        fd.read_csv(path, "y", time_column=time_column)
    assert "\n" not in str(e.value)


def test_time_column_needs_csv():
    import argparse

    from zoo.tasks import task_for

    args = argparse.Namespace(csv=None, target=None, drivers=None, time_column="date", window=None,
                              horizon=None, lr_decay_steps=10, residual=True, window_relative=True)
    with pytest.raises(ValueError, match="--time-column"):
        type(task_for("da_rnn")).from_args(args)


def test_export_options_name_the_attention_outputs():
    """A bare builder's model serves `driver_names` only when given them, one per driver."""
    import zoo
    from zoo.tasks import task_for

    model = zoo.da_rnn(num_drivers=2, window=3, encoder_units=2, decoder_units=2)
    task, x, h = task_for("da_rnn"), np.zeros((2, 3, 2), "float32"), np.zeros((2, 2), "float32")
    bare = {ep.name: ep for ep in task.endpoints(model)}["attention"]
    assert "driver_names" not in bare.fn(drivers=x, history=h)
    named = {ep.name: ep for ep in task.endpoints(model, target_name="y", driver_names=["a", "b"])}
    att = named["attention"]
    assert att.fn(drivers=x, history=h)["driver_names"].numpy().tolist() == [[b"a", b"b"]] * 2
    assert "(y)" in att.outputs[0].doc and "(a, b)" in att.inputs[0].doc
    with pytest.raises(ValueError, match="driver_names"):
        task.endpoints(model, driver_names=["a"])


@pytest.mark.slow
def test_zoo_train_on_dated_rows_records_and_serves_the_names(tmp_path):
    """`zoo train da_rnn --csv F --target y` on shuffled dated rows, without `--drivers`: the
    rows are sorted, the date is no driver, the summary and the export name the series, and
    the attention signature returns the driver names beside the weights."""
    import tensorflow as tf

    from zoo.train import recipe

    path = _write(tmp_path / "s.csv", _dated_rows(60))
    summary = recipe.run("da_rnn", [
        "--csv", path, "--target", "y", "--window", "4", "--val-fraction", "0.1",
        "--test-fraction", "0.1", "--epochs", "1", "--batch-size", "32", "--set", "encoder_units=3",
        "--set", "decoder_units=3", "--quiet", "--run-dir", str(tmp_path / "run"),
        "--export-dir", str(tmp_path / "sm")])
    with open(tmp_path / "run" / "summary.json") as f:
        stored = json.load(f)
    for got in (summary, stored):
        assert got["target"] == "y" and got["drivers"] == ["a", "b"] and got["time_column"] == "date"
        assert got["time_range"] == {"first": "2024-01-01T00:00", "last": "2024-01-03T11:00"}
        assert set(got["baselines"]) == {"last_value", "linear_ar"}
    # sorted: y is the row's number, so the last value is off by exactly 1 on the test split
    assert stored["baselines"]["last_value"]["rmse"] == pytest.approx(1.0)
    with open(os.path.join(summary["export_path"], "assets.extra", "signatures.json")) as f:
        doc = json.load(f)
    assert doc["options"]["target_name"] == "y" and doc["options"]["driver_names"] == ["a", "b"]
    outputs = {o["name"]: o for o in doc["signatures"]["attention"]["outputs"]}
    assert "(a, b)" in outputs["input_attention"]["doc"] and outputs["driver_names"]["shape"] == [None, 2]
    served = tf.saved_model.load(summary["export_path"]).signatures["attention"]
    x = tf.zeros((3, 4, 2))
    out = served(drivers=x, history=tf.zeros((3, 3)))
    assert out["driver_names"].numpy().tolist() == [[b"a", b"b"]] * 3
    assert tuple(out["input_attention"].shape) == (3, 4, 2)
