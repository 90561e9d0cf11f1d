"""tests/_spawn.py: a child forked from a zygote is the process `subprocess` would have started."""

import os
import signal
import subprocess
import sys

import pytest

import _spawn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHONPATH=ROOT, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
SHOW = ("import json, os, sys; print(json.dumps({'argv': sys.argv, 'cwd': os.getcwd(), "
        "'x': os.environ.get('ZOO_SPAWN_X'), 'path0': sys.path[0], 'main': __name__}))")


def _both(args, **kwargs):
    """(forked, new process) results of the same `run`."""
    forked = _spawn.run(args, capture_output=True, text=True, env=ENV, **kwargs)
    new = subprocess.run(args, capture_output=True, text=True, env=ENV, **kwargs)
    assert isinstance(forked, subprocess.CompletedProcess)
    return forked, new


def test_a_forked_child_has_the_argv_folder_environment_and_exit_status_of_a_new_process(tmp_path):
    import json

    script = tmp_path / "show.py"
    script.write_text(SHOW + "\nsys.exit(3)\n")
    env = dict(ENV, ZOO_SPAWN_X="1")  # read after the imports: the same zygote
    for args in ([sys.executable, "-c", SHOW + "; sys.exit(3)", "a", "b c"],
                 [sys.executable, str(script), "a", "b c"]):
        forked = _spawn.run(args, capture_output=True, text=True, env=env, cwd=tmp_path)
        new = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path)
        assert forked.returncode == new.returncode == 3
        assert json.loads(forked.stdout) == json.loads(new.stdout), (forked.stdout, new.stdout)
    forked, new = _both([sys.executable, "-m", "json.tool"], input='{"a": [1, 2]}')
    assert (forked.returncode, forked.stdout) == (new.returncode, new.stdout) and new.stdout


def test_an_uncaught_exception_is_a_traceback_and_exit_1_and_stderr_can_join_stdout():
    forked, new = _both([sys.executable, "-c", "print('out', flush=True); raise ValueError('boom')"])
    assert forked.returncode == new.returncode == 1
    assert forked.stdout == new.stdout == "out\n"
    assert forked.stderr.splitlines()[-1] == new.stderr.splitlines()[-1] == "ValueError: boom"
    joined = _spawn.run([sys.executable, "-c", "import sys; print(1); print(2, file=sys.stderr)"],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    assert sorted(joined.stdout.split()) == ["1", "2"] and joined.stderr is None


def test_the_child_is_its_own_process_signals_reach_it_and_tensorflow_runs_there():
    proc = _spawn.Popen([sys.executable, "-u", "-c", "import os, time; import tensorflow as tf; "
                         "print(os.getpid(), int(tf.reduce_sum(tf.range(5))), flush=True); "
                         "time.sleep(60)"], stdout=subprocess.PIPE, text=True, env=ENV)
    assert isinstance(proc, _spawn.Popen)
    pid, total = map(int, proc.stdout.readline().split())
    assert (pid, total) == (proc.pid, 10) and proc.poll() is None and pid != os.getpid()
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(timeout=0.2)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    proc.stdout.close()


def test_what_a_zygote_cannot_run_is_a_new_process_and_children_share_a_zygote_by_environment():
    assert type(_spawn.Popen(["true"])) is subprocess.Popen
    for args, kwargs in (([sys.executable, "-I", "-c", "pass"], {}),
                         ([sys.executable, "-c", "pass"], {"fork": False}),
                         ([sys.executable, "-c", "pass"], {"start_new_session": True})):
        proc = _spawn.Popen(args, **kwargs)
        assert type(proc) is subprocess.Popen and proc.wait(timeout=120) == 0
    # a runtime variable (read after the imports) shares the zygote; an import-time one does not
    assert _spawn._key(dict(ENV, TF_CONFIG="{}", ZOO_X="1")) == _spawn._key(ENV)
    assert _spawn._key(dict(ENV, TF_CPP_MIN_LOG_LEVEL="1")) != _spawn._key(ENV)
    # another Keras backend: a new process (the zygotes import TensorFlow's)
    proc = _spawn.Popen([sys.executable, "-c", "pass"], env=dict(ENV, KERAS_BACKEND="jax"))
    assert type(proc) is subprocess.Popen and proc.wait(timeout=120) == 0


def test_a_forked_childs_cpu_is_counted_for_the_test_that_started_it():
    before = _spawn.FORKED_CPU[0]
    _spawn.run([sys.executable, "-c", "sum(i * i for i in range(3_000_000))"], env=ENV)
    assert _spawn.FORKED_CPU[0] - before > 0.05


def test_zoo_verify_forked_from_its_own_zygote_reports_as_a_new_process(tmp_path):
    """`zoo.export.verify`'s program (`python -I verify_child.py`: TensorFlow without Keras or
    zoo) forked from the verification zygote, as tests/conftest.py routes it, gives the report a
    new process gives, zoo blocked in both; its zygote is an isolated interpreter of its own."""
    import zoo
    from zoo.core.registry import get_spec
    from zoo.export import export_model, verification

    model = zoo.create_model("highway_net", **get_spec("highway_net").test_overrides)
    path = export_model(model, "hw", export_dir=str(tmp_path))
    assert verification is _spawn.route_verification()  # conftest routed it already
    assert isinstance(verification.subprocess, _spawn._ViaZygote)
    (program,) = _spawn.PRELUDE_SCRIPTS  # zoo/export/verify_child.py
    jobs = tmp_path / "jobs.json"
    jobs.write_text("[]")
    proc = _spawn.Popen([sys.executable, "-I", program, str(jobs), ROOT], env=ENV)
    assert isinstance(proc, _spawn.Popen) and proc.wait(timeout=300) == 0
    key = _spawn._key(ENV, program)
    assert key in _spawn._ZYGOTES and "-I" in _spawn._ZYGOTES[key].process.args
    routed = verification.verify(path, keras_model=model)
    verification.subprocess = subprocess
    try:
        new = verification.verify(path, keras_model=model)
    finally:
        _spawn.route_verification()
    assert routed == new and routed["ok"] and routed["zoo_blocked"], (routed, new)
