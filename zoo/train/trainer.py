"""The distributed trainer (TensorFlow only: tf.distribute, tf.data, tf.train).

One custom training loop for every strategy: `strategy.run` of a per-replica step over a
distributed dataset, in a `tf.function`, with the per-replica step itself compiled by XLA
(`tf.function(jit_compile=True)`) when `jit_compile` is on. It works where Keras 3's `model.fit`
does not (`MultiWorkerMirroredStrategy`, keras-team/keras#20585) and keeps XLA on under a strategy.
What one step computes is the task's (`zoo.tasks`); see the package docstring of `zoo.train`.

Splits: at epoch ends the trainer evaluates on the source's validation split when it has one
(else on its test split, `source.test`), and at the end it reports the test split's metrics
(`summary["final_test"]`) beside the last validation metrics (`summary["final_validation"]`).
Settings are chosen on the validation figures; the test split only reports.

Checkpoints and evaluations follow `checkpoint_every` and `eval_every` (`zoo.train.schedule`):
by default on a time budget, so that a run of many short epochs does not spend its time saving
and evaluating; the last step is always checkpointed and the last epoch evaluated.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shutil
import sys
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import tensorflow as tf

from zoo import data as zdata
from zoo.core.locks import FolderLock, real_folder
from zoo.core.registry import check_folder_name
from zoo.core.weights import save_model, set_preprocessing
from zoo.export import export_model
from zoo.roles.class_names import set_class_names, source_class_names
from zoo.roles.task import Task
from zoo.train.backend import check_backend
from zoo.train.config import TrainConfig
from zoo.train.curve import plot_history
from zoo.train.optimizers import make_optimizer, share_step_scalars
from zoo.train.runfolder import check_run_identity, checkpoint_candidates, run_identity, write_run_identity
from zoo.train.schedule import (
    AUTO_CHECKPOINT_SECONDS,
    CHECKPOINT_SHARE,
    EVAL_SHARE,
    LOCKSTEP_STEPS,
    EpochEndSchedule,
    Schedule,
)
from zoo.train.strategy import is_chief, make_strategy, num_workers, worker_index

__all__ = ["Trainer", "NonFiniteLossError", "WorkerLostError", "checkpoint_candidates"]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run stopped and kept its last good checkpoint."""


class WorkerLostError(RuntimeError):
    """Another worker of a multi-worker run stopped (killed, preempted, crashed); this one stopped
    too, and re-running every worker resumes from the chief's last checkpoint."""


# what a collective op raises when a peer is gone: TensorFlow's coordination service reports the
# task that stopped sending heartbeats (about 10 s after it died), and the collectives abort
_PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
                tf.errors.AbortedError, tf.errors.CancelledError)


@dataclasses.dataclass
class _Loop:
    """The state of one `Trainer.fit` loop."""

    start: int
    step: int
    last_good: Optional[str]
    writer: Any
    split: str
    epoch_sums: Dict[str, float] = dataclasses.field(default_factory=dict)
    eval_logs: Dict[str, float] = dataclasses.field(default_factory=dict)
    window_t: float = dataclasses.field(default_factory=time.time)
    window_n: int = 0
    throughput: List[float] = dataclasses.field(default_factory=list)
    bar: Any = None

    @property
    def prefix(self):
        return "validation" if self.split == "validation" else "test"


