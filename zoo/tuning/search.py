"""Tuners over a model's declared search space: our conditional grid and keras-tuner's random,
Bayesian and Hyperband searches, resumable, with a distributed chief that stops by a deadline;
`run_search` runs one, writes its report and exports the best model."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import os
import threading
import time
from typing import Any, Dict

import keras_tuner as kt

from zoo.core.locks import real_folder, shown_path
from zoo.core.registry import check_folder_name, resolve_spec
from zoo.core.spaces import TUNERS, describe_space, grid_trials
from zoo.core.weights import set_preprocessing
from zoo.export import export_model
from zoo.tasks import task_for
from zoo.train.optimizers import check_optimizer
from zoo.tuning import transport
from zoo.tuning.hypermodel import ZooHyperModel
from zoo.tuning.report import INTERNAL, trials_table, write_report
from zoo.tuning.settings import SearchSettings, settings_from

__all__ = ["TUNERS", "SearchSettings", "ConditionalGridOracle", "PROJECT_MARKER", "check_own_project",
           "check_space_optimizers", "make_tuner",
           "run_search", "serve_chief", "timed", "fix_retry_queue", "watchdog"]


class ConditionalGridOracle(kt.Oracle):
    """Runs a precomputed list of grid points (`grid_trials`), each exactly once."""

    def __init__(self, plan, **kwargs):
        kwargs.setdefault("max_trials", len(plan))
        super().__init__(**kwargs)
        self.plan = plan

    def populate_space(self, trial_id):
        started = {t.hyperparameters.values.get("grid/index") for t in self.trials.values()}
        for i, values in enumerate(self.plan):
            if i not in started:
                return {"status": kt.engine.trial.TrialStatus.RUNNING,
                        "values": dict(values, **{"grid/index": i})}
        return {"status": kt.engine.trial.TrialStatus.STOPPED, "values": None}

    def _populate_space(self, trial_id):  # keras-tuner's other hook name
        return self.populate_space(trial_id)

    def get_state(self):
        state = super().get_state()
        state["plan"] = self.plan
        return state

    def set_state(self, state):
        super().set_state(state)
        self.plan = state.get("plan", self.plan)




def timed(base):
    """A tuner class that logs each trial's start/end (pid, seconds, status) to `runs.jsonl`."""

    class Timed(base):
        def _populate_initial_space(self):
            # keras-tuner builds the model once per conditional branch only to see which
            # hyperparameters it declares; the space function alone declares them (3-4 s less
            # per search of a ResNet-50 or Inception v3 at 32x32, 9 s of transformer_base's space)
            with self.hypermodel.declaring():
                super()._populate_initial_space()

        def search(self, *args, **kwargs):
            with heap_frozen():
                return super().search(*args, **kwargs)

        def get_best_models(self, num_models=1):
            with heap_frozen():
                return super().get_best_models(num_models)

        def run_trial(self, trial, *args, **kwargs):
            self._log(trial, "start")
            t0 = time.time()
            try:
                result = super().run_trial(trial, *args, **kwargs)
            except BaseException as e:
                self._log(trial, "failed", seconds=time.time() - t0, message=f"{type(e).__name__}: {e}"[:300])
                raise
            self._log(trial, "end", seconds=time.time() - t0)
            return result

        def _log(self, trial, event, **kw):
            rec = {"trial_id": trial.trial_id, "event": event, "pid": os.getpid(),
                   "tuner_id": self.tuner_id, "time": time.time(),
                   "values": {k: v for k, v in trial.hyperparameters.values.items()}}
            rec.update(kw)
            path = os.path.join(self.project_dir, "runs.jsonl")
            with open(path, "a") as f:
                f.write(json.dumps(rec, default=str) + "\n")

    Timed.__name__ = f"Zoo{base.__name__}"
    return Timed


