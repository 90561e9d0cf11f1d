"""`zoo bench --full-size` (issue 31): the rows' columns and FLOP arithmetic on a model that is tiny
at its full size (highway_net, 85 K multiply-adds; the GCN on the karate club), the peak's
matrix multiply, the default batches; never timings."""

import csv

import pytest

from zoo.bench.peak import PASSES, cpu_has_bfloat16, matmul_peak, model_flops, precision_dtype


def test_model_flops_arithmetic_and_errors():
    assert model_flops(macs=1e9, batch=8, mode="train", step_s=2.0) == 3 * 2 * 1e9 * 8 / 2.0
    assert model_flops(macs=1e9, batch=8, mode="infer", step_s=2.0) == 2 * 1e9 * 8 / 2.0
    with pytest.raises(ValueError, match="`mode` must be one of"):
        model_flops(1, 1, "serve", 1.0)
    with pytest.raises(ValueError, match="`step_s` must be positive"):
        model_flops(1, 1, "train", 0.0)
    assert [precision_dtype(p) for p in ("float32", "mixed_bfloat16", "mixed_float16")] == [
        "float32", "bfloat16", "float16"]


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_peak_of_a_tiny_matmul_is_positive(dtype):
    # bfloat16 too where the CPU has no native bfloat16 (TensorFlow's kernels convert): the
    # function works on any CPU; the bench records the bfloat16 peak only where it is native
    best, median, worst = matmul_peak(dtype, n=64, repeats=3)
    assert best >= median >= worst > 0
    with pytest.raises(ValueError, match="`n` and `repeats`"):
        matmul_peak(dtype, n=0)


def test_full_size_batches_and_shapes():
    import zoo
    from zoo.bench.measure import full_size_batch, full_size_shapes

    assert [full_size_batch(m) for m in (3.86e9, 1.58e9, 21.6e9, 13e6)] == [8, 16, 4, 256]
    assert full_size_batch(3.86e9, work=2e12, low=32) == 256
    gcn = zoo.create_model("gcn")  # unknown node count: the card's 34 karate-club nodes
    assert full_size_shapes("gcn", gcn) == ([(34, 34), (34, 34)], zoo.model_card("gcn")["macs"],
                                            "card")
    shapes, macs, source = full_size_shapes("gcn", gcn, length=10)
    assert shapes == [(10, 34), (10, 10)] and source == "counted" and 0 < macs < 40392


def test_full_size_rows_columns_and_arithmetic(tmp_path):
    import zoo
    from zoo.bench import run_here
    from zoo.bench.report import COLUMNS, markdown_table, write_results

    rows, kind = run_here(["highway_net"], full_size=True, batch=4, rounds=3, warmup=1,
                          peers=False, peak_n=64)
    assert kind == "cpu" and [r["mode"] for r in rows] == ["train", "infer"]  # no A/A twin
    macs = zoo.model_card("highway_net")["macs"]
    for r in rows:
        assert (r["implementation"], r["batch"], r["input"], r["rounds"]) == ("zoo", 4, "784", 3)
        assert (r["macs"], r["macs_source"]) == (macs, "card") and not r.get("note")
        step = r["step_ms"] / 1e3
        assert r["model_gflops"] == pytest.approx(PASSES[r["mode"]] * 2 * macs * 4 / step / 1e9)
        assert r["throughput_min"] <= r["throughput"] <= r["throughput_max"]
        assert r["peak_gflops"] >= r["peak_gflops_min"] > 0 and r["peak_dtype"] == "float32"
        assert r["peak_f32_gflops"] > 0 and r["peak_source"] == "matmul 64x64, in every round"
        assert (r["peak_bf16_gflops"] is not None) == cpu_has_bfloat16()
        assert 0 < r["peak_fraction_min"] <= r["peak_fraction"] <= r["peak_fraction_max"]
        assert r["load"] is not None and r["load_after"] is not None
    csv_path, md_path = write_results(rows, str(tmp_path), kind, full_size=True)
    assert csv_path.endswith("bench-cpu-full.csv")
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == COLUMNS and len(list(reader)) == 2
    md = markdown_table([{c: str(v) for c, v in r.items()} for r in rows])
    assert "| GFLOP/s | of peak [min, max] | peak GFLOP/s |" in md
    assert "matmul 64x64, in every round" in md


def test_the_fraction_of_the_peak_is_the_median_of_paired_ratios():
    from zoo.bench.measure import _add_flops

    # 3 rounds: the model's step 1, 2, 4 s; the 1 GFLOP matmul's 1, 1, 2 s (1, 1, 0.5 GFLOP/s)
    row = {"batch": 2, "mode": "infer", "throughput": 1.0, "step_ms": 2000.0}
    peak = {"peak_gflops": 9.0, "peak_dtype": "float32",
            "peak_source": "matmul 1000x1000, one before the model"}
    _add_flops(row, [1.0, 2.0, 4.0], 1e9, "card", peak, [1.0, 1.0, 2.0], 1e9)
    # the model: 2 x 1e9 x 2 / t = 4, 2, 1 GFLOP/s; over the round's peak: 4, 2, 2
    assert row["model_gflops"] == pytest.approx(2.0)
    assert (row["peak_fraction"], row["peak_fraction_min"], row["peak_fraction_max"]) == (
        pytest.approx(2.0), pytest.approx(2.0), pytest.approx(4.0))
    assert (row["peak_gflops"], row["peak_gflops_min"]) == (1.0, 0.5)
    assert row["peak_source"] == "matmul 1000x1000, in every round"
    assert (row["throughput_min"], row["throughput_max"]) == (0.5, 2.0)  # 2 examples / 4 s, / 1 s
    row = {"batch": 2, "mode": "train", "throughput": 1.0, "step_ms": 2000.0}
    _add_flops(row, [1.0, 2.0, 4.0], 1e9, "card", dict(peak, peak_source="data sheet"))
    assert row["peak_fraction"] == pytest.approx(6.0 / 9.0)  # 3 x 2 x 1e9 x 2 / 2 s over 9
    assert row["peak_fraction_max"] == pytest.approx(12.0 / 9.0)


def test_a_data_sheet_peak_is_taken_as_given():
    from zoo.bench import machine_peak

    peak = machine_peak("mixed_bfloat16", peaks={"float32": 67e3, "bfloat16": 989e3})
    assert (peak["peak_gflops"], peak["peak_dtype"], peak["peak_source"]) == (
        989e3, "bfloat16", "data sheet")
    with pytest.raises(ValueError, match="no float16 peak"):
        machine_peak("mixed_float16", peaks={"float32": 1.0})


def test_the_profile_sums_op_kernels_by_type():
    from zoo.bench.profile import op_times

    times, wall = op_times("highway_net", mode="infer", batch=4, steps=1)
    assert wall > 0 and times and all(v >= 0 for v in times.values())
    assert any("MatMul" in kind for kind in times)  # the dense layers' kernels, by op type
    assert not any("::" in kind or "/" in kind for kind in times)
    with pytest.raises(ValueError, match="`mode` must be"):
        op_times("highway_net", mode="serve")


def test_paired_settings_time_every_setting_in_every_round():
    from zoo.bench.pair import paired_settings

    settings = (("float32", False), ("mixed_bfloat16", False))
    times = paired_settings("highway_net", mode="infer", batch=2, rounds=2, settings=settings)
    assert list(times) == list(settings)
    assert all(len(t) == 2 and min(t) > 0 for t in times.values())
    with pytest.raises(ValueError, match="`mode` must be"):
        paired_settings("highway_net", mode="serve")
