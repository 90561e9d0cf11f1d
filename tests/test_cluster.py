"""Clusters (issue 32): `--cluster` on tf.distribute's resolvers and `zoo launch`'s files, run.

* Slurm, for real: a one-node cluster (munged, slurmctld, slurmd from Debian's `slurm-wlm`, a
  generated slurm.conf with this host's name and a fresh munge key) comes up on loopback, the
  script `zoo launch slurm` writes runs with two tasks under `sbatch`, and the weights equal one
  process's (as tests/test_train.py's multi-worker test checks); the cluster is stopped after.
  Without Slurm installed (or not as root) the test skips, except under CI=true, where it fails
  (`.ci/run` installs and starts what it needs).
* Kubernetes cannot run here: the manifests are validated against Kubernetes' own schemas
  (`kubernetes-validate`) and the `TFJob` against the training operator's CRD schema
  (tests/data/tfjob_crd_v1.9.0.schema.json, its source in its `$comment`); then each pod's
  environment (the `TF_CONFIG` the operator writes; the indexed Job's `JOB_COMPLETION_INDEX` and
  `ZOO_WORKER_HOSTS`) runs the pod's command as a local process on loopback ports, and the
  weights equal one process's.
* TPU: the resolver and flags; one line and exit 2 when no TPU is reachable.

Every run trains `highway_net` (depth 2, width 16: no batch normalisation, no dropout) for 6
steps on the embedded digits.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import _spawn
from conftest import finish_process

pytestmark = pytest.mark.xdist_group("test_cluster")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA = os.path.join(ROOT, "tests", "data", "tfjob_crd_v1.9.0.schema.json")
ZOO = f"{sys.executable} -m zoo.cli"
FLAGS = ["--set", "depth=2", "--set", "width=16", "--epochs", "2", "--steps-per-epoch", "3",
         "--batch-size", "32", "--no-export", "--quiet", "--jit-compile", "off"]
TIMEOUT = 300
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _missing(reason):
    """Skip on a developer's machine; fail under CI, where .ci/run provides what is missing."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: .ci/run installs it)")
    pytest.skip(reason)


def _env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "KERASTUNER_")) and k not in (
               "TF_CONFIG", "JOB_COMPLETION_INDEX", "ZOO_WORKER_HOSTS", "TPU_NAME")}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["CUDA_VISIBLE_DEVICES"] = ""
    env.update(extra)
    return env


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(words, env=None, cwd=None):
    """`words` started with its output captured: a `python -m zoo.cli` forked from a test zygote
    (tests/_spawn.py: TensorFlow imported once), the Slurm daemons as new processes."""
    return _spawn.Popen(words, env=env or _env(), cwd=cwd, stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, text=True)


def _finish(proc, timeout=TIMEOUT):
    return finish_process(proc, timeout)


def _checkpoint(run_dir):
    """Every variable of the run's last checkpoint (the model's, through the optimizer, and
    the optimizer's slots), by name."""
    import tensorflow as tf

    path = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))
    assert path, f"no checkpoint in {run_dir}"
    reader = tf.train.load_checkpoint(path)
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
            if k.endswith("VARIABLE_VALUE") and not k.startswith("save_counter")}


