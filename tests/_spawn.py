"""Python child processes for the tests, forked from a process that has imported TensorFlow.

Most child processes the tests start are `python -c ...`, `python -m zoo.cli ...` or a recipe
script that imports TensorFlow and Keras first: about 5 s of CPU each on a 2-core AMD EPYC
(`python -c "import tensorflow, keras"`: 6.9 s user+sys, of which the interpreter's start is
a fraction), before any of the work the test checks. `Popen` and `run` here take the same
arguments as `subprocess`'s and give the same process (its own pid, stdin/stdout/stderr, working
folder, environment, `sys.argv`, exit status, signals), but fork it from a "zygote": one process
per pytest worker (and per environment, see below) that imported NumPy, TensorFlow and Keras
once and never ran an op, so the fork inherits no TensorFlow runtime or threads (TensorFlow
starts those at its first op). `zoo train highway_net --epochs 1 --steps-per-epoch 5`: 12.7 s
CPU as a new process, 7.7 s forked from a zygote, the same figures printed.

What a forked child does not share with a new process, and when `Popen` starts a new process
instead (`subprocess.Popen`, transparently):
- the environment variables read while TensorFlow and Keras import (`KERAS_BACKEND`,
  `TF_CPP_MIN_LOG_LEVEL`, `TF_ENABLE_ONEDNN_OPTS`, `PYTHONPATH`, ...): a zygote serves only the
  children whose environment equals its own apart from `RUNTIME_VARIABLES` (read later, when the
  runtime starts or by zoo itself), and a child of another environment gets a zygote of its own
  (at most `MAX_ZYGOTES` per worker, the least recently used stopped);
- Keras' backend: a zygote imports TensorFlow's; a child with another `KERAS_BACKEND` (JAX,
  PyTorch) is a new process;
- the modules already imported: a child that checks what gets imported (zoo's import without
  TensorFlow, say) or that must not see zoo must be a new process: `fork=False`, as must any
  command that is not `sys.executable` with `-c`, `-m` or a script (with `-u` at most), or that
  asks for `start_new_session`, `preexec_fn`, `pass_fds` or a shell; those go to `subprocess`.
- TensorFlow's and Keras' optional imports: the zygote loads them as zoo's own processes do
  (`zoo.core.lazy.skip_optional_imports`: no scikit-learn, matplotlib or JAX for Keras' wrappers,
  plotting and TFLite converter).

`zoo verify`'s program (`python -I zoo/export/verify_child.py JOBS REPO_ROOT`, TensorFlow without
Keras or zoo, as TF Serving runs an export) is forked from a zygote of its own: a `python -I`
process that ran the program's lines before its `__main__` guard (its import blocks and
TensorFlow's import), then forks each verification, which runs the whole program as a new
`python -I` process would (its lines before the guard again, on modules already loaded). Each
verification otherwise spent 5.5-7 s of CPU starting TensorFlow (`PRELUDE_SCRIPTS`;
`route_verification` sends `zoo.export.verify`'s processes here).

Example:
    >>> import sys
    >>> import _spawn
    >>> _spawn.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True).stdout
    '42\\n'
"""

from __future__ import annotations

import atexit
import builtins
import importlib.util
import io
import json
import os
import resource
import runpy
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# read after the imports (when the runtime starts, by zoo, keras-tuner or pytest): a zygote
# serves children that differ in these
RUNTIME_VARIABLES = ("CUDA_VISIBLE_DEVICES", "TF_CONFIG", "TF_NUM_INTRAOP_THREADS",
                     "TF_NUM_INTEROP_THREADS", "PYTEST_CURRENT_TEST", "JOB_COMPLETION_INDEX")
RUNTIME_PREFIXES = ("ZOO_", "KERASTUNER_", "SLURM_")
MAX_ZYGOTES = 4  # about 0.55 GB resident each (the forks share it); one of them zoo verify's
# programs run as `python -I PROGRAM ...` whose zygote runs their lines before `__main__`'s guard
PRELUDE_SCRIPTS = (os.path.join(ROOT, "zoo", "export", "verify_child.py"),)
PIPE, STDOUT, DEVNULL = subprocess.PIPE, subprocess.STDOUT, subprocess.DEVNULL
_FORKABLE_KEYS = {"stdin", "stdout", "stderr", "cwd", "env", "text", "universal_newlines",
                  "encoding", "errors", "bufsize", "close_fds"}


def _cpu(who=resource.RUSAGE_CHILDREN):
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def _key(env, prelude=None):
    return (prelude,) + tuple(sorted(
        (k, v) for k, v in env.items()
        if k not in RUNTIME_VARIABLES and not k.startswith(RUNTIME_PREFIXES)))


