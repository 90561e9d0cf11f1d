"""The spread of the quality tests' figures over training seeds and CPU kernels.

Each run is a fresh process (oneDNN and XLA read their settings at start-up) that trains one
quality job exactly as its test and README row do, with `--seed SEED`, under one kernel variant:

- `default`: TensorFlow's defaults: oneDNN's kernels (the best ISA it finds) only where TensorFlow
  turns oneDNN on by itself (x86 CPUs with AVX-512 VNNI, bfloat16 or AMX), its own Eigen kernels
  elsewhere (an AMD EPYC without AVX-512, say);
- `avx2`: `TF_ENABLE_ONEDNN_OPTS=1 ONEDNN_MAX_CPU_ISA=AVX2`, oneDNN's AVX2 kernels on any x86 CPU
  since 2013-2015 (without the first setting, a CPU on which TensorFlow leaves oneDNN off ran
  Eigen's kernels: the DCGAN test took 1,344 s there instead of about 300 s);
- `no_onednn`: `TF_ENABLE_ONEDNN_OPTS=0`, TensorFlow's own Eigen kernels;
- `xla`: `--jit-compile on`, the training step compiled by XLA (not for the DCGAN, whose step
  Keras compiles);
- `one_thread`: `TF_NUM_INTRAOP_THREADS=1`, each op on one thread;
- `suite`: `TF_ENABLE_ONEDNN_OPTS=1 TF_NUM_INTRAOP_THREADS=1`, oneDNN's best kernels for the CPU
  on one thread, as the test suite runs TensorFlow (tests/conftest.py);
- `avx2_one_thread`: `avx2` on one intra-op thread (the DCGAN test's process);
- `xla_sse42`: `XLA_FLAGS=--xla_cpu_max_isa=SSE4_2`, XLA's code limited to SSE4.2 (for a job
  whose command compiles its step with XLA, the adding problem's: the kernels XLA generates
  depend on the CPU, as oneDNN's do).

    python tests/quality_spread.py JOB VARIANT SEED [--out FILE]   # one run, one JSON line
    python tests/quality_spread.py dcgan avx2 0 --epochs 60         # the DCGAN at other epochs
    python tests/quality_spread.py --all [--out FILE]              # every job, variant and seed

Jobs: `digits`, `adding`, `reversal` (tests/test_recipes.py), `main` (the README's main job),
`dcgan` (tests/test_dcgan_recipe.py, judged by its judge). The floors in those tests are the
published figure minus the spread this script measured (their docstrings quote it).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

JOBS = ("main", "digits", "adding", "reversal", "dcgan")


def command(job):
    """`zoo train` arguments of a job: the README's main job, or a quality test's command."""
    sys.path.insert(0, HERE)
    if job == "main":
        import test_readme

        return test_readme._commands("Set-up")[0][1:]
    import test_recipes

    return list({"digits": test_recipes.DIGITS, "adding": test_recipes.ADDING,
                 "reversal": test_recipes.REVERSAL}[job])


VARIANTS = {
    "default": {},
    "avx2": {"TF_ENABLE_ONEDNN_OPTS": "1", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "no_onednn": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "xla": {},
    "one_thread": {"TF_NUM_INTRAOP_THREADS": "1"},
    "suite": {"TF_ENABLE_ONEDNN_OPTS": "1", "TF_NUM_INTRAOP_THREADS": "1"},
    "avx2_one_thread": {"TF_ENABLE_ONEDNN_OPTS": "1", "ONEDNN_MAX_CPU_ISA": "AVX2",
                        "TF_NUM_INTRAOP_THREADS": "1"},
    "xla_sse42": {"XLA_FLAGS": "--xla_cpu_max_isa=SSE4_2"},
}


def _figures(summary):
    out = {"test": summary["final_test"], "validation": summary.get("final_validation")}
    for key in ("greedy_exact_match", "validation_greedy_exact_match"):
        if key in summary:
            out[key] = summary[key]
    return out


def one_run(job, variant, seed, epochs=None):
    """Train `job` in this process (the variant's environment already set); returns its figures.
    `epochs`: the DCGAN's, instead of its test's (tests/test_dcgan_recipe.py `EPOCHS`)."""
    sys.path.insert(0, HERE)
    with tempfile.TemporaryDirectory() as tmp:
        if job == "dcgan":
            import test_dcgan_recipe

            return test_dcgan_recipe.train_and_judge(os.path.join(tmp, "run"), seed=seed,
                                                     epochs=epochs or test_dcgan_recipe.EPOCHS)
        from zoo.train import recipe

        name, *argv = command(job)
        argv += ["--seed", str(seed), "--run-dir", os.path.join(tmp, "run"), "--no-export",
                 "--quiet"]
        if variant == "xla":
            argv += ["--jit-compile", "on"]
        return _figures(recipe.run(name, argv))


def run_fresh(job, variant, seed, timeout=3600, epochs=None):
    """One run in a fresh process with the variant's environment; returns its figures (or
    {"error": the end of its standard error})."""
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2", ZOO_QUALITY_RUN="1")
    # TensorFlow's default threads unless the variant sets them: not the test suite's one thread
    # (tests/conftest.py). The DCGAN scores the same either way (docs/dcgan.md); its test runs
    # `avx2_one_thread`, one thread beside the other pytest worker on the two cores
    env.pop("TF_NUM_INTRAOP_THREADS", None)
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)  # TensorFlow's choice unless the variant makes it
    env.update(VARIANTS[variant])
    extra = ["--epochs", str(epochs)] if epochs else []
    proc = subprocess.run([sys.executable, __file__, job, variant, str(seed), *extra], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(lines[-1][7:]) if lines else {"error": proc.stderr[-3000:]}


def spawn(job, variant, seed, out, epochs=None):
    start = time.time()
    figures = run_fresh(job, variant, seed, epochs=epochs)
    row = {"job": job, "variant": variant, "seed": seed, "seconds": round(time.time() - start)}
    if epochs:
        row["epochs"] = epochs
    row.update(figures)
    with open(out, "a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)


def main(argv):
    out = argv[argv.index("--out") + 1] if "--out" in argv else "quality_spread.jsonl"
    if argv and argv[0] == "--all":
        for job in JOBS:
            for variant in VARIANTS:
                if job == "dcgan" and variant == "xla":
                    continue
                for seed in (0, 1):
                    spawn(job, variant, seed, out)
        return
    job, variant, seed = argv[0], argv[1], int(argv[2])
    epochs = int(argv[argv.index("--epochs") + 1]) if "--epochs" in argv else None
    if epochs is not None and (job != "dcgan" or epochs < 1):
        sys.exit(f"quality_spread.py: --epochs is the DCGAN's (a positive integer), got {job} "
                 f"with {epochs}; the other jobs train their tests' commands")
    if not os.environ.get("ZOO_QUALITY_RUN"):  # called by hand: run in a fresh process
        return spawn(job, variant, seed, out, epochs)
    print("RESULT " + json.dumps(one_run(job, variant, seed, epochs)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