def _assert_equal_runs(run_dir, reference):
    got = _checkpoint(run_dir)
    assert sorted(got) == sorted(reference)
    assert int(got["step/.ATTRIBUTES/VARIABLE_VALUE"]) == 6
    for k in reference:
        np.testing.assert_allclose(got[k], reference[k], atol=1e-5, rtol=0, err_msg=k)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One process, one replica: the weights every cluster run must equal."""
    run = tmp_path_factory.mktemp("reference") / "run"
    _finish(_start([*ZOO.split(), "train", "highway_net", *FLAGS, "--strategy", "one_device",
                    "--cluster", "none", "--run-dir", str(run)]))
    return _checkpoint(str(run))


# ------------------------------------------------------------------------------------------------
# Slurm: a real one-node cluster on loopback
# ------------------------------------------------------------------------------------------------

SLURM_CONF = """\
ClusterName=zootest
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={d}/munge.sock
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName={host} CPUs={cpus} State=UNKNOWN
PartitionName=zoo Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE
"""


def _slurm_cluster(d):
    """Start munged, slurmctld and slurmd (one node: this host, 2 CPUs at least) in folder `d`;
    returns (their processes, the environment that reaches them)."""
    host = socket.gethostname().split(".")[0]
    for sub in ("state", "spool"):
        os.makedirs(os.path.join(d, sub))
    key = os.path.join(d, "munge.key")
    with open(key, "wb") as f:
        f.write(os.urandom(128))
    os.chmod(key, 0o600)
    conf = os.path.join(d, "slurm.conf")
    with open(conf, "w") as f:
        f.write(SLURM_CONF.format(host=host, d=d, ctld_port=_free_port(), d_port=_free_port(),
                                  cpus=max(2, os.cpu_count() or 2)))
    env = _env(SLURM_CONF=conf)
    procs = [_start(["munged", "-F", "--force", f"--key-file={key}", f"--socket={d}/munge.sock",
                     f"--pid-file={d}/munged.pid", f"--log-file={d}/munged.log",
                     f"--seed-file={d}/munged.seed"], env)]
    deadline = time.time() + 30
    while not os.path.exists(f"{d}/munge.sock"):
        assert procs[0].poll() is None and time.time() < deadline, procs[0].communicate()[0]
        time.sleep(0.1)
    procs.append(_start(["slurmctld", "-D", "-f", conf], env))
    procs.append(_start(["slurmd", "-D", "-f", conf], env))
    while True:
        state = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True,
                               text=True).stdout.strip()
        if state == "idle":
            return procs, env
        assert all(p.poll() is None for p in procs), [p.communicate()[0][-1000:] for p in procs]
        assert time.time() < deadline, f"the node is {state!r}, not idle, after 30 s"
        time.sleep(0.2)


def _stop(procs):
    for p in reversed(procs):
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    tools = ("munged", "slurmctld", "slurmd", "sbatch", "sinfo", "scontrol")
    absent = [t for t in tools if shutil.which(t) is None]
    if absent:
        _missing(f"Slurm is not installed ({', '.join(absent)} not found; "
                 "apt-get install slurm-wlm munge)")
    if os.geteuid() != 0:
        _missing("the one-node Slurm cluster runs slurmd as root")
    host = socket.gethostname().split(".")[0]
    try:
        socket.gethostbyname(host)
    except OSError:
        _missing(f"this host's name {host!r} does not resolve (add it to /etc/hosts): the "
                 "Slurm tasks reach each other by it")
    d = str(tmp_path_factory.mktemp("slurm"))
    procs = []
    try:
        procs, env = _slurm_cluster(d)
        yield env
    finally:
        _stop(procs)


def _wait_for_job(job, env):
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        out = subprocess.run(["scontrol", "show", "job", job], env=env, capture_output=True,
                             text=True).stdout
        state = out.split("JobState=", 1)[-1].split()[0] if "JobState=" in out else "?"
        if state not in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "?"):
            return state
        time.sleep(0.5)
    subprocess.run(["scancel", job], env=env)
    pytest.fail(f"Slurm job {job} did not end in {TIMEOUT} s")


@pytest.mark.slow
def test_sbatch_script_two_tasks_on_a_real_slurm_node_equals_one_process(slurm, reference,
                                                                          tmp_path):
    run, port = tmp_path / "shared" / "run", _free_port()
    script = tmp_path / "train.sbatch"
    from zoo import cli

    assert cli.main(["launch", "slurm", "highway_net", "--nodes", "1", "--tasks-per-node", "2",
                     "--port", str(port), "--command", ZOO, "-o", str(script),
                     "--run-dir", str(run), *FLAGS]) == 0
    text = script.read_text()
    assert "#SBATCH --requeue" in text and "#SBATCH --ntasks-per-node=2" in text
    submitted = subprocess.run(["sbatch", "--parsable", str(script)], env=slurm, cwd=tmp_path,
                               capture_output=True, text=True, check=True)
    job = submitted.stdout.strip().split(";")[0]
    state = _wait_for_job(job, slurm)
    log = (tmp_path / f"zoo-highway_net-{job}.out").read_text()
    assert state == "COMPLETED", log[-3000:]
    host = socket.gethostname().split(".")[0]
    # each task names the cluster as it sees it: both hosts, its role and index
    assert (f"cluster slurm: 2 task(s) on {host}:{port}, {host}:{port + 1}; this task: worker 0 "
            "(chief); devices per task: CPU") in log, log[-3000:]
    assert "this task: worker 1; devices per task: CPU" in log
    _assert_equal_runs(str(run), reference)


# ------------------------------------------------------------------------------------------------
# Kubernetes: the manifests against the schemas, then each pod as a local process
# ------------------------------------------------------------------------------------------------


def _manifests(run, search=False, **options):
    from zoo.launch import kubernetes_manifests

    argv = ["--directory", str(run), "--max-trials", "2"] if search else ["--run-dir", str(run),
                                                                          *FLAGS]
    return kubernetes_manifests("highway_net", argv, kind="both", search=search,
                                workers=2, image="registry.example/zoo:1", claim="zoo-runs",
                                command=ZOO, **options)


def test_manifests_pass_the_kubernetes_and_training_operator_schemas(tmp_path):
    try:
        import jsonschema
        import kubernetes_validate
        import yaml
    except ImportError as e:
        _missing(f"kubernetes-validate is not installed ({e}; pip install -e '.[test]')")
    from zoo.launch import to_yaml

    for search in (False, True):
        docs = _manifests("/shared/runs/hw", search=search)
        assert [d["kind"] for d in docs] == ["TFJob", "Service", "Job"]
        assert list(yaml.safe_load_all(to_yaml(docs))) == docs  # the YAML written is the dicts
        tfjob, service, job = docs
        for doc in (service, job):
            kubernetes_validate.validate(doc, "1.30", strict=True)
        with open(SCHEMA) as f:
            schema = json.load(f)
        jsonschema.validate(tfjob, schema)
        # restarts resume from the chief's checkpoint on the shared claim
        replicas = tfjob["spec"]["tfReplicaSpecs"]
        assert set(replicas) == ({"Chief", "Worker"} if search else {"Worker"})
        assert all(r["restartPolicy"] == "OnFailure" for r in replicas.values())
        assert tfjob["spec"]["runPolicy"]["backoffLimit"] == job["spec"]["backoffLimit"] == 3
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
        assert job["spec"]["completions"] == (3 if search else 2)
    bad = dict(tfjob, spec={"tfReplicaSpecs": {"Worker": {"replicas": "two"}}})
    with pytest.raises(jsonschema.ValidationError):  # the schema does refuse a wrong TFJob
        jsonschema.validate(bad, schema)


def _pods_as_processes(commands_and_envs):
    procs = [_start(cmd, _env(**env)) for cmd, env in commands_and_envs]
    return [_finish(p) for p in procs]


@pytest.mark.slow
def test_tfjob_pods_run_locally_equal_one_process(reference, tmp_path):
    """Each TFJob worker's command with the TF_CONFIG the training operator writes for it
    (its `cluster`, `task`, `environment`), on loopback ports."""
    run = tmp_path / "run"
    tfjob = _manifests(run)[0]
    worker = tfjob["spec"]["tfReplicaSpecs"]["Worker"]
    command = worker["template"]["spec"]["containers"][0]["command"]
    cluster = {"worker": [f"127.0.0.1:{_free_port()}" for _ in range(worker["replicas"])]}
    outs = _pods_as_processes(
        (command, {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker",
                                                                          "index": i},
                                            "environment": "cloud"})})
        for i in range(worker["replicas"]))
    assert "this task: worker 0 (chief)" in outs[0] and "this task: worker 1;" in outs[1]
    _assert_equal_runs(str(run), reference)


@pytest.mark.slow
def test_indexed_job_pods_run_locally_equal_one_process(reference, tmp_path):
    """Each pod of the indexed Job: its JOB_COMPLETION_INDEX, and ZOO_WORKER_HOSTS with the
    headless Service's names (`<job>-<i>.<job>`) mapped to loopback ports."""
    run = tmp_path / "run"
    service, job = _manifests(run)[1:]
    container = job["spec"]["template"]["spec"]["containers"][0]
    hosts = dict((e["name"], e["value"]) for e in container["env"])["ZOO_WORKER_HOSTS"].split(",")
    name = job["metadata"]["name"]
    assert hosts == [f"{name}-{i}.{service['metadata']['name']}:2222" for i in range(2)]
    assert job["spec"]["template"]["spec"]["subdomain"] == service["metadata"]["name"]
    local = ",".join(f"127.0.0.1:{_free_port()}" for _ in hosts)
    outs = _pods_as_processes(
        (container["command"], {"ZOO_WORKER_HOSTS": local, "JOB_COMPLETION_INDEX": str(i)})
        for i in range(job["spec"]["completions"]))
    assert "cluster kubernetes: 2 task(s)" in outs[0] and "(chief)" in outs[0]
    _assert_equal_runs(str(run), reference)


