"""Decoded tokens per second: `zoo.models.transformer_decoding` with the key/value cache against the
uncached decoder.

Same process, same model, same inputs: greedy decoding and beam search (beam 4, alpha 0.6) of a
batch of source sentences at output lengths 32, 128 and 256, each with `cache=True` (the decoder
runs on the newest token only, reusing the earlier positions' keys and values) and `cache=False`
(the decoder runs over the whole prefix at every step, as before the cache). Both are compiled the
way they are served: `tf.function` with a `[None, None]` int32 signature on TensorFlow (XLA off,
as in the exported SavedModel), `jax.jit` on JAX; each is called once before timing (tracing,
compilation). The end id is set outside the vocabulary, so every run decodes exactly `length`
tokens per sentence; decoded tokens/s = batch x length / wall time (for beam search: tokens of the
returned hypotheses, not of all beams). The two decoders alternate within each repeat (cached and
uncached of one length back to back); the table gives the median over the repeats and the range,
and the speed-up median(cached) / median(uncached). Before timing, the script checks that both
decoders return the same token ids.

The model is small but real (a random-weight `zoo.transformer_seq2seq`; speed does not depend on the
weights): by default 2 layers, d_model 128, d_ff 512, 4 heads, a shared vocabulary of 4000 tokens,
batch 4, source length 32 -- small enough that the uncached decoder at length 256 finishes on 2
shared CPU cores in a few minutes. `transformer_base` sizes (`--layers 6 --d-model 512 --d-ff 2048
--heads 8`) take far longer there.

Usage:
    python benchmarks/kv_cache_decoding.py [--lengths 32 128 256] [--repeats 3] [--batch 4]
        [--source-length 32] [--layers 2] [--d-model 128] [--d-ff 512] [--heads 4]
        [--vocab 4000] [--beam 4] [--out benchmarks/results/kv_cache_decoding.md]
"""

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import zoo  # noqa: E402
from zoo.models.transformer_decoding import translate  # noqa: E402


def compiled(model, length, beam, cache, vocab):
    """`translate` at a fixed length, beam and cache setting, compiled as it is served."""

    def run(ids):
        return translate(model, ids, max_length=length, beam_size=beam, alpha=0.6, cache=cache,
                         end_id=vocab)  # an id never generated: every run decodes `length` tokens

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(run, input_signature=[tf.TensorSpec([None, None], tf.int32)])
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(run)
    return run


def timed(fn, src):
    start = time.perf_counter()
    out = fn(src)
    np.asarray(out["target_ids"])  # wait for the result
    return time.perf_counter() - start, out


def uptime():
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "(uptime unavailable)"


def versions():
    parts = [f"backend {keras.backend.backend()}", f"keras {keras.__version__}",
             f"numpy {np.__version__}", f"Python {platform.python_version()}"]
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        parts.insert(1, f"TensorFlow {tf.__version__}")
    elif keras.backend.backend() == "jax":
        import jax

        parts.insert(1, f"JAX {jax.__version__}")
    return ", ".join(parts) + f", {platform.machine()}, {os.cpu_count()} CPU threads visible"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[32, 128, 256])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--source-length", type=int, default=32)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--d-ff", type=int, default=512)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--vocab", type=int, default=4000)
    p.add_argument("--beam", type=int, default=4)
    p.add_argument("--out", default="benchmarks/results/kv_cache_decoding.md")
    a = p.parse_args(argv)

    load_before, started = uptime(), time.perf_counter()
    keras.utils.set_random_seed(0)
    model = zoo.transformer_seq2seq(vocabulary_size=a.vocab, num_layers=a.layers, d_model=a.d_model,
                            d_ff=a.d_ff, num_heads=a.heads, dropout=0.0,
                            max_length=max(a.lengths) + 1 + a.source_length)
    src = np.random.default_rng(0).integers(3, a.vocab, (a.batch, a.source_length)).astype("int32")
    decoders = [("greedy", 1), (f"beam {a.beam}", a.beam)]
    fns = {}
    for name, beam in decoders:
        for length in a.lengths:
            outs = {}
            for cache in (False, True):
                fn = fns[name, length, cache] = compiled(model, length, beam, cache, a.vocab)
                outs[cache] = np.asarray(fn(src)["target_ids"])  # trace and compile
            assert (outs[True] == outs[False]).all(), f"{name} at {length}: outputs differ"
            print(f"{name} length {length}: compiled, cached and uncached outputs equal",
                  flush=True)
    times = {key: [] for key in fns}
    for r in range(a.repeats):
        for name, _ in decoders:
            for length in a.lengths:
                for cache in ((False, True) if r % 2 == 0 else (True, False)):
                    seconds, _ = timed(fns[name, length, cache], src)
                    times[name, length, cache].append(seconds)
                    print(f"repeat {r + 1}: {name} length {length} cache={cache}: {seconds:.2f} s",
                          flush=True)

    def rate(key):
        per = sorted(a.batch * key[1] / t for t in times[key])
        return float(np.median(per)), per[0], per[-1]

    rows = []
    for name, _ in decoders:
        for length in a.lengths:
            off, on = rate((name, length, False)), rate((name, length, True))
            rows.append(f"| {name} | {length} | {off[0]:,.0f} ({off[1]:,.0f}-{off[2]:,.0f}) | "
                        f"{on[0]:,.0f} ({on[1]:,.0f}-{on[2]:,.0f}) | {on[0] / off[0]:.1f}x |")
    command = "python " + " ".join([os.path.relpath(__file__)] + (argv or sys.argv[1:]))
    text = "\n".join([
        f"`{command}` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
        f"{versions()}.",
        "",
        f"Load (`uptime`) before: `{load_before}`; after: `{uptime()}` "
        f"({time.perf_counter() - started:.0f} s in all).",
        "",
        f"Random-weight `zoo.transformer_seq2seq`: {a.layers} layers, d_model {a.d_model}, d_ff {a.d_ff}, "
        f"{a.heads} heads, shared vocabulary {a.vocab} ({model.count_params():,} parameters); "
        f"batch {a.batch}, source length {a.source_length}; every run decodes exactly the output "
        f"length (end id outside the vocabulary); alpha 0.6 for beam search. Decoded tokens/s = "
        f"batch x output length / wall time of one call (beam search: tokens of the returned "
        f"hypotheses); median over {a.repeats} repeats, range in brackets, cached and uncached "
        f"alternating; speed-up = median cached / median uncached. Both decoders returned the "
        f"same token ids.",
        "",
        "| decoder | output length | uncached tokens/s | cached tokens/s | speed-up |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ])
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