def make_tuner(model, settings=None, **keywords):
    """A keras-tuner tuner over `model`'s declared search space.

    Args:
        model: a registry name, a `ModelSpec`, or `"module:attr"` giving a ModelSpec.
        settings: a `SearchSettings` (its `tuner`, `directory`, `project_name`, `max_trials`,
            `epochs`, `max_epochs`, `objective`, `seed`, `overwrite`, `base_overrides`,
            `data_fn`, `train_fn`, `max_consecutive_failed_trials`, `restrict`,
            `steps_per_epoch`, `eval_examples`, `batch_size`). The old call
            `make_tuner(model, tuner, **keywords)` warns and still works for one release.
    """
    st = settings_from("make_tuner", settings, keywords).validate()
    tuner, max_trials, objective, seed = st.tuner, st.max_trials, st.objective, st.seed
    spec = resolve_spec(model)
    if tuner not in TUNERS:
        raise ValueError(f"`tuner` must be one of {TUNERS}. Received: tuner={tuner!r}")
    if not isinstance(max_trials, int) or max_trials < 1:
        raise ValueError(f"`max_trials` must be a positive integer. Received: max_trials={max_trials!r}")
    # the project's trials, their run folders (`<trial>/train`) and checkpoints are joined onto
    # one absolute, real folder, resolved here once (a relative one means the same after a chdir)
    kw = dict(directory=_real(st.directory), overwrite=st.overwrite,
              project_name=check_folder_name(st.project_name or f"{spec.name}_{tuner}",
                                             "project_name"))
    check_own_project(os.path.join(kw["directory"], kw["project_name"]), st.overwrite)
    hypermodel = ZooHyperModel(spec, base_overrides=st.base_overrides, epochs=st.epochs,
                               data_fn=st.data_fn, train_fn=st.train_fn,
                               steps_per_epoch=st.steps_per_epoch, eval_examples=st.eval_examples,
                               batch_size=st.batch_size, seed=seed, restrict=st.restrict)
    check_space_optimizers(hypermodel.space)
    if objective is None:
        name, direction = task_for(spec).objective if hypermodel.recipes else ("val_loss", "min")
        objective = kt.Objective(name, direction) if name != "val_loss" else name
    common = dict(objective=objective, seed=seed,
                  max_consecutive_failed_trials=st.max_consecutive_failed_trials or 10 ** 6)
    if tuner == "grid":
        plan = grid_trials(hypermodel.space)
        oracle = ConditionalGridOracle(plan, **common)
        t = timed(kt.Tuner)(oracle=oracle, hypermodel=hypermodel, **kw)
    elif tuner == "random":
        t = timed(kt.RandomSearch)(hypermodel, max_trials=max_trials, **common, **kw)
    elif tuner == "bayesian":
        t = timed(kt.BayesianOptimization)(hypermodel, max_trials=max_trials,
                                           num_initial_points=min(2, max_trials), **common, **kw)
    else:
        t = timed(kt.Hyperband)(hypermodel, max_epochs=st.max_epochs, factor=3, hyperband_iterations=1,
                                 **common, **kw)
    fix_retry_queue(t.oracle)
    with open(os.path.join(t.project_dir, PROJECT_MARKER), "w") as f:
        f.write("a zoo tuning project: `zoo tune --overwrite` may delete this folder\n")
    t.zoo_spec = spec
    t.zoo_plan = plan if tuner == "grid" else None
    return t


_FROZEN = {"searches": 0}
_FROZEN_LOCK = threading.Lock()


@contextlib.contextmanager
def heap_frozen():
    """The objects that exist when a search starts (TensorFlow's and Keras' modules, a test
    process's earlier models) out of Python's garbage collections until the last search of the
    process ends (`gc.freeze`, then `gc.unfreeze`).

    keras-tuner builds each trial's model after clearing Keras' session and collecting twice
    (`Tuner._try_build`: two full collections), and tracing a trial's training step makes the
    collector run more full collections; each one went over the whole heap, ~0.3 s a collection
    in a `zoo tune` process and more in a test process that has built many models: 8.0 of the
    24.6 s CPU of tests/test_tuning.py's eight-trial grid. Frozen, a collection goes over the
    objects of the search alone: a trial's model and graphs still become garbage, and are
    collected, when the next trial is built; what was garbage before the search is collected
    after it. A process that has frozen objects itself (`gc.freeze`, as a server that forks
    workers does, or the test suite after its imports) keeps them as they are: nothing is
    frozen or unfrozen then."""
    with _FROZEN_LOCK:
        if _FROZEN["searches"] == 0:
            _FROZEN["ours"] = gc.get_freeze_count() == 0
            if _FROZEN["ours"]:
                gc.freeze()
        _FROZEN["searches"] += 1
    try:
        yield
    finally:
        with _FROZEN_LOCK:
            _FROZEN["searches"] -= 1
            if _FROZEN["searches"] == 0 and _FROZEN.pop("ours"):
                gc.unfreeze()