# ------------------------------------------------------------------------------------------------
# TPU, resolvers, roles and errors (in-process, no training)
# ------------------------------------------------------------------------------------------------


def test_no_reachable_tpu_is_one_line_and_exit_2(tmp_path):
    proc = _spawn.run([*ZOO.split(), "train", "highway_net", *FLAGS, "--cluster", "tpu",
                       "--tpu", "local", "--run-dir", str(tmp_path / "run")], env=_env(),
                      capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("zoo: error:")]
    assert len(lines) == 1 and "cluster='tpu' reaches no TPU" in lines[0], proc.stderr[-2000:]
    assert lines[0].endswith("Received: tpu='local'")


def test_auto_reads_the_cluster_the_environment_shows():
    from zoo.train.cluster import detect_cluster

    assert detect_cluster({}) == "none"
    assert detect_cluster({"TF_CONFIG": "{}"}) == "tf_config"
    assert detect_cluster({"SLURM_PROCID": "0", "SLURM_STEP_NUM_TASKS": "1"}) == "none"
    assert detect_cluster({"SLURM_PROCID": "1", "SLURM_STEP_NUM_TASKS": "4"}) == "slurm"
    assert detect_cluster({"JOB_COMPLETION_INDEX": "0", "ZOO_WORKER_HOSTS": "a:1,b:1"}) == "kubernetes"
    assert detect_cluster({"TPU_NAME": "my-tpu"}) == "tpu"


