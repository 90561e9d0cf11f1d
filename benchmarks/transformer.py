"""Training-step throughput of our Transformer encoder/decoder stacks vs keras-hub's layers.

Same process, same backend, same sizes: a stack of `--layers` encoder layers (self-attention +
feed-forward, post-norm, dropout) or decoder layers (causal self-attention + cross-attention +
feed-forward) trained with Adam on a mean-squared-error loss, with padding masks. Measures tokens
per second of `train_on_batch` (forward, backward, update), alternating the two implementations
over several rounds and keeping each one's best round (on a shared machine the fastest round is
the least disturbed estimate). Ratio = ours / keras-hub (>= 1.0: we are not slower).

Two dropout settings: the paper's P_drop = 0.1 (our layers drop the sub-layer outputs, as the
paper does; keras-hub's `dropout` also drops the attention weights), and no dropout at all, where
both do the same computation (up to the layer-norm epsilon).

Needs keras-hub (the `bench` extra: `pip install -e ".[bench]"`).

Usage:
    python benchmarks/transformer.py [--batch 32] [--length 64] [--d-model 256] [--d-ff 1024]
        [--heads 8] [--layers 2] [--steps 2] [--rounds 25] [--jit]
        [--out benchmarks/results/transformer.md]
"""

import argparse
import os
import platform
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from zoo.layers.transformer import TransformerDecoderLayer, TransformerEncoderLayer  # noqa: E402


def build(kind, impl, a, dropout):
    import keras_hub

    x_in = keras.Input((a.length, a.d_model), name="x")
    mask_in = keras.Input((a.length,), dtype="bool", name="mask")
    inputs = [x_in, mask_in]
    x = x_in
    if kind == "decoder":
        mem_in = keras.Input((a.length, a.d_model), name="memory")
        inputs.append(mem_in)
    for _ in range(a.layers):
        if impl == "zoo":
            if kind == "encoder":
                x = TransformerEncoderLayer(a.d_model, a.heads, a.d_ff, dropout=dropout)(
                    x, padding_mask=mask_in)
            else:
                x = TransformerDecoderLayer(a.d_model, a.heads, a.d_ff, dropout=dropout)(
                    x, mem_in, decoder_padding_mask=mask_in, encoder_padding_mask=mask_in)
        else:
            if kind == "encoder":
                x = keras_hub.layers.TransformerEncoder(a.d_ff, a.heads, dropout=dropout)(
                    x, padding_mask=mask_in)
            else:
                x = keras_hub.layers.TransformerDecoder(a.d_ff, a.heads, dropout=dropout)(
                    x, mem_in, decoder_padding_mask=mask_in, encoder_padding_mask=mask_in)
    model = keras.Model(inputs, x)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mse", jit_compile=a.jit)
    return model


def data(kind, a):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((a.batch, a.length, a.d_model)).astype("float32")
    lengths = rng.integers(a.length // 2, a.length + 1, a.batch)
    mask = np.arange(a.length)[None, :] < lengths[:, None]
    inputs = [x, mask]
    if kind == "decoder":
        inputs.append(rng.standard_normal((a.batch, a.length, a.d_model)).astype("float32"))
    return inputs, np.zeros_like(x)


def time_steps(model, inputs, y, steps):
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(inputs, y)
    return time.perf_counter() - start


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--length", type=int, default=64)
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--d-ff", type=int, default=1024)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--rounds", type=int, default=25)
    p.add_argument("--jit", action="store_true", help="compile the train step with XLA (both)")
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                 "transformer.md"))
    a = p.parse_args(argv)
    import keras_hub
    import tensorflow as tf

    rows = []
    for dropout, kind in [(d, k) for d in (0.1, 0.0) for k in ("encoder", "decoder")]:
        inputs, y = data(kind, a)
        models = {impl: build(kind, impl, a, dropout) for impl in ("zoo", "keras_hub")}
        params = {impl: m.count_params() for impl, m in models.items()}
        for m in models.values():  # warm-up: trace and compile
            time_steps(m, inputs, y, 2)
        times = {impl: [] for impl in models}
        for _ in range(a.rounds):
            for impl, m in models.items():
                times[impl].append(time_steps(m, inputs, y, a.steps))
        tokens = a.batch * a.length * a.steps
        tps = {impl: tokens / min(t) for impl, t in times.items()}
        ratio = tps["zoo"] / tps["keras_hub"]
        rows.append((kind, dropout, params["zoo"], params["keras_hub"], tps["zoo"], tps["keras_hub"], ratio))
        print(f"{kind} dropout {dropout}: zoo {tps['zoo']:.0f} tok/s, "
              f"keras-hub {tps['keras_hub']:.0f} tok/s, "
              f"ratio {ratio:.2f} (params {params['zoo']} vs {params['keras_hub']})", flush=True)
        keras.backend.clear_session()

    lines = [
        "# Transformer training-step throughput: zoo vs keras-hub",
        "",
        f"`python benchmarks/transformer.py` — backend {keras.backend.backend()}, TensorFlow "
        f"{tf.__version__}, keras {keras.__version__}, keras-hub {keras_hub.__version__}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU threads visible "
        f"(shared machine), XLA {'on' if a.jit else 'off'} for both.",
        "",
        f"Stack of {a.layers} layers, batch {a.batch}, length {a.length}, d_model {a.d_model}, "
        f"d_ff {a.d_ff}, {a.heads} heads, post-norm, padding masks (decoder: causal too); Adam on "
        f"an MSE loss; best of {a.rounds} rounds of {a.steps} `train_on_batch` steps, the two "
        "implementations alternating. With dropout 0.1 keras-hub also drops attention weights "
        "(its `dropout` covers both); ours, like the paper, drops sub-layer outputs and "
        "embeddings only. With dropout 0 both compute the same function (up to the layer-norm "
        "epsilon, 1e-6 vs 1e-5).",
        "",
        "| stack | dropout | params (zoo / keras-hub) | zoo tokens/s | keras-hub tokens/s "
        "| ratio zoo / keras-hub |",
        "|---|---|---|---|---|---|",
    ]
    for kind, dropout, pz, ph, tz, th, r in rows:
        lines.append(f"| {kind} | {dropout} | {pz:,} / {ph:,} | {tz:,.0f} | {th:,.0f} | {r:.2f} |")
    lines.append("")
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
