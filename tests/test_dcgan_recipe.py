"""Issue 5's DCGAN target, with issue 18's judge that can fail: the recipe on the embedded digits.

The judge (`tests/_digits_judge.py`) is a small CNN with an 11th "not a digit" class, trained
on the training digits and on noise, blends and corrupted digits drawn from its own seed (once,
stored in tests/data/ by `python tests/_digits_judge.py --write`, as this test trained it).
Before it judges anything, the test shows that it can fail: on images it never saw it must be
confident (one digit at probability >= 0.9) on fewer than 10% of uniform-noise images and of
50/50 blends of two held-out digits of different classes, and on at least 97% of the held-out
real digits. Then it labels 1,000 generated samples: at least `FLOOR` of them must be confident
(issue 5's target is `TARGET`; see below), and every class must appear among them (no
collapse). Two checks keep a degenerate
generator out: few samples may have a near-duplicate among the others (a generator whose mixture
components each collapsed to one image would pass the judge), and the samples must be no closer
to the training digits than 0.9 of the held-out real digits' distance (not copies).

The flags are docs/dcgan.md's (issue 5's with a mixture spread of 0.5), chosen with validation
judges (the same judge at seeds 7 and 8), never with this test's judge (seed 0), which only
reports. A run is deterministic on one machine, but the GAN's outcome follows the rounding of
the CPU's kernels: on a 2-core AMD EPYC with AVX-512, seed 0 at 60 epochs gives 0.726 with
oneDNN's default (AVX-512) kernels and 0.824 with `ONEDNN_MAX_CPU_ISA=AVX2`. So the test trains in
a fresh process with oneDNN held to its AVX2 kernels (`KERNELS`, tests/quality_spread.py), which
x86-64 CPUs have run since 2013-2015, and the figure repeats across CPUs.

The test trains 15 epochs (660 steps), a quarter of docs/dcgan.md's 60, to keep the suite short: a
stated lower target than issue 5's 0.80, which the 60-epoch run reaches on seed 0 (0.823-0.824 on
three machines, `python tests/quality_spread.py dcgan avx2 0 --epochs 60`; seed 1: 0.818 here
without a confident 8, 0.783 on an earlier machine). Measured at 15 epochs with those kernels
(`python tests/quality_spread.py dcgan avx2 SEED --epochs 15`, 2-core AMD EPYC without AVX-512,
2026-12-07): seed 0 0.640 (judge 0.000 / 0.002 / 0.986 on noise, blends, held-out digits; every
class, the rarest 49; no near-duplicates; median distance to training 8.44, held-out digits
6.08), seed 1 0.657 (every class, the rarest 26; 0.0%; 8.63), seed 2 0.652 (every class, the
rarest 20; 0.0%; 8.05). At 30 epochs (a measurement, `... SEED --epochs 30`): seed 0 0.743,
seed 1 0.793, seed 2 0.727, the same 0.743 and 0.793 on a 2-core AMD EPYC with AVX-512: the
held kernels make a run repeat across CPUs. `PUBLISHED` is seed 0's figure at 15 epochs, and
`FLOOR` is it less the spread measured over seeds (0.640 to 0.657), rounded up to 0.02;
docs/dcgan.md reports every run.
"""

import os

import numpy as np
import pytest

SIZE, CHANNELS, EPOCHS = 32, 3, 15
RECIPE_FLAGS = [
    "dcgan_generator_32", "--batch-size", 32, "--epochs", EPOCHS,
    "--set", "base_filters=32", "--set", "kernel_size=4", "--set", "latent_components=20",
    "--set", "latent_scale=0.5",
    "--discriminator-set", "base_filters=32", "--discriminator-set", "kernel_size=4",
    "--label-smoothing", 0.1, "--ema-decay", 0.999, "--diff-augment", "translation",
]
# quality_spread.py: TF_ENABLE_ONEDNN_OPTS=1 ONEDNN_MAX_CPU_ISA=AVX2 TF_NUM_INTRAOP_THREADS=1:
# one thread, as the suite's other tests, beside the other pytest worker on the two cores (seed 0
# at 15 epochs: the same 0.640 and classes as with both threads, 103 s wall and 117 s CPU alone)
KERNELS = "avx2_one_thread"
TARGET = 0.8  # issue 5's: met at 60 epochs on seed 0 (0.824), not by the test's 15 epochs
PUBLISHED = 0.640  # README.md and docs/dcgan.md: seed 0 with KERNELS (tests/test_readme.py checks)
SPREAD = 0.02  # over seeds: 0.640 (seed 0) to 0.657 (seed 1), rounded up
FLOOR = round(PUBLISHED - SPREAD, 3)  # 0.620, asserted


def _nearest(a, b, exclude_self=False):
    """Euclidean distance from each row of `a` to its nearest row of `b`."""
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2.0 * a @ b.T
    d = np.sqrt(np.maximum(d, 0.0))
    if exclude_self:
        np.fill_diagonal(d, np.inf)
    return d.min(1)