def _slurm_env(monkeypatch, rank, nodelist="n[1-2]", tasks="1(x2)"):
    for k in ("TF_CONFIG", "JOB_COMPLETION_INDEX", "ZOO_WORKER_HOSTS", "TPU_NAME"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    for k, v in {"PROCID": rank, "STEP_NUM_TASKS": "2", "STEP_NODELIST": nodelist,
                 "STEP_TASKS_PER_NODE": tasks}.items():
        monkeypatch.setenv(f"SLURM_{k}", str(v))


def test_slurm_resolver_names_hosts_role_and_devices(monkeypatch):
    from zoo.train.cluster import cluster_resolver, describe_cluster

    _slurm_env(monkeypatch, 1)
    name, resolver = cluster_resolver("auto", port=7000)
    assert name == "slurm" and type(resolver).__mro__[1].__name__ == "SlurmClusterResolver"
    assert describe_cluster(name, resolver) == (
        "[zoo.train] cluster slurm: 2 task(s) on n1:7000, n2:7000; this task: worker 1; "
        "devices per task: CPU")
    assert resolver.num_accelerators() == {}


def test_search_roles_come_from_the_scheduler(monkeypatch):
    from zoo.train.cluster import tuner_environment

    _slurm_env(monkeypatch, 0)
    assert tuner_environment("slurm", port=7000) == {
        "KERASTUNER_TUNER_ID": "chief", "KERASTUNER_ORACLE_IP": "n1",
        "KERASTUNER_ORACLE_PORT": "7000", "ZOO_TUNER_WORKERS": "1"}
    _slurm_env(monkeypatch, 1)
    assert tuner_environment("slurm", port=7000)["KERASTUNER_TUNER_ID"] == "tuner0"
    for k in list(os.environ):
        if k.startswith("SLURM_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("TF_CONFIG", json.dumps({
        "cluster": {"chief": ["hw-chief-0:2222"], "worker": ["hw-worker-0:2222", "hw-worker-1:2222"]},
        "task": {"type": "worker", "index": 1}}))
    assert tuner_environment("kubernetes") == {
        "KERASTUNER_TUNER_ID": "tuner1", "KERASTUNER_ORACLE_IP": "hw-chief-0",
        "KERASTUNER_ORACLE_PORT": "2222", "ZOO_TUNER_WORKERS": "2"}
    monkeypatch.delenv("TF_CONFIG")
    monkeypatch.setenv("ZOO_WORKER_HOSTS", "j-0.j:2222,j-1.j:2222,j-2.j:2222")
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "0")
    assert tuner_environment("kubernetes")["KERASTUNER_TUNER_ID"] == "chief"