class Trainer:
    """Trains `model_fn()` on `source` for `task` as `config` says; see the module docstring.

    Args:
        task: a `Task`.
        source: a `zoo.data.DataSource`.
        model_fn: builds the model (called in the strategy's scope, after the dtype policy is set).
        config: a `TrainConfig`.
        callbacks: `fn(trainer, epoch, logs)` called on the chief after each epoch (sample grids).
        step_callbacks: `fn(trainer, step, metrics)` called on every worker after each step.
        strategy: an existing strategy (otherwise `make_strategy(config.strategy)`).
    """

    def __init__(self, task: Task, source, model_fn: Callable, config: TrainConfig,
                 callbacks: Optional[List[Callable]] = None, strategy=None,
                 step_callbacks: Optional[List[Callable]] = None):
        check_backend()
        self.task = task
        self.source = source
        self.model_fn = model_fn
        self.config = config.validate()
        check_folder_name(config.name, "name")  # runs/<name>, <export_dir>/<name>: one folder each
        self.callbacks = list(callbacks or [])
        self.step_callbacks = list(step_callbacks or [])
        self._strategy = strategy
        self.model = None
        self.history: List[Dict[str, Any]] = []
        self._lock: Optional[FolderLock] = None
        self.start_note: Optional[str] = None  # the log's "from scratch", e.g. when fine-tuning

    # -- set-up
    def _setup(self):
        import keras

        cfg = self.config
        # a given strategy was made (and the CPU split) by the caller
        self.strategy = self._strategy or make_strategy(
            cfg.strategy, cfg.cpu_devices, cfg.cluster, cfg.cluster_port, cfg.tpu)
        self.is_chief = is_chief(self.strategy)
        self.num_workers = num_workers(self.strategy)
        self.replicas = self.strategy.num_replicas_in_sync
        if cfg.batch_size % self.replicas:
            raise ValueError(
                f"`batch_size` (global) must be divisible by the {self.replicas} replicas. "
                f"Received: batch_size={cfg.batch_size}"
            )
        self.per_replica_batch = cfg.batch_size // self.replicas
        n = self.source.num_train
        self.steps_per_epoch = cfg.steps_per_epoch or (max(n // cfg.batch_size, 1) if n else None)
        if self.steps_per_epoch is None:
            raise ValueError(
                "The dataset's size is unknown: pass `steps_per_epoch`. Received: "
                "steps_per_epoch=None"
            )
        self.total_steps = self.steps_per_epoch * cfg.epochs
        on_accelerator = bool(tf.config.list_logical_devices("GPU") or
                              tf.config.list_logical_devices("TPU"))
        self.jit = cfg.jit_compile == "on" or (cfg.jit_compile == "auto" and on_accelerator)
        if self.jit and not on_accelerator and self.replicas > 1:
            # On CPU, XLA can neither reach variables of another logical device
            # (tensorflow.org/xla/known_issues) nor compile collectives (b/194942685); on GPUs the
            # whole per-replica step, all-reduce included, is compiled.
            print("[zoo.train] XLA is off: several CPU replicas cannot run XLA-compiled steps.",
                  file=sys.stderr)
            self.jit = False
        # every path of the run is joined onto this one absolute, real folder, resolved once: a
        # relative or symlinked --run-dir resumes, and a later chdir changes nothing
        self.run_dir = real_folder(cfg.run_dir or os.path.join("runs", cfg.name))
        self.export_dir = real_folder(cfg.export_dir)
        if self.is_chief:  # one writer per run folder: a second training of it is refused
            self._lock = FolderLock(self.run_dir, "run folder", "run_dir").acquire()
        keras.config.set_dtype_policy(cfg.precision)
        keras.utils.set_random_seed(cfg.seed)
        self.ckpt_dir = os.path.join(self.run_dir, "checkpoints")
        if not self.is_chief:  # other workers write their copy aside and delete it
            self.ckpt_write_dir = os.path.join(
                self.run_dir, "worker_tmp", worker_index(self.strategy))
        else:
            self.ckpt_write_dir = self.ckpt_dir
        with self.strategy.scope():
            self.model = self.model_fn()
            self.optimizers = self.task.build_optimizers(self.model, self._make_optimizer)
            for opt in self.optimizers.values():
                if not opt.built:
                    opt.build(self.model.trainable_variables if len(self.optimizers) == 1
                              else self.task.optimizer_variables(self.model, self.optimizers, opt))
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.checkpoint = tf.train.Checkpoint(model=self.model, step=self.step, **self.optimizers)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, self.ckpt_write_dir, max_to_keep=cfg.keep_checkpoints)

    def _make_optimizer(self):
        import keras

        cfg = self.config
        lr = cfg.scaled_learning_rate()
        if cfg.schedule == "cosine":
            lr = keras.optimizers.schedules.CosineDecay(
                0.0 if cfg.warmup_steps else lr, decay_steps=max(self.total_steps - cfg.warmup_steps, 1),
                warmup_target=lr if cfg.warmup_steps else None, warmup_steps=cfg.warmup_steps,
            )
        opt = share_step_scalars(make_optimizer(
            cfg.optimizer, lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
            weight_decay=cfg.weight_decay, beta_1=cfg.beta_1, clipnorm=cfg.clipnorm or None))
        if cfg.precision == "mixed_float16":
            opt = keras.optimizers.LossScaleOptimizer(opt)
        return opt

    def _dataset(self, skip_steps):
        def fn(ctx):
            return zdata.train_pipeline(
                self.source, ctx.get_per_replica_batch_size(self.config.batch_size), ctx,
                seed=self.config.seed, skip_steps=skip_steps)
        options = tf.distribute.InputOptions(experimental_fetch_to_device=True)
        return self.strategy.distribute_datasets_from_function(fn, options)

    def _make_train_function(self):
        strategy, task, model, opts = self.strategy, self.task, self.model, self.optimizers
        replicas = self.replicas

        def replica_step(batch, denominator):
            return task.train_step(model, opts, batch, denominator, replicas)

        if self.jit:
            replica_step = tf.function(replica_step, jit_compile=True, reduce_retracing=True)

        def count(batch):
            return task.denominator(batch)

        @tf.function
        def train_function(iterator):
            batch = next(iterator)
            denom = strategy.reduce("SUM", strategy.run(count, args=(batch,)), axis=None)
            stats = strategy.run(replica_step, args=(batch, denom))
            self.step.assign_add(1)
            return {k: strategy.reduce("SUM", v, axis=None) for k, v in stats.items()}

        return train_function

    def _worker_lost(self, error, step):
        detail = " ".join(line.strip() for line in str(error).splitlines()
                          if "unhealthy" in line or line.strip().startswith("/job:"))
        if not detail:  # a peer gone mid-collective: gRPC names it as the remote target
            peers = sorted(set(re.findall(r"remote target (/job:\w+/replica:\d+/task:\d+)", str(error))))
            detail = f"{type(error).__name__} from {', '.join(peers)}" if peers else ""
        last = checkpoint_candidates(self.ckpt_dir)
        return WorkerLostError(
            f"A worker of this {self.num_workers}-worker run stopped "
            f"({detail or type(error).__name__}); this worker stopped too, at step {step}. "
            f"Re-run every worker with the same --run-dir to resume from the chief's last "
            f"checkpoint ({os.path.basename(last[0]) if last else 'none yet: from the start'}).")

    # -- checkpoints and history
    def _restore(self):
        """Restore the newest checkpoint that reads back whole; returns its path (or None).

        A damaged checkpoint (a file cut short or overwritten, a process killed while writing
        it) is skipped with a warning naming it, and the next older one is tried, so a kill or
        a bad disk block costs at most the steps since the previous checkpoint. A checkpoint
        of another model (different layers or options) is an error, as is a run folder whose
        checkpoints are all damaged.
        """
        self._identity = run_identity(self.config.name, self.task.name, self.model)
        check_run_identity(self.run_dir, self._identity)
        candidates = checkpoint_candidates(self.ckpt_dir)
        latest = None
        for path in candidates:
            try:
                status = self.checkpoint.restore(path)
            except Exception as e:  # noqa: BLE001 -- any read error means a damaged file
                print(f"[zoo.train] warning: checkpoint {path} is damaged and was skipped "
                      f"({type(e).__name__}: {_first_line(e)}); trying an older one.",
                      file=sys.stderr, flush=True)
                continue
            try:
                status.assert_existing_objects_matched()
            except AssertionError as e:
                raise ValueError(
                    f"Checkpoint {path} does not belong to this model (another model, "
                    f"size or task wrote it: {_first_line(e)}). Use a new --run-dir, or delete "
                    f"{self.ckpt_dir}.") from None
            latest = path
            break
        if candidates and latest is None:
            raise ValueError(
                f"None of the {len(candidates)} checkpoints in {self.ckpt_dir} can be read "
                f"({', '.join(os.path.basename(c) for c in candidates)}). Use a new --run-dir, "
                f"or delete the folder to start over.")
        if latest:
            hist_file = os.path.join(self.run_dir, "history.json")
            if os.path.exists(hist_file):
                with open(hist_file) as f:
                    saved = json.load(f)
                self.history = [h for h in saved.get("history", [])
                                if h["step"] <= int(self.step.numpy())]
                self._prior_wall = float(saved.get("wall_time_s", 0.0))
        return latest

    def _save(self):
        # The history first: a resume keeps the entries up to the checkpoint it restores, so
        # a kill between the two files loses nothing (the other order would lose the entries
        # logged since the previous save).
        if self.is_chief and not getattr(self, "_identity_written", False):
            write_run_identity(self.run_dir, self._identity)
            self._identity_written = True
        self._write_json("history.json", {"history": self.history,
                                          "wall_time_s": self._wall_time()})
        path = self.manager.save(checkpoint_number=int(self.step.numpy()))
        if not self.is_chief:
            shutil.rmtree(self.ckpt_write_dir, ignore_errors=True)
            try:
                os.rmdir(os.path.dirname(self.ckpt_write_dir))  # only when no other worker's
            except OSError:
                pass
        return path

    def update_summary(self, **entries):
        """Add entries (e.g. a recipe's final check) to the summary and its JSON file."""
        self.summary.update(entries)
        self._write_json("summary.json", self.summary)

    def _write_json(self, filename, obj):
        if not self.is_chief:
            return
        os.makedirs(self.run_dir, exist_ok=True)
        path = os.path.join(self.run_dir, filename)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, default=_json_default)
        os.replace(tmp, path)

    def _wall_time(self):
        return self._prior_wall + (time.time() - self._t0)

    def current_learning_rate(self):
        opt = next(iter(self.optimizers.values()), None)
        inner = getattr(opt, "inner_optimizer", opt)
        try:
            return float(np.asarray(inner.learning_rate))
        except Exception:
            return float("nan")

    # -- evaluation
    @property
    def epoch_split(self) -> str:
        """The split evaluated after each epoch: "validation" when the source has one, else
        "test"."""
        return "validation" if getattr(self.source, "validation", None) is not None else "test"

    def evaluate(self, split: str = "test"):
        """Metrics on the held-out `split` ("test" or "validation"; every example, on this
        worker), or {} when the source has no such split."""
        cache = self.__dict__.setdefault("_eval_data", {})
        if cache.get(split, (None,))[0] is not self.source:  # built once per split and source
            cache[split] = (self.source, zdata.evaluation_pipeline(
                self.source, self.config.eval_batch_size or self.config.batch_size, split))
        ds = cache[split][1]
        if ds is None:
            return {}
        sums = {}
        with self.strategy.scope():
            eval_fn = self._evaluation_function(ds)
            for batch in ds:
                stats = eval_fn(batch)
                if stats is None:
                    return {}
                for k, v in stats.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
        return self.task.summarize(sums)

    def _evaluation_function(self, ds):
        """The `tf.function` of `task.evaluation_step`, one for every split.

        When a held-out split ends in a smaller batch, `reduce_retracing` traces (and Grappler
        optimises) it twice: for the full batches, then again for any batch size at that last
        batch. Then it is traced once, for any batch size, before the first batch (`ds`'s
        element spec), and every batch of every split runs that one graph.
        """
        if getattr(self, "_eval_fn", None) is None:
            fn = lambda batch: self.task.evaluation_step(self.model, batch)  # noqa: E731
            self._eval_fn = tf.function(fn, jit_compile=self.jit, reduce_retracing=True)
            size = self.config.eval_batch_size or self.config.batch_size
            counts = [self.source.num_test] + (
                [self.source.num_validation] if self.source.validation is not None else [])
            if any(n and n % size for n in counts):
                self._eval_fn.get_concrete_function(ds.element_spec)
        return self._eval_fn

    # -- the loop
    def fit(self) -> Dict[str, Any]:
        """Train (resuming from the run's last checkpoint), evaluate, write the curve, the summary
        and the export; returns the summary."""
        self._prior_wall = 0.0
        try:
            return self._fit()
        finally:
            if self._lock is not None:
                self._lock.release()

    def _fit(self):
        self._setup()
        self._t0 = time.time()
        resumed = self._restore()
        start = int(self.step.numpy())
        writer = tf.summary.create_file_writer(os.path.join(self.run_dir, "logs")) \
            if self.is_chief else tf.summary.create_noop_writer()
        self._announce(start, resumed)
        train_function = self._make_train_function()
        iterator = iter(self._dataset(start))
        # per-epoch figures: validation (test only without one)
        loop = _Loop(start=start, step=start, last_good=resumed, writer=writer,
                     split=self.epoch_split)
        self._make_schedules(start)
        while loop.step < self.total_steps:
            self._fit_step(loop, train_function, iterator)
        return self._finish(loop)

    def _make_schedules(self, start):
        """When to checkpoint and evaluate (`zoo.train.schedule`); in lockstep on several workers."""
        cfg, lockstep = self.config, self.num_workers > 1
        self._checkpoints = Schedule(
            cfg.checkpoint_every, self.steps_per_epoch, start, share=CHECKPOINT_SHARE,
            floor_s=AUTO_CHECKPOINT_SECONDS, lockstep=lockstep, lockstep_steps=LOCKSTEP_STEPS,
            arg="checkpoint_every")
        self._evaluations = EpochEndSchedule(
            cfg.eval_every if cfg.eval_every_epoch else "end", self.steps_per_epoch, start,
            share=EVAL_SHARE, lockstep=lockstep, arg="eval_every")

    def _announce(self, start, resumed):
        cfg = self.config
        if self.is_chief and cfg.progress:
            where = f"resuming at step {start} from {resumed}" if resumed else (
                self.start_note or "from scratch")
            print(f"[zoo.train] {cfg.name}: {self.replicas} replica(s) "
                  f"({type(self.strategy).__name__}), global batch {cfg.batch_size}, "
                  f"{self.total_steps} steps, precision {cfg.precision}, "
                  f"XLA {'on' if self.jit else 'off'}; {where}", flush=True)

    def _progress_bar(self, epoch):
        """A Keras progress bar for `epoch` on the chief with `progress`, else False."""
        import keras

        if not (self.is_chief and self.config.progress):
            return False
        print(f"Epoch {epoch + 1}/{self.config.epochs}", flush=True)
        return keras.utils.Progbar(self.steps_per_epoch, verbose=1 if sys.stdout.isatty() else 2)

    def _fit_step(self, loop, train_function, iterator):
        """One step of the loop: train, check, log, and at an epoch's end evaluate and save."""
        cfg = self.config
        epoch, in_epoch = divmod(loop.step, self.steps_per_epoch)
        if in_epoch == 0 or loop.bar is None:
            if in_epoch == 0:
                loop.epoch_sums = {}
            loop.bar = self._progress_bar(epoch)
        try:
            stats = {k: float(v) for k, v in train_function(iterator).items()}
        except _PEER_ERRORS as e:
            if self.num_workers <= 1:
                raise
            raise self._worker_lost(e, loop.step) from None
        loop.step += 1
        step = loop.step
        metrics = self.task.summarize(stats)
        self._check_finite(metrics, step, epoch, loop.last_good)
        for k, v in stats.items():
            loop.epoch_sums[k] = loop.epoch_sums.get(k, 0.0) + v
        loop.window_n += cfg.batch_size
        for cb in self.step_callbacks:
            cb(self, step, metrics)
        epoch_metrics = self.task.summarize(loop.epoch_sums)
        if loop.bar:
            loop.bar.update(in_epoch + 1, values=list(epoch_metrics.items()), finalize=False)
        end_of_epoch, final = step % self.steps_per_epoch == 0, step == self.total_steps
        # a record every log_every steps, and at the ends of epochs that long (not every step)
        if step % cfg.log_every == 0 or final or (end_of_epoch and self.steps_per_epoch >= cfg.log_every):
            self._log_window(loop, epoch, metrics, end_of_epoch)
        if end_of_epoch:
            self._end_epoch(loop, epoch, epoch_metrics, final)
        if self._checkpoints.due(step, end_of_epoch, final):
            started = self._checkpoints.clock()
            loop.last_good = self._save()
            loop.writer.flush()  # TensorBoard's events with each checkpoint (else every 2 min)
            self._checkpoints.done(step, started)

    def _check_finite(self, metrics, step, epoch, last_good):
        bad = [k for k, v in metrics.items() if not math.isfinite(v)]
        if bad:
            raise NonFiniteLossError(
                f"The {bad[0]} became {metrics[bad[0]]} at step {step} (epoch {epoch + 1}) "
                f"of run {self.config.name!r}. Training stopped without saving; the last good "
                f"checkpoint is {last_good or 'none (no checkpoint was written yet)'}. Try a "
                f"lower learning rate, gradient clipping (clipnorm) or float32.")

    def _log_window(self, loop, epoch, metrics, end_of_epoch):
        """Throughput of the steps since the last log, TensorBoard scalars, a history record."""
        step, now = loop.step, time.time()
        eps = loop.window_n / max(now - loop.window_t, 1e-9)
        if step - loop.start > self.config.log_every or end_of_epoch:  # the first window holds tracing
            loop.throughput.append(eps)
        loop.window_t, loop.window_n = now, 0
        lr = self.current_learning_rate()
        with loop.writer.as_default(step=step):
            for k, v in metrics.items():
                tf.summary.scalar(f"train/{k}", v)
            tf.summary.scalar("train/learning_rate", lr)
            tf.summary.scalar("train/examples_per_second", eps)
        self.history.append({"step": step, "epoch": epoch + 1, "kind": "train",
                             "learning_rate": lr, "examples_per_second": eps, **metrics})

    def _end_epoch(self, loop, epoch, epoch_metrics, final=False):
        """Finish the progress bar, evaluate on the epoch split when due, record, call the
        callbacks."""
        cfg, split, prefix = self.config, loop.split, loop.prefix
        if loop.bar:
            loop.bar.update(self.steps_per_epoch, values=list(epoch_metrics.items()), finalize=True)
        eval_logs = {}
        if cfg.eval_every_epoch and self._evaluations.due(loop.step, True, final):
            started = self._evaluations.clock()
            eval_logs = self.evaluate(split)
            self._evaluations.done(loop.step, started)
        loop.eval_logs = eval_logs
        if eval_logs:
            with loop.writer.as_default(step=loop.step):
                for k, v in eval_logs.items():
                    tf.summary.scalar(f"{prefix}/{k}", v)
            if self.is_chief and cfg.progress:
                print(f"  {split}: " + ", ".join(f"{k}={v:.4f}" for k, v in eval_logs.items()),
                      flush=True)
        self.history.append({"step": loop.step, "epoch": epoch + 1, "kind": "epoch",
                             "split": split,
                             **{f"train_{k}": v for k, v in epoch_metrics.items()},
                             **{f"{prefix}_{k}": v for k, v in eval_logs.items()}})
        for cb in self.callbacks:
            if self.is_chief:
                cb(self, epoch + 1, {**epoch_metrics, **eval_logs})

    def _finish(self, loop) -> Dict[str, Any]:
        """The final evaluation and the summary; on the chief the curve, the saved model, the
        export and `summary.json`."""
        split = loop.split
        eval_logs = loop.eval_logs or self.evaluate(split)
        # the target is reported on the test split, which nothing was chosen on
        final_validation = eval_logs if split == "validation" else {}
        test_logs = self.evaluate("test") if split == "validation" else eval_logs
        final_train = self.task.summarize(loop.epoch_sums) if loop.epoch_sums else {}
        self.summary = summary = self._summary(loop, final_train, final_validation, test_logs)
        # the preprocessing the weights were trained with travels with them (into the export)
        served = set_preprocessing(self.task.export_model(self.model),
                                   self.task.trained_preprocessing(self.source))
        names = source_class_names(self.source)  # served as `classes` (zoo.roles.class_names)
        if names:
            summary["class_names"] = names
            set_class_names(served, names)
        if self.is_chief:
            self._write_outputs(summary, served)
        return summary

    def _summary(self, loop, final_train, final_validation, test_logs) -> Dict[str, Any]:
        cfg = self.config
        return {
            "name": cfg.name, "task": self.task.name, "dataset": self.source.name,
            "strategy": type(self.strategy).__name__, "replicas": self.replicas,
            "precision": cfg.precision, "jit_compile": self.jit,
            "global_batch_size": cfg.batch_size, "learning_rate": cfg.scaled_learning_rate(),
            "epochs": cfg.epochs, "steps": self.total_steps, "resumed_from_step": loop.start,
            "final_train": final_train, "final_validation": final_validation,
            "final_test": test_logs,
            "final_eval": test_logs,  # deprecated name of final_test, removed in the next release
            "wall_time_s": self._wall_time(),
            "examples_per_second": float(np.median(loop.throughput)) if loop.throughput else None,
            "params": int(sum(int(np.prod(w.shape)) for w in self.model.weights)),
        }

    def _write_outputs(self, summary, served):
        cfg = self.config
        summary["run_dir"] = self.run_dir
        summary["curve"] = self._plot()
        if cfg.export:
            summary["model_path"] = save_model(served, os.path.join(self.run_dir, "model.keras"))
            summary["export_path"] = str(export_model(
                served, cfg.name, task=self.task, export_dir=self.export_dir))
        self._write_json("summary.json", summary)
        if cfg.progress:
            test_logs, final_validation = summary["final_test"], summary["final_validation"]
            figures = (f"test {json.dumps(test_logs)}" if test_logs
                       else f"train {json.dumps(summary['final_train'])}")
            if final_validation:
                figures += f", validation {json.dumps(final_validation)}"
            print(f"[zoo.train] done: {figures}; summary in "
                  f"{os.path.join(self.run_dir, 'summary.json')}", flush=True)

    def _plot(self):
        return plot_history(self.history, self.config.name,
                            os.path.join(self.run_dir, "training_curve.png"))


def _first_line(e) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else ""


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    return str(o)
