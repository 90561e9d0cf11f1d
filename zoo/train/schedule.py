"""When the trainer checkpoints and evaluates: on a schedule in steps, seconds or epochs.

A run of many short epochs (the GCN's 200 one-step epochs) spent most of its wall time in a
checkpoint and an evaluation after every epoch. `TrainConfig.checkpoint_every` and
`TrainConfig.eval_every` (`--checkpoint-every`, `--eval-every`) take:

* `"auto"` (the default): checkpoints every 30 s of training or more, so that a checkpoint
  costs at most 2% of the time between two (`50 x` the last checkpoint's duration); the
  epoch-end evaluation when the time since the last one is at least 20 times its duration
  (at most 5% of the run), and always after the first two epochs (the first one's duration
  holds the evaluation's tracing);
* `N` or `"Nsteps"`: every N steps (checkpoints at the multiples of N; evaluations at the
  first epoch end at least N steps after the last one);
* `"Ns"`, `"Nmin"`, `"Nh"`: every N seconds of wall time;
* `"epoch"`, `"Nepochs"`: every (N-th) epoch end; `0` is `"epoch"` (`checkpoint_every`'s
  earlier meaning);
* `"end"`: only at the end.

Whatever the schedule, the last step is checkpointed and the last epoch evaluated. Evaluations
happen at epoch ends only (the history keeps one record per epoch); checkpoints after any step.
Time-based schedules (`auto`, seconds) decide on each worker's own clock, so a multi-worker
run, whose workers must save in lockstep, checkpoints instead at epoch ends and every
`LOCKSTEP_STEPS` steps, and evaluates at every epoch end.

Example:
    >>> from zoo.train.schedule import parse_every
    >>> parse_every("90s", "checkpoint_every"), parse_every(500, "checkpoint_every")
    (Every(kind='seconds', n=90.0), Every(kind='steps', n=500.0))
"""

from __future__ import annotations

import dataclasses
import re
import time
from typing import Callable, Optional, Union

__all__ = ["Every", "parse_every", "Schedule", "AUTO_CHECKPOINT_SECONDS", "CHECKPOINT_SHARE",
           "EVAL_SHARE", "LOCKSTEP_STEPS"]

AUTO_CHECKPOINT_SECONDS = 30.0  # a kill loses at most this much training (auto)
CHECKPOINT_SHARE = 0.02  # auto: a checkpoint costs at most this share of the time between two
EVAL_SHARE = 0.05  # auto: the evaluations cost at most this share of the run
LOCKSTEP_STEPS = 200  # multi-worker fallback of the time-based checkpoint schedules

_UNITS = {"": "steps", "step": "steps", "steps": "steps", "s": "seconds", "sec": "seconds",
          "second": "seconds", "seconds": "seconds", "min": "minutes", "m": "minutes",
          "minutes": "minutes", "h": "hours", "hours": "hours", "epoch": "epochs",
          "epochs": "epochs"}
_ALLOWED = ("'auto', 'end', 'epoch', an integer of steps (0: 'epoch'), or a number with a unit: "
            "'500steps', '90s', '10min', '1h', '2epochs'")


@dataclasses.dataclass(frozen=True)
class Every:
    """A parsed schedule: `kind` is "auto", "end", "steps", "seconds" or "epochs"."""

    kind: str
    n: float = 0.0