PROJECT_MARKER = ".zoo_tuning_project"  # written into every project folder a search makes


def check_own_project(project, overwrite):
    """Refuse to delete (`overwrite`) or resume into a non-empty folder that is not a tuning
    project: one without the marker zoo writes, nor keras-tuner's `oracle.json` (projects from
    before the marker). Creates and deletes nothing."""
    if not os.path.isdir(project):
        if os.path.exists(project):
            raise ValueError(f"The tuning project {project} is a file, not a folder. "
                             f"Received: project={project!r}")
        return
    entries = sorted(os.listdir(project))
    if not entries or PROJECT_MARKER in entries or "oracle.json" in entries:
        return
    what = "delete it (--overwrite)" if overwrite else "write a search into it"
    raise ValueError(
        f"The folder {project} is not a tuning project zoo wrote (it has no {PROJECT_MARKER} and "
        f"holds {entries[:3]}{'...' if len(entries) > 3 else ''}); refusing to {what}. Choose "
        f"another --directory or --project-name. Received: project={project!r}")


def _real(folder):
    """`real_folder(folder)` for a folder path (anything else is left to the checks)."""
    return real_folder(folder) if isinstance(folder, (str, os.PathLike)) and folder else folder


def check_space_optimizers(space):
    """Refuse a space whose `optimizer` hyperparameter has a value `--optimizer` would refuse
    (`zoo.train.optimizers.check_optimizer`), before any trial runs."""
    for d in describe_space(space):
        if d["name"] == "optimizer":
            for value in d.get("values") or ():
                try:
                    check_optimizer(value)
                except ValueError as e:
                    raise ValueError(f"The search space's `optimizer` hyperparameter has a value "
                                     f"the trainer refuses: {e}") from None


def fix_retry_queue(oracle):
    """Resume fix: a reloaded oracle's retry queue may hold ids not in `trials` (keras-tuner#835)."""
    trials = getattr(oracle, "trials", None)
    queue = getattr(oracle, "_retry_queue", None)
    if trials is None or queue is None:
        return
    oracle._retry_queue = [tid for tid in dict.fromkeys(
        getattr(t, "trial_id", t) for t in queue) if tid in trials]


# ----------------------------------------------------------------------------------------------
# Distributed chief with a deadline
# ----------------------------------------------------------------------------------------------


def serve_chief(oracle, num_workers, deadline, security=None):
    """Serve `oracle` to workers until all `num_workers` were told to stop or `deadline` passes.

    The chief listens on `security.address` (default `127.0.0.1`) at `KERASTUNER_ORACLE_PORT`,
    with TLS and a token when `security` (`zoo.tuning.transport.check_security`) has them.

    Returns True when the search ended normally.
    """
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    security = security or transport.check_security(role="chief")
    stopped = set()

    class Servicer(oracle_chief.OracleServicer):
        def CreateTrial(self, request, context):
            trial = self.oracle.create_trial(request.tuner_id)
            if trial.status == "STOPPED":
                stopped.add(request.tuner_id)
            return protos.get_service().CreateTrialResponse(trial=trial.to_proto())

    dialed = os.environ.get("KERASTUNER_ORACLE_IP", transport.LOOPBACK)
    if transport.is_loopback(security.address) and not transport.is_loopback(dialed):
        transport.logger.warning(
            f"the tuner's chief listens on {security.address} only; workers on other machines "
            f"dialing KERASTUNER_ORACLE_IP={dialed} will not reach it: give --oracle-address "
            f"{dialed} (with --tls-cert, --tls-key and --token-file)")
    server, _ = transport.chief_server(
        lambda s: protos.get_service_grpc().add_OracleServicer_to_server(Servicer(oracle), s),
        security, os.environ["KERASTUNER_ORACLE_PORT"])
    ok = False
    try:
        while time.time() < deadline:
            time.sleep(0.2)
            if len(stopped) >= num_workers and not oracle.ongoing_trials:
                ok = True
                break
    finally:
        server.stop(grace=1).wait()
    return ok


