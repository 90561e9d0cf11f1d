"""Fine-tuning: start from other weights and train in two phases (docs/transfer_learning.md).

`fine_tune` loads the layers of `weights` that fit (`zoo.roles.transfer.transfer_weights`: a
registered name, a `.keras` / `.weights.h5` file or an earlier run's folder; a head of another
class count is made new), then trains

1. the first `freeze_epochs` epochs: the new head only, on the frozen backbone (batch
   normalization in inference mode), at `config.learning_rate`; in `<run_dir>/frozen`;
2. the other epochs: every layer, batch normalization kept in inference mode, at
   `fine_tune_lr` (default `learning_rate / 10`), without warm-up; in `<run_dir>`, which gets
   the summary (with `transfer` and `phases`), the model and the export.

`zoo train NAME --weights W [--freeze-epochs N] [--fine-tune-lr LR]` runs it.

Example:
    >>> import keras, numpy as np
    >>> from zoo.data import array_source
    >>> from zoo.tasks.feature_classification import FeatureClassification
    >>> from zoo.train import Trainer, TrainConfig
    >>> from zoo.train.finetune import fine_tune
    >>> def net(classes):
    ...     return lambda: keras.Sequential([keras.Input((4,)), keras.layers.Dense(8),
    ...                                      keras.layers.Dense(classes, activation="softmax")])
    >>> x = np.random.rand(32, 4).astype("float32")
    >>> cfg = dict(epochs=2, batch_size=8, progress=False, export_dir="/tmp/zoo-doc-ft-saved")
    >>> _ = Trainer(FeatureClassification(), array_source("a", x, np.arange(32) % 10), net(10),
    ...             TrainConfig(name="ten", run_dir="/tmp/zoo-doc-ft-10", **cfg)).fit()
    >>> trainer = fine_tune(FeatureClassification(), array_source("b", x, np.arange(32) % 3),
    ...                     net(3), TrainConfig(name="three", run_dir="/tmp/zoo-doc-ft-3", **cfg),
    ...                     weights="/tmp/zoo-doc-ft-10", freeze_epochs=1)
    >>> trainer.summary["transfer"]["initialised"], [p["phase"] for p in trainer.phases]
    (['dense_3'], ['frozen', 'all'])
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Dict, List, Optional

from zoo.roles.transfer import (
    check_transfer_arguments,
    check_weights_source,
    head_layers,
    set_phase,
    transfer_weights,
)
from zoo.train.config import TrainConfig
from zoo.train.trainer import Trainer

__all__ = ["fine_tune"]


def fine_tune(task, source, model_fn: Callable, config: TrainConfig, *, weights,
              freeze_epochs: int = 1, fine_tune_lr: Optional[float] = None,
              model_name: Optional[str] = None, builder_kwargs: Optional[Dict[str, Any]] = None,
              callbacks: Optional[List[Callable]] = None) -> Trainer:
    """Fine-tune `model_fn()` from `weights` on `source` (see the module docstring).

    Args:
        task / source / model_fn / config / callbacks: as for `Trainer`; `config.epochs` counts
            both phases.
        weights: a registered name (with `model_name`), a `.keras` or `.weights.h5` file, or a
            run folder.
        freeze_epochs: epochs of the first phase (0: none; `config.epochs`: the head only).
        fine_tune_lr: learning rate of the second phase (None: `config.learning_rate / 10`).
        model_name / builder_kwargs: the registry name and builder arguments, for registered
            weights.

    Returns:
        The `Trainer` of the last phase; its `summary` holds `transfer` (what was loaded and
        what was initialised) and `phases`.
    """
    config.validate()
    check_transfer_arguments(freeze_epochs, fine_tune_lr, config.epochs)
    check_weights_source(weights, model_name)  # before any run folder or model is made
    lr = fine_tune_lr if fine_tune_lr is not None else config.learning_rate / 10
    run_dir = config.run_dir or os.path.join("runs", config.name)
    plan = [(phase, epochs) for phase, epochs in
            (("frozen", freeze_epochs), ("all", config.epochs - freeze_epochs)) if epochs]
    state: Dict[str, Any] = {}

    def first_model():
        model = model_fn()
        state["transfer"] = transfer = transfer_weights(
            model, weights, model_name=model_name, builder_kwargs=builder_kwargs)
        state["head"] = head_layers(model, transfer)
        if config.progress:
            print(f"[zoo.train] {config.name}: {transfer.note()}", flush=True)
        return model

    phases, trainer, strategy = [], None, None
    for i, (phase, epochs) in enumerate(plan):
        last = i == len(plan) - 1
        cfg = _phase_config(config, phase, epochs, lr, run_dir if last else os.path.join(
            run_dir, phase), last)

        def build(model=trainer.model if trainer else None, phase=phase):
            return set_phase(model if model is not None else first_model(), phase, state["head"])

        trainer = Trainer(task, source, build, cfg, callbacks=callbacks, strategy=strategy)
        trainer.start_note = (
            "the new head on the frozen backbone" if phase == "frozen" else
            f"every layer (batch normalization in inference mode) at learning rate {lr:g}")
        summary = trainer.fit()
        strategy = trainer.strategy
        phases.append({"phase": phase, "epochs": epochs, "run_dir": cfg.run_dir,
                       **{k: summary[k] for k in ("steps", "learning_rate", "final_train",
                                                  "final_validation", "final_test")}})
    trainer.transfer, trainer.phases = state["transfer"], phases
    trainer.update_summary(transfer=state["transfer"].as_dict(), phases=phases,
                           total_steps=sum(p["steps"] for p in phases))
    return trainer


def _phase_config(config, phase, epochs, lr, run_dir, last) -> TrainConfig:
    """The `TrainConfig` of one phase: its epochs and folder; the second phase at `lr` without
    warm-up; only the last phase exports."""
    return dataclasses.replace(
        config, epochs=epochs, run_dir=run_dir, export=config.export and last,
        **({} if phase == "frozen" else dict(learning_rate=lr, warmup_steps=0)))