def _python_args(args):
    """(flags, mode, target, argv) of `[sys.executable, ...]` that a zygote can run, else None:
    `-c`, `-m` or a script, with `-u` or `-B`; `-I` only before one of `PRELUDE_SCRIPTS`."""
    if isinstance(args, (str, bytes)) or not args or str(args[0]) != sys.executable:
        return None
    rest, flags = [str(a) for a in args[1:]], []
    while rest and rest[0] in ("-u", "-B", "-I"):
        flags.append(rest.pop(0))
    if "-I" in flags:
        if rest and os.path.abspath(rest[0]) in PRELUDE_SCRIPTS:
            return flags, "script", os.path.abspath(rest[0]), rest[1:]
        return None
    if len(rest) >= 2 and rest[0] in ("-c", "-m"):
        return flags, rest[0], rest[1], rest[2:]
    if rest and not rest[0].startswith("-"):
        return flags, "script", rest[0], rest[1:]
    return None


class _Zygote:
    """One zygote process and the Unix socket it listens on."""

    def __init__(self, env, prelude=None):
        self.folder = tempfile.mkdtemp(prefix="zoo-zygote-")
        self.path = os.path.join(self.folder, "socket")
        command = [os.path.abspath(__file__), "--serve", self.path]
        if prelude:  # an isolated interpreter, as the program's own (`python -I`)
            command = ["-I", *command, "--prelude", prelude]
        self.process = subprocess.Popen([sys.executable, *command], env=env, stdin=DEVNULL,
                                        stdout=DEVNULL, stderr=DEVNULL, cwd=ROOT)
        deadline = time.monotonic() + 300
        while not os.path.exists(self.path + ".ready"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the test zygote did not start (exit {self.process.poll()})")
            time.sleep(0.05)
        with open(self.path + ".ready") as f:  # written whole, then renamed into place
            FORKED_CPU[0] += json.load(f)["cpu"]

    def fork(self, request, fds):
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        conn.connect(self.path)
        socket.send_fds(conn, [json.dumps(request).encode()], fds)
        reply = conn.recv(1 << 16)
        if not reply:
            conn.close()
            raise RuntimeError("the test zygote closed the connection without forking")
        return conn, json.loads(reply)["pid"]

    def stop(self):
        before = _cpu()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        FORKED_CPU[0] -= _cpu() - before  # counted already, child by child
        for name in ("socket", "socket.part", "socket.ready"):
            try:
                os.unlink(os.path.join(self.folder, name))
            except OSError:
                pass
        try:
            os.rmdir(self.folder)
        except OSError:
            pass


_ZYGOTES = {}  # key -> _Zygote, least recently used first
# CPU seconds of the zygotes' imports and of their children (the zygote reports each child's
# rusage as it reaps it), less what reached RUSAGE_CHILDREN when a zygote was reaped here:
# tests/conftest.py adds it to a test's CPU, as a new process's CPU is counted once reaped
FORKED_CPU = [0.0]
_LOCK = threading.Lock()


def _zygote(env, prelude=None):
    key = _key(env, prelude)
    with _LOCK:
        z = _ZYGOTES.pop(key, None)
        if z is None or z.process.poll() is not None:
            z = _Zygote(env, prelude)
        _ZYGOTES[key] = z
        while len(_ZYGOTES) > MAX_ZYGOTES:
            _ZYGOTES.pop(next(iter(_ZYGOTES))).stop()
        return z


@atexit.register
def stop_all():
    """Stops every zygote of this process (at exit; also callable)."""
    with _LOCK:
        while _ZYGOTES:
            _ZYGOTES.popitem()[1].stop()


def _child_end(spec, which, parent_fds):
    """(fd for the child, fd kept here or None) for `stdin`/`stdout`/`stderr`=`spec`."""
    default = {"stdin": 0, "stdout": 1, "stderr": 2}[which]
    if spec is None:
        return os.dup(default), None
    if spec == DEVNULL:
        return os.open(os.devnull, os.O_RDWR), None
    if spec == PIPE:
        r, w = os.pipe()
        return (r, w) if which == "stdin" else (w, r)
    if spec == STDOUT:
        return os.dup(parent_fds["stdout"]), None
    fd = spec if isinstance(spec, int) else spec.fileno()
    return os.dup(fd), None


class Popen:
    """`subprocess.Popen` for `[sys.executable, ...]` commands, forked from a zygote (see the
    module's docstring); `fork=False`, or a command a zygote cannot run, starts a new process.
    Supports `pid`, `args`, `returncode`, `stdin`/`stdout`/`stderr`, `poll`, `wait`,
    `communicate`, `send_signal`, `terminate`, `kill` and `with`."""

    def __new__(cls, args, *, fork=True, **kwargs):
        env = os.environ if kwargs.get("env") is None else kwargs["env"]
        if (not fork or _python_args(args) is None or set(kwargs) - _FORKABLE_KEYS
                or kwargs.get("close_fds") is False
                or env.get("KERAS_BACKEND", "tensorflow") != "tensorflow"):
            return subprocess.Popen(args, **kwargs)
        return super().__new__(cls)

    def __init__(self, args, *, fork=True, stdin=None, stdout=None, stderr=None, cwd=None,
                 env=None, text=False, universal_newlines=None, encoding=None, errors=None,
                 bufsize=-1, close_fds=True):
        flags, mode, target, argv = _python_args(args)
        self.args, self.returncode = args, None
        env = dict(os.environ if env is None else env)
        text = bool(text or universal_newlines or encoding or errors)
        kept, child = {}, {}
        child["stdin"], kept["stdin"] = _child_end(stdin, "stdin", {})
        child["stdout"], kept["stdout"] = _child_end(stdout, "stdout", {})
        child["stderr"], kept["stderr"] = _child_end(stderr, "stderr", child)
        request = {"flags": flags, "mode": mode, "target": target, "argv": argv, "env": env,
                   "cwd": os.path.abspath(str(cwd)) if cwd is not None else os.getcwd()}
        try:
            prelude = target if "-I" in flags else None
            self._conn, self.pid = _zygote(env, prelude).fork(
                request, [child["stdin"], child["stdout"], child["stderr"]])
        finally:
            for fd in child.values():
                os.close(fd)
        self.stdin = self.stdout = self.stderr = None
        for name, fd in kept.items():
            if fd is not None:
                mode_ = ("w" if name == "stdin" else "r") + ("" if text else "b")
                setattr(self, name, open(fd, mode_, buffering=bufsize if not text else -1,
                                         encoding=encoding if text else None,
                                         errors=errors if text else None))
        self._readers, self._output = [], {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for f in (self.stdout, self.stderr, self.stdin):
            if f is not None:
                f.close()
        self.wait()

    def _status(self, timeout):
        if self.returncode is None:
            ready, _, _ = select.select([self._conn], [], [], timeout)
            if not ready:
                return None
            reply = json.loads(self._conn.recv(1 << 16) or b'{"returncode": -9, "cpu": 0}')
            self._conn.close()
            FORKED_CPU[0] += reply["cpu"]
            self.returncode = reply["returncode"]
        return self.returncode

    def poll(self):
        return self._status(0)

    def wait(self, timeout=None):
        if self._status(timeout) is None:
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def send_signal(self, sig):
        if self.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def terminate(self):
        self.send_signal(signal.SIGTERM)

    def kill(self):
        self.send_signal(signal.SIGKILL)

    def communicate(self, input=None, timeout=None):
        if not self._readers:
            for name in ("stdout", "stderr"):
                f = getattr(self, name)
                if f is not None:
                    self._output[name] = []
                    t = threading.Thread(target=lambda f=f, out=self._output[name]:
                                         out.append(f.read()), daemon=True)
                    t.start()
                    self._readers.append(t)
            if self.stdin is not None:
                try:
                    if input:
                        self.stdin.write(input)
                    self.stdin.close()
                except BrokenPipeError:
                    pass
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._readers:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout)
        self.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        got = [self._output[n][0] if self._output.get(n) else None for n in ("stdout", "stderr")]
        for name in ("stdout", "stderr"):
            if getattr(self, name) is not None:
                getattr(self, name).close()
        return tuple(got)


def run(args, *, input=None, capture_output=False, timeout=None, check=False, fork=True,
        **kwargs):
    """`subprocess.run` through `Popen` (a zygote's fork where it can)."""
    if capture_output:
        kwargs["stdout"] = kwargs["stderr"] = PIPE
    if input is not None:
        kwargs["stdin"] = PIPE
    with Popen(args, fork=fork, **kwargs) as proc:
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    done = subprocess.CompletedProcess(args, proc.returncode, out, err)
    if check:
        done.check_returncode()
    return done


def route_verification():
    """`zoo.export.verify`'s processes (`python -I verify_child.py ...`) started through `run`
    here, forked from the verification zygote, in this process and the ones it forks (called
    once per testing process by tests/conftest.py). Returns the module whose `subprocess` was
    replaced (its `run` only; the rest is the real module's)."""
    from zoo.export import verification

    if not isinstance(verification.subprocess, _ViaZygote):
        verification.subprocess = _ViaZygote()
    return verification


class _ViaZygote(types.ModuleType):
    """`subprocess`, but `run` is this module's (a zygote's fork where it can)."""

    def __init__(self):
        super().__init__("subprocess")
        self.__dict__.update({k: v for k, v in vars(subprocess).items() if not k.startswith("__")})
        self.run = run


# --- the zygote -------------------------------------------------------------------------------


def _zoo_file(*parts):
    """A module of zoo's loaded by its path, without importing `zoo` itself."""
    spec = importlib.util.spec_from_file_location("_zoo_for_zygote_" + parts[-1][:-3],
                                                  os.path.join(ROOT, "zoo", *parts))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _preload():
    """What a zygote imports: zoo's optional-import filter (zoo/core/lazy.py, loaded by path so
    that `zoo` itself is not imported), NumPy, TensorFlow, Keras and matplotlib (warmed)."""
    _zoo_file("core", "lazy.py").skip_optional_imports()
    import keras  # noqa: F401
    import numpy  # noqa: F401
    import tensorflow  # noqa: F401

    # what a `zoo train` run draws its training curve with: zoo/train/curve.py (loaded by path,
    # as lazy.py is) draws one curve, so that matplotlib, its font list and a first figure are
    # ready (about 1 s of CPU in every forked run otherwise: 1.2 s for a run's first curve, 0.3 s
    # for a second in the same process)
    _zoo_file("train", "curve.py").plot_history(
        [{"kind": "train", "step": 1, "loss": 1.0},
         {"kind": "epoch", "step": 1, "validation_loss": 1.0}], "warm", io.BytesIO())


def _serve(path):
    """Forks a child per request; returns the request in the child (the zygote never returns)."""
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(64)
    with open(path + ".part", "w") as f:
        json.dump({"cpu": _cpu(resource.RUSAGE_SELF)}, f)
    os.rename(path + ".part", path + ".ready")
    children = {}  # pid -> connection
    while os.getppid() == parent:
        ready, _, _ = select.select([listener], [], [], 0.1)
        while children:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
            if pid == 0:
                break
            conn = children.pop(pid)
            try:
                conn.send(json.dumps({"returncode": os.waitstatus_to_exitcode(status),
                                      "cpu": usage.ru_utime + usage.ru_stime}).encode())
            except OSError:
                pass
            conn.close()
        if not ready:
            continue
        conn, _ = listener.accept()
        message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            listener.close()
            for other in children.values():
                other.close()
            conn.close()
            return json.loads(message), fds
        for fd in fds:
            os.close(fd)
        conn.send(json.dumps({"pid": pid}).encode())
        children[pid] = conn
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    sys.exit(0)


def _become(request, fds):
    """In the forked child: the request's standard streams, environment, folder and
    `sys.argv`, as a new `python FLAGS MODE TARGET ARGV...` process would have them."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    unbuffered = "-u" in request["flags"] or bool(os.environ.get("PYTHONUNBUFFERED"))
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.FileIO(0, "r", closefd=False),
                                                 encoding="utf-8")

    def writer(fd, errors, line):
        raw = io.FileIO(fd, "w", closefd=False)
        return io.TextIOWrapper(raw if unbuffered else io.BufferedWriter(raw), encoding="utf-8",
                                errors=errors, line_buffering=line, write_through=unbuffered)

    sys.stdout = sys.__stdout__ = writer(1, "strict", os.isatty(1))
    sys.stderr = sys.__stderr__ = writer(2, "backslashreplace", True)
    mode, target, argv = request["mode"], request["target"], request["argv"]
    if mode == "-c":
        sys.argv, sys.path[0] = ["-c", *argv], ""
        main = types.ModuleType("__main__")
        main.__builtins__ = builtins
        sys.modules["__main__"] = main
        exec(compile(target, "<string>", "exec"), main.__dict__)
    elif mode == "-m":
        sys.argv, sys.path[0] = [target, *argv], os.getcwd()
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    else:
        sys.argv = [target, *argv]
        if "-I" not in request["flags"]:  # isolated: no script folder on the path (-I implies -P)
            sys.path[0] = os.path.dirname(os.path.realpath(target))
        runpy.run_path(target, run_name="__main__")


def _prelude(program):
    """An isolated zygote's imports: `program`'s lines before its `__main__` guard, run as the
    program runs them (its arguments: no jobs file yet, this repository as its root)."""
    sys.argv = [program, os.devnull, ROOT]
    runpy.run_path(program, run_name="_zygote_prelude")


if __name__ == "__main__" and sys.argv[1:2] == ["--serve"]:
    socket_path = sys.argv[2]
    if sys.argv[3:4] == ["--prelude"]:
        _prelude(sys.argv[4])
    else:
        _preload()
    _become(*_serve(socket_path))
    sys.exit(0)