def test_launch_files_for_a_search_and_refused_flags(tmp_path, capsys):
    from zoo import cli
    from zoo.launch import slurm_script

    text = slurm_script("highway_net", ["--max-trials", "4", "--directory", "/shared/tune"],
                        nodes=3, search=True, port=9000, time="01:00:00", gpus_per_node=1)
    assert "srun --kill-on-bad-exit=1 zoo tune highway_net --max-trials 4 --directory " \
           "/shared/tune --cluster slurm --cluster-port 9000" in text
    assert "#SBATCH --gpus-per-node=1" in text and "mkdir -p /shared/tune" in text
    for argv, words in [
        (["launch", "slurm", "highway_net", "--epochs", "two"], "--epochs: invalid int value"),
        (["launch", "slurm", "highway_net", "--epochs", "-1"], "`epochs` must be an integer >= 1"),
        (["launch", "slurm", "highway_net", "--cluster", "tpu"], "sets --cluster"),
        (["launch", "slurm", "highway_net", "--nodes", "0"], "`nodes` must be an integer >= 1"),
        (["launch", "slurm", "highway_net", "--search"], "at least 2 tasks"),
        (["launch", "kubernetes", "highway_net"], "`image` must be a container image"),
        (["launch", "kubernetes", "highway_net", "--image", "z", "--job-name", "Bad_Name"],
         "`job_name` must be a DNS label"),
    ]:
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and words in err and "Received:" in err, err


def test_a_named_cluster_with_a_one_machine_strategy_is_refused():
    from zoo.train import make_strategy

    with pytest.raises(ValueError, match=r"cluster='slurm' runs on several workers.*"
                                         r"Received: strategy='one_device'"):
        make_strategy("one_device", cluster="slurm")
    with pytest.raises(ValueError, match=r"`cluster` must be one of"):
        make_strategy("auto", cluster="yarn")


def test_recipes_page_shows_the_files_zoo_launch_writes(capsys):
    """docs/recipes.md's Slurm script and manifests are what the commands it shows write."""
    from zoo import cli

    with open(os.path.join(ROOT, "docs", "recipes.md")) as f:
        page = f.read()
    shown = [
        ["launch", "slurm", "highway_net", "--nodes", "2", "--time", "01:00:00", "--command",
         "/shared/venv/bin/zoo", "--run-dir", "/shared/runs/highway", "--epochs", "5"],
        ["launch", "kubernetes", "highway_net", "--kind", "tfjob", "--image",
         "registry.example/zoo:1", "--claim", "zoo-runs", "--run-dir", "/shared/runs/highway",
         "--epochs", "5"],
        ["launch", "kubernetes", "highway_net", "--kind", "job", "--image",
         "registry.example/zoo:1", "--claim", "zoo-runs", "--run-dir", "/shared/runs/highway",
         "--epochs", "5"],
    ]
    for argv in shown:
        assert cli.main(argv) == 0
        text = capsys.readouterr().out.rstrip("\n")
        indented = "\n".join("   " + line if line else line for line in text.splitlines())
        assert indented in page, f"docs/recipes.md does not show what `zoo {' '.join(argv)}` writes"


@pytest.mark.parametrize("cluster, variable", [("tf_config", "TF_CONFIG"), ("slurm", "SLURM_PROCID"),
                                               ("kubernetes", "ZOO_WORKER_HOSTS")])
def test_a_named_cluster_the_environment_does_not_show_is_one_line(monkeypatch, cluster, variable):
    from zoo.train.cluster import cluster_resolver

    for k in list(os.environ):
        if k.startswith("SLURM_") or k in ("TF_CONFIG", "JOB_COMPLETION_INDEX", "ZOO_WORKER_HOSTS"):
            monkeypatch.delenv(k)
    with pytest.raises(ValueError, match=rf"cluster='{cluster}' reads .* the {variable} environment "
                                         rf"variable, which is not set. Received: {variable}=None$"):
        cluster_resolver(cluster)


def test_a_peer_lost_mid_collective_is_named_in_one_line(tmp_path):
    """A worker killed while the others wait on it in a collective: gRPC names it only as the
    remote target; the one line names it from there."""
    import types

    import tensorflow as tf

    from zoo.train.trainer import Trainer

    error = tf.errors.UnavailableError(None, None, (
        "Collective ops is aborted by: recvmsg:Connection reset by peer\nAdditional GRPC error "
        "information from remote target /job:worker/replica:0/task:1 while calling "
        "/tensorflow.WorkerService/RecvBuf:\n:UNKNOWN:Error received from peer"))
    lost = Trainer._worker_lost(types.SimpleNamespace(num_workers=2, ckpt_dir=str(tmp_path)),
                                error, 61)
    assert str(lost).startswith("A worker of this 2-worker run stopped (UnavailableError from "
                                "/job:worker/replica:0/task:1); this worker stopped too, at step 61.")
    assert "\n" not in str(lost)
