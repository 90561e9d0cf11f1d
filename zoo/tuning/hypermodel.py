"""`ZooHyperModel`: builds a registered model with a trial's builder overrides and trains it
with the trial's training parameters, by default on its task's search data with the recipes'
trainer (`zoo.tuning.trial`)."""

from __future__ import annotations

import contextlib
import os
import signal

import keras
import keras_tuner as kt
import numpy as np

from zoo.core.registry import get_spec
from zoo.core.spaces import restricted_space, split_overrides
from zoo.tasks import default_search_space, space_of, task_for  # noqa: F401 (their old home)
from zoo.train.trainer import NonFiniteLossError
from zoo.tuning.settings import check_restrict
from zoo.tuning.trial import (
    compile_for_trial,
    recipe_data,
    train_trial,
    train_with_recipe_trainer,
    tuning_data,
)

__all__ = ["ZooHyperModel", "maybe_self_kill"]


class ZooHyperModel(kt.HyperModel):
    """Builds `spec` with the trial's builder overrides and trains it with its training params.

    By default on the recipes' data and trainer (`recipe_data`, `train_with_recipe_trainer`);
    with `data_fn` / `train_fn` (or the spec's fields `tuning_data` / `tuning_train`) on
    those, through `model.fit` (`tuning_data`, `train_trial`).
    """

    def __init__(self, spec, base_overrides=None, epochs=1, data_fn=None, train_fn=None,
                 steps_per_epoch=None, eval_examples=256, batch_size=None, seed=0,
                 restrict=None):
        super().__init__(name=spec.name)
        self.spec = spec
        self.small = base_overrides is None
        self.base = dict(spec.test_overrides if base_overrides is None else base_overrides)
        space = space_of(spec)
        self.space = restricted_space(space, check_restrict(space, restrict))
        self.epochs = epochs
        self.recipes = not (data_fn or train_fn or spec.tuning_data or spec.tuning_train)
        self.data_fn = data_fn or spec.tuning_data or tuning_data
        self.train_fn = train_fn or spec.tuning_train or train_trial
        self.steps_per_epoch = steps_per_epoch
        self.eval_examples = eval_examples
        self.batch_size = batch_size
        self.seed = seed
        self._data = None
        self._source = None
        self._declaring = False

    @contextlib.contextmanager
    def declaring(self):
        """While keras-tuner discovers the space (`Tuner._populate_initial_space`: a build per
        conditional branch), `build` declares the trial's hyperparameters (the space function)
        and checks its builder arguments, but builds no model: the builder takes plain values, so
        the model adds no hyperparameter, and each trial builds its own."""
        self._declaring = True
        try:
            yield self
        finally:
            self._declaring = False

    def recipe_source(self):
        if self._source is None:
            self._source = recipe_data(self.spec, self.base, eval_examples=self.eval_examples,
                                       seed=self.seed)
        return self._source

    def build_kwargs(self, builder):
        """The builder's arguments: base config, then the data's, then the trial's."""
        data_over = self.recipe_source()[1] if self.recipes else {}
        return dict(self.base, **data_over, **builder)

    def build(self, hp):
        builder, training = split_overrides(self.space(hp))
        try:
            kwargs = self.build_kwargs(builder)
            if self._declaring:
                return None
            model = self.spec.build(**kwargs)
            if not self.recipes:
                compile_for_trial(self.spec, model, training)
        except Exception as e:  # a bad combination: recorded as failed, no retry
            raise kt.errors.FailedTrialError(f"{type(e).__name__}: {e}") from e
        return model

    def _partner(self):
        other = get_spec(self.spec.partner)
        kwargs = dict(other.test_overrides if self.small else {})
        return other.build(**kwargs)

    def fit(self, hp, model, *args, **kwargs):
        _, training = split_overrides(self.space(hp))
        maybe_self_kill("fit")
        epochs = kwargs.get("epochs", int(training.get("epochs", self.epochs)))
        callbacks = list(kwargs.get("callbacks", []))
        if self.recipes:
            run_dir = None
            for cb in callbacks:
                if hasattr(cb, "trial") and hasattr(cb, "tuner"):
                    run_dir = os.path.join(cb.tuner.get_trial_dir(cb.trial.trial_id), "train")
            partner = self._partner() if task_for(self.spec).needs_partner else None
            try:
                history = train_with_recipe_trainer(
                    self.spec, model, self.recipe_source()[0], training, epochs=epochs,
                    initial_epoch=kwargs.get("initial_epoch", 0), callbacks=callbacks,
                    steps_per_epoch=self.steps_per_epoch, run_dir=run_dir, seed=self.seed,
                    batch_size=self.batch_size, partner=partner)
            except NonFiniteLossError as e:
                raise kt.errors.FailedTrialError(f"non-finite loss: {e}") from e
            except Exception as e:
                raise kt.errors.FailedTrialError(f"{type(e).__name__}: {e}") from e
        else:
            if self._data is None:
                self._data = self.data_fn(self.spec, model)
            callbacks.append(keras.callbacks.TerminateOnNaN())
            try:
                history = self.train_fn(model, self._data, training, epochs=epochs,
                                        initial_epoch=kwargs.get("initial_epoch", 0),
                                        callbacks=callbacks)
            except Exception as e:
                raise kt.errors.FailedTrialError(f"{type(e).__name__}: {e}") from e
        losses = history.history.get("loss", [])
        if not losses or not np.all(np.isfinite(losses)):
            raise kt.errors.FailedTrialError(f"non-finite loss: {losses}")
        return history



def maybe_self_kill(point):
    """Test hook: `ZOO_TUNE_SIGKILL_AT=N` SIGKILLs this process as trial N (1-based) starts."""
    at = os.environ.get("ZOO_TUNE_SIGKILL_AT")
    if not at:
        return
    maybe_self_kill.count = getattr(maybe_self_kill, "count", 0) + 1
    if maybe_self_kill.count == int(at):
        os.kill(os.getpid(), signal.SIGKILL)