def _real_digits(size, channels):
    """The training and held-out digits and labels through the recipe's preprocessing."""
    from _digits_judge import upsample
    from zoo import data

    x_tr, x_te, y_tr, y_te = data.digits_split(0)
    return upsample(x_tr, size, channels), upsample(x_te, size, channels), y_tr, y_te


def train_and_judge(run_dir, seed=0, epochs=EPOCHS):
    """Train the recipe with `--seed seed` (and `--epochs epochs`) into `run_dir` and judge 1,000
    samples; returns the figures the test asserts (tests/quality_spread.py measures their spread
    with it)."""
    from _digits_judge import Judge
    from zoo.train import recipe

    name, *flags = [str(a) for a in RECIPE_FLAGS]
    flags[flags.index("--epochs") + 1] = str(epochs)
    args = recipe.build_parser(name).parse_args(flags + [
        "--seed", str(seed), "--run-dir", str(run_dir), "--no-export", "--quiet"])
    trainer = recipe.train_task(name, args)
    grids = len(os.listdir(os.path.join(str(run_dir), "samples")))
    z = np.random.default_rng(1).uniform(-1, 1, (1000, 100)).astype("float32")
    images = np.asarray(trainer.model.sampler(z, training=False))

    train, held_out, y_train, y_held_out = _real_digits(SIZE, CHANNELS)
    judge = Judge.stored()  # trained on `train` with seed 0 (tests/_digits_judge.py --write)
    rates = judge.rates(held_out, y_held_out, seed=100)
    confident, digit = judge.confident(images)
    classes = np.bincount(digit[confident], minlength=10)

    train, held_out = (x[..., 0].reshape(len(x), -1) for x in (train, held_out))
    flat = images[..., 0].reshape(len(images), -1)
    to_other = _nearest(flat, flat, exclude_self=True)
    return {"grids": grids, "shape": list(images.shape),
            "judge": {k: float(v) for k, v in rates.items()},
            "confident": float(confident.mean()), "classes": classes.tolist(),
            "near_duplicates": float(np.mean(to_other < 1.0)),
            "to_other": float(np.median(to_other)),
            "to_train": float(np.median(_nearest(flat, train))),
            "real_to_train": float(np.median(_nearest(held_out, train)))}


@pytest.mark.slow
def test_dcgan_recipe_digits_samples_are_recognisable_and_diverse():
    # in a fresh process with oneDNN held to its AVX2 kernels, which x86-64 CPUs have run since
    # 2013-2015: the figure then repeats across CPUs (see the module's docstring); one thread
    import quality_spread

    r = quality_spread.run_fresh("dcgan", KERNELS, seed=0)
    assert "error" not in r, r["error"]
    assert r["grids"] == EPOCHS  # one grid per epoch
    assert r["shape"] == [1000, SIZE, SIZE, CHANNELS]
    rates, classes = r["judge"], np.array(r["classes"])
    print(f"judge confident on {rates}; samples: confident {r['confident']:.3f}, per class "
          f"{r['classes']}, near-duplicates {r['near_duplicates']:.3f}, median distance to the "
          f"nearest other sample {r['to_other']:.2f}, median distance to the nearest "
          f"training digit {r['to_train']:.2f} (held-out real digits: {r['real_to_train']:.2f})")
    # the judge can fail: it rejects what is not a digit and accepts real digits it never saw
    assert rates["noise"] < 0.1, rates
    assert rates["blends"] < 0.1, rates
    assert rates["real"] >= 0.97, rates
    assert r["confident"] >= FLOOR, (r["confident"], TARGET, r["classes"])
    assert (classes > 0).all(), r["classes"]
    # A distance of 1 is a sixth of the real digits' typical nearest-neighbour distance (about 6);
    # generators whose mixture components collapsed had 58-100% of their samples that close.
    assert r["near_duplicates"] <= 0.05, r["near_duplicates"]
    # not copies: no closer to the training digits than held-out real digits are (docs/dcgan.md)
    assert r["to_train"] >= 0.9 * r["real_to_train"], (r["to_train"], r["real_to_train"])


def test_the_dcgan_page_shows_the_tests_command():
    """docs/dcgan.md shows the command this test trains, exactly (its first `zoo train` line)."""
    import re
    import shlex

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "docs", "dcgan.md")) as f:
        text = f.read()
    shown = [shlex.split(line, comments=True)
             for block in re.findall(r"```bash\n(.*?)\n```", text, re.S)
             for line in block.replace("\\\n", " ").splitlines()
             if line.startswith("zoo train dcgan_generator_32 --batch-size")]
    assert shown and shown[0] == ["zoo", "train", *[str(a) for a in RECIPE_FLAGS]], shown
