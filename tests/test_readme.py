"""CI runs exactly the test command README.md shows, after exactly its install command."""

import json
import os
import re

import pytest

from conftest import durations_row

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _setup_section():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    return text.split("\n## Set-up\n", 1)[1].split("\n## ", 1)[0]


def test_ci_runs_readme_test_command():
    blocks = re.findall(r"```bash\n(.*?)\n```", _setup_section(), re.S)
    assert len(blocks) == 2, blocks
    install, test_cmd = blocks
    assert "pip install -e \".[test]\"" in install and "zoo train" in install
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        ci = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    assert ci[-1] == test_cmd.strip(), (ci[-1], test_cmd)
    script = "\n".join(ci)  # the project with its test extra: through uv, else through pip
    assert 'uv pip install --quiet --python "$(command -v python)" -e ".[test]"' in script
    assert 'python -m pip install --quiet -e ".[test]"' in script


# ------------------------------------------------------------------ the README's examples, run
def _zoo(argv, cwd, timeout=900):
    """`zoo ARGV` (the console script's `zoo.cli:main`) in a fresh process in `cwd` (forked from
    tests/_spawn.py's zygote); returns its standard output, after asserting that it succeeded."""
    import sys

    import _spawn

    env = dict(os.environ, PYTHONPATH=ROOT, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
    proc = _spawn.run([sys.executable, "-c", "import sys; from zoo.cli import main; "
                           "sys.exit(main(sys.argv[1:]))", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (argv, (proc.stdout + proc.stderr)[-3000:])
    return proc.stdout


def _readme():
    with open(os.path.join(ROOT, "README.md")) as f:
        return f.read()


def _commands(section):
    """The `zoo ...` commands of a README section's bash blocks, continuation lines joined and
    comments dropped, split as the shell splits them."""
    import shlex

    text = _readme().split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    out = []
    for block in re.findall(r"```bash\n(.*?)\n```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            for i, word in enumerate(words):  # `.venv/bin/zoo train ...` after `&&`
                if word.endswith("zoo") and (i == 0 or words[i - 1] == "&&"):
                    end = words.index("&&", i) if "&&" in words[i:] else len(words)
                    out.append(words[i + 1:end])
    return out


@pytest.mark.slow
def test_readme_main_job_as_shown_reaches_the_digits_figure_exports_verifies_and_resumes(
        tmp_path):
    """The README's main job exactly as it shows it, in a scratch working folder: the digits
    quality job (tests/test_recipes.py `DIGITS`, the results table's first row): the line it
    quotes, a test accuracy of at least the published figure less its measured spread,
    recomputed here from the saved model's predictions on the held-out 360 images, the export,
    the trained model with its preprocessing, `zoo verify` on the export, and the resume."""
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import test_recipes as q
    from zoo.core import weights as zw
    from zoo.core.registry import get_spec
    from zoo.tasks import task_class
    from zoo.train import recipe

    train = _commands("Set-up")[0]
    assert train == ["train", *q.DIGITS], train
    out = _zoo(train, tmp_path)
    line = re.search(r"googlenet_bn: test accuracy (\d\.\d{4}), validation accuracy (\d\.\d{4}), "
                     r"exported to (\S+)", out)
    assert line and line.group(3) == "saved_models/googlenet_bn/1", out[-2000:]
    quoted = re.search(r"`(googlenet_bn: test accuracy .*?)`", _readme().replace("\n", " "))
    assert re.fullmatch(r"googlenet_bn: test accuracy \d\.\d{4}, validation accuracy \d\.\d{4}, "
                        r"exported to saved_models/googlenet_bn/1", quoted.group(1))
    assert (tmp_path / "saved_models/googlenet_bn/1/saved_model.pb").exists()
    run = tmp_path / "runs" / "googlenet_bn"
    assert (run / "model.keras.zoo.json").exists()
    with open(run / "summary.json") as f:
        summary = json.load(f)
    # the figures, recomputed from the saved model's predictions on the job's own splits
    spec = get_spec(q.DIGITS[0])
    args = recipe.build_parser(spec.name).parse_args(q.DIGITS[1:])
    source, _ = task_class(spec.task).from_args(args).make_source(spec, args)
    assert (source.num_validation, source.num_test) == (216, 360)
    model = zw.load_model(str(run / "model.keras"))
    assert model.count_params() == summary["params"] == 7_020_392 - 1_025_000 + 10_250
    val, accuracy = (q._accuracy(model, source, split) for split in ("validation", "test"))
    assert (f"{accuracy:.4f}", f"{val:.4f}") == line.group(1, 2), (accuracy, val, out[-2000:])
    assert accuracy == pytest.approx(summary["final_test"]["accuracy"], abs=1e-6)
    assert accuracy >= q.DIGITS_PUBLISHED - q.DIGITS_SPREAD, (accuracy, summary)
    verify = [c for c in _commands("Three examples") if c[0] == "verify"]
    assert verify == [["verify", "saved_models/googlenet_bn"]]
    _zoo(verify[0], tmp_path)
    # "run it again and it resumes" (issue 30): the same command in the same working folder, whose
    # run folder is the default relative runs/googlenet_bn, resumes at the first run's last step
    # (before the fix it said "from scratch" and overwrote the checkpoints); nothing is left to train
    steps = summary["steps"]
    again = _zoo(train, tmp_path)
    assert f"; resuming at step {steps} from {run / 'checkpoints' / f'ckpt-{steps}'}" in again, \
        again[-2000:]
    with open(run / "summary.json") as f:
        summary = json.load(f)
    assert summary["resumed_from_step"] == steps and summary["steps"] == steps
    assert summary["export_path"] == str(tmp_path / "saved_models" / "googlenet_bn" / "2")


def _trials(path):
    """trials.md's rows as dicts of its columns."""
    with open(path) as f:
        rows = [line.strip().strip("|").split("|") for line in f if line.startswith("| ")]
    header = [c.strip() for c in rows[0]]
    return [dict(zip(header, (c.strip() for c in row))) for row in rows[1:]]


@pytest.mark.slow
def test_readme_search_example_runs_as_shown_and_ranks_the_gates_as_it_says(tmp_path):
    """The README's search command exactly as shown, in a scratch working folder: 7 trials,
    trials.md and trials.png, the best trial exported to saved_models/highway_net/1, and the
    ranking the README and docs/tuning.md state: highway gating with a negative bias or exclusive
    gating with -6 best, exclusive -6 better than exclusive 0, shortcut-only -6 diverged."""
    tune, = [c for c in _commands("Three examples") if c[0] == "tune"]
    out = _zoo(tune, tmp_path)
    assert "grid search over 7 trials" in out, out[-2000:]
    assert "best model exported to saved_models/highway_net/1" in out, out[-2000:]
    project = tmp_path / "runs/tune/highway_net_grid"
    assert (project / "trials.png").exists()
    assert (tmp_path / "saved_models/highway_net/1/saved_model.pb").exists()
    trials = _trials(project / "trials.md")
    print((project / "trials.md").read_text())
    assert len(trials) == 7 and all(t["status"] == "COMPLETED" for t in trials), trials

    def score(variant, bias):
        key = "highway_gate_bias" if variant == "highway" else "gate_bias"
        t, = [t for t in trials if t["variant"] == variant and t[key] == bias]
        return float(t["score"])

    best = min(trials, key=lambda t: float(t["score"]))
    assert (best["variant"], best["highway_gate_bias"] or best["gate_bias"]) in {
        ("highway", "-2"), ("highway", "-3"), ("exclusive", "-6")}, trials
    assert float(best["score"]) < 0.3, best
    assert score("exclusive", "-6") < score("exclusive", "0"), trials
    assert score("shortcut_only", "-6") > 1.0, trials  # diverged


def _figure(text):
    """0.978 from "97.8%", 0.00028 from "0.00028"."""
    return float(text[:-1]) / 100 if text.endswith("%") else float(text)


def test_readme_results_are_the_quality_tests_commands_figures_and_floors():
    """Each row of the README's results table is a quality test's command exactly, its figure the
    test's PUBLISHED one and its target the floor the test asserts; the DCGAN's figure too."""
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import test_dcgan_recipe as dcgan
    import test_recipes as q

    rows = {}
    for line in _readme().split("\n**Training on the embedded data**", 1)[1].splitlines():
        cells = line.split(" | ")
        if line.startswith("| `zoo train") and len(cells) >= 3:
            command = re.match(r"\| `zoo train ([^`]*)`", line).group(1)
            rows[command] = (re.search(r"\*\*([\d.]+%?)\*\*", cells[2]).group(1), cells[1])
    jobs = {"digits": (q.DIGITS, q.DIGITS_PUBLISHED, q.DIGITS_PUBLISHED - q.DIGITS_SPREAD),
            "adding": (q.ADDING, q.ADDING_PUBLISHED, q.ADDING_PUBLISHED + q.ADDING_SPREAD),
            "reversal": (q.REVERSAL, q.REVERSAL_PUBLISHED,
                         q.REVERSAL_PUBLISHED - q.REVERSAL_SPREAD)}
    assert len(rows) == len(jobs), rows
    for job, (command, published, floor) in jobs.items():
        figure, target = rows[" ".join(command)]  # KeyError: the README shows another command
        assert _figure(figure) == pytest.approx(published), (job, figure, published)
        shown = re.search(r"([<>]=?) ([\d.]+%?)", target)
        assert _figure(shown.group(2)) == pytest.approx(floor), (job, target, floor)
    example = re.search(re.escape("zoo train " + " ".join(q.DIGITS)) + r" +# ([\d.]+%) test accuracy",
                        _readme())
    assert _figure(example.group(1)) == pytest.approx(q.DIGITS_PUBLISHED), example.group(0)
    dcgan_line = _readme().split("\nDCGAN on the digits", 1)[1].split("\n\n", 1)[0]
    assert f"**{dcgan.PUBLISHED:.3f}**" in dcgan_line, dcgan_line
    assert f"at least {dcgan.FLOOR:.3f}" in dcgan_line.replace("\n", " "), dcgan_line


def test_readme_quotes_the_recorded_durations():
    """tests/durations.txt (the last recorded run, `pytest --durations-file`) is what the README
    quotes where it states the suite's time."""
    with open(os.path.join(ROOT, "tests", "durations.txt")) as f:
        header = f.readline()
        recorded = [durations_row(line)[0] for line in f if not line.startswith("#")]
    run = re.match(r"# (\d+ tests, \d+ s wall, -n \d+, [\d-]+ [\d:]+ UTC)", header).group(1)
    assert f"`{run}`" in _readme().replace("\n", " "), run
    assert len(recorded) == int(run.split()[0]) and len(set(recorded)) == len(recorded)