def watchdog(seconds, code=3):
    """Exit the process (code 3) after `seconds`, whatever it is doing (bounded workers)."""
    def fire():
        time.sleep(seconds)
        print(f"zoo tune: time limit of {seconds:.0f}s reached, exiting", flush=True)
        os._exit(code)

    threading.Thread(target=fire, daemon=True).start()


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------


def run_search(model, settings=None, **keywords) -> Dict[str, Any]:
    """Run (or resume) a search, write its table and plot, and export the best model.

    In distributed mode (`KERASTUNER_ORACLE_IP` set) the chief (`KERASTUNER_TUNER_ID=chief`)
    serves the oracle until `num_workers` workers have finished or `time_limit` seconds pass,
    then writes the results; a worker runs trials and returns. `security`
    (`zoo.tuning.transport.check_security`: the chief's address, TLS, a shared token) defaults to
    the chief on 127.0.0.1, the token of `$ZOO_TUNER_TOKEN` if set, no TLS; a worker the chief
    refuses raises `transport.Refused`.

    Args:
        model: a registry name, a `ModelSpec`, or `"module:attr"` giving a ModelSpec.
        settings: a `SearchSettings`. The old call `run_search(model, tuner, **keywords)` warns
            and still works for one release.

    Returns:
        A dict: `tuner`, `num_trials` (the grid's size, stated before it starts), `rows`,
        `best_hyperparameters`, `export_path`, and the report paths.
    """
    st = settings_from("run_search", settings, keywords)
    st = dataclasses.replace(st, directory=_real(st.directory),
                             export_dir=_real(st.export_dir))  # once, before any trial
    t = make_tuner(model, st)
    result: Dict[str, Any] = {"tuner": t}
    if t.zoo_plan is not None:
        result["num_trials"] = len(t.zoo_plan)
        st.log(f"grid search over {len(t.zoo_plan)} trials (conditional branches included)")
    if _search(t, st, result) == "worker":
        return result
    result.update(write_report(t))
    result["rows"] = trials_table(t)
    best = [r for r in result["rows"] if r["score"] is not None]
    if best:
        hp = t.get_best_hyperparameters(1)[0]
        result["best_hyperparameters"] = {k: v for k, v in hp.values.items() if not k.startswith(INTERNAL)}
        if st.export:
            result["export_path"] = _export_best(t, st.export_dir)
            st.log(f"best model exported to {shown_path(result['export_path'])}")
    st.log(f"trials table: {result['table_md']}")
    return result


def _search(t, st, result):
    """Run the trials: as a distributed worker, chief, or alone; returns the role."""
    from keras_tuner.src.distribute import utils as dist_utils

    deadline = time.time() + (st.time_limit or 10 ** 7)
    if dist_utils.has_chief_oracle():
        if not dist_utils.is_chief_oracle():
            from keras_tuner.src import protos
            from keras_tuner.src.distribute import oracle_client

            oracle_client.TIMEOUT = max(5, int(deadline - time.time()))
            if st.time_limit:
                watchdog(st.time_limit)
            channel = transport.reach_chief(st.security or transport.check_security(role="worker"),
                                            oracle_client.TIMEOUT)
            t.oracle.stub = protos.get_service_grpc().OracleStub(channel)  # keras-tuner's: no TLS, no token
            t.search(verbose=0)
            result["role"] = "worker"
            return "worker"
        t.save()
        result["finished"] = serve_chief(t.oracle, st.num_workers, deadline, st.security)
        result["role"] = "chief"
        return "chief"
    if st.time_limit:
        watchdog(st.time_limit)
    t.search(verbose=0)
    result["finished"] = True
    return "alone"


def _export_best(t, export_dir):
    """Export the best trial's model; trained on the task's pipeline, with its preprocessing."""
    best_model = t.get_best_models(1)[0]
    if t.hypermodel.recipes:
        set_preprocessing(best_model, task_for(t.zoo_spec).trained_preprocessing(
            t.hypermodel.recipe_source()[0]))
    return export_model(best_model, t.zoo_spec.name, export_dir=export_dir)