def parse_every(value: Union[int, str, Every], arg: str) -> Every:
    """`value` (an int of steps or a string, see the module docstring) as an `Every`; a
    ValueError naming `arg` otherwise."""
    if isinstance(value, Every):
        return value
    if isinstance(value, bool):
        raise ValueError(f"`{arg}` must be {_ALLOWED}. Received: {arg}={value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"`{arg}` must be {_ALLOWED}. Received: {arg}={value!r}")
        return Every("epochs", 1.0) if value == 0 else Every("steps", float(value))
    text = str(value).strip().lower()
    if text in ("auto", "end"):
        return Every(text)
    m = re.fullmatch(r"(\d+(?:\.\d+)?)?\s*([a-z]*)", text)
    unit = _UNITS.get(m.group(2)) if m else None
    if not m or unit is None or (m.group(1) is None and unit != "epochs"):
        raise ValueError(f"`{arg}` must be {_ALLOWED}. Received: {arg}={value!r}")
    n = float(m.group(1) or 1)
    if unit in ("steps", "epochs") and (n != int(n) or (n < 1 and unit == "epochs")):
        raise ValueError(f"`{arg}` must be {_ALLOWED}. Received: {arg}={value!r}")
    if unit == "steps":
        return Every("epochs", 1.0) if n == 0 else Every("steps", n)
    if unit == "epochs":
        return Every("epochs", n)
    if n <= 0:
        raise ValueError(f"`{arg}` must be {_ALLOWED}. Received: {arg}={value!r}")
    return Every("seconds", n * {"seconds": 1, "minutes": 60, "hours": 3600}[unit])


class Schedule:
    """Whether a checkpoint or an evaluation is due after a step.

    Args:
        every: an `Every` (or what `parse_every` takes).
        steps_per_epoch: the run's steps per epoch.
        start_step: the step the run starts (or resumes) at.
        share: `auto`: the most of the time the work may cost (its duration / the interval).
        floor_s: `auto`: the least seconds between two.
        lockstep: the decisions must be the same on every worker (multi-worker runs): time-based
            schedules fall back to epoch ends (and every `lockstep_steps` steps, when given).
        clock: seconds (`time.monotonic`).
    """

    def __init__(self, every, steps_per_epoch: int, start_step: int = 0, *, share: float,
                 floor_s: float = 0.0, lockstep: bool = False,
                 lockstep_steps: Optional[int] = None, clock: Callable[[], float] = time.monotonic,
                 arg: str = "every"):
        self.every = parse_every(every, arg)
        self.steps_per_epoch = steps_per_epoch
        self.share, self.floor_s = share, floor_s
        self.lockstep, self.lockstep_steps = lockstep, lockstep_steps
        self.clock = clock
        self.last_step = start_step
        self.last_time = clock()
        self.cost: Optional[float] = None  # the last one's duration (seconds)
        self.count = 0

    def interval_s(self) -> float:
        """`auto`: the seconds to wait after the last one (longer when it was slow)."""
        return max(self.floor_s, (self.cost or 0.0) / self.share)

    def due(self, step: int, end_of_epoch: bool, final: bool = False) -> bool:
        """Whether it is due after `step` (`end_of_epoch`: the step ended an epoch; `final`: the
        run's last step, always due)."""
        if final:
            return True
        kind, n = self.every.kind, self.every.n
        if kind == "end":
            return False
        if kind == "epochs":
            return end_of_epoch and (step // self.steps_per_epoch) % int(n) == 0
        if kind == "steps":
            return step % int(n) == 0
        if self.lockstep:  # auto or seconds, on several workers
            return end_of_epoch or bool(self.lockstep_steps and step % self.lockstep_steps == 0)
        waited = self.clock() - self.last_time
        if kind == "seconds":
            return waited >= self.every.n
        return waited >= self.interval_s()

    def done(self, step: int, started: float) -> None:
        """Record one that began at `started` (`clock()`) and just ended after `step`."""
        now = self.clock()
        self.cost = now - started
        self.last_step, self.last_time = step, now
        self.count += 1


class EpochEndSchedule(Schedule):
    """A `Schedule` checked at epoch ends only (the evaluation's): `steps` is at least N steps
    since the last one, and `auto` is due at the first two epoch ends it sees."""

    def due(self, step: int, end_of_epoch: bool, final: bool = False) -> bool:
        if final:
            return True
        if not end_of_epoch:
            return False
        kind = self.every.kind
        if kind == "steps":
            return step - self.last_step >= int(self.every.n)
        if kind == "auto" and self.count < 2:  # the first one's duration holds its tracing
            return True
        return super().due(step, end_of_epoch)
