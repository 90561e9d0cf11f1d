"""`DataSource` (where examples come from) and the tf.data pipelines that read it.

`train_pipeline` is what one input pipeline (one worker) of a `tf.distribute` strategy reads:
deterministic seeded shuffle, per-replica sharding, parallel preprocessing, per-replica batches.
The training stream is endless; a resumed run skips the examples already consumed
(`skip_steps`), and random augmentation is seeded by the example's position in the stream.

Example:
    >>> import numpy as np
    >>> from zoo.data.source import array_source, train_pipeline
    >>> src = array_source("toy", np.zeros((8, 2), "float32"), np.arange(8))
    >>> next(iter(train_pipeline(src, per_replica_batch=4)))[0].shape
    TensorShape([4, 2])
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable, Dict, Optional

import tensorflow as tf

from zoo.core.moved import RenamedAttribute, renamed_arguments

__all__ = ["DataSource", "train_pipeline", "evaluation_pipeline", "validation_pipeline",
           "array_source", "check_fraction", "unpack", "takes_seed", "AUTOTUNE"]

AUTOTUNE = tf.data.AUTOTUNE


@dataclasses.dataclass
class DataSource:
    """A dataset for training: raw examples, and how each becomes `(inputs, targets)`.

    Attributes:
        name: what `--dataset` said.
        train: `fn(input_context) -> tf.data.Dataset` of raw training examples. It shards by itself
            when `shards_itself` (TFDS files); otherwise `train_pipeline` shards elements after the
            seeded shuffle, so every global batch holds the same examples whatever the replicas.
        test: `fn() -> tf.data.Dataset` of the raw test examples (or None): the split the final
            figures are reported on, which nothing is tuned on.
        num_train / num_test: number of examples (None when unknown).
        preprocess: `fn(example, training) -> (inputs, targets)`, run in parallel in tf.data. A
            `fn(example, training, seed=None)` gets, in training, a stateless seed (`[2]` int64:
            the pipeline's seed and the example's position in the stream) for its random
            augmentation, which is then the same whatever the threads, replicas or resumes.
        info: what model builders need to know (`num_classes`, `input_shape`, `vocab_size`, ...).
        cache: cache the raw examples in memory (small datasets).
        shards_itself: `train` applies the input context itself.
        validation: `fn() -> tf.data.Dataset` of raw validation examples (or None): disjoint from
            the other splits; the trainer evaluates on it after each epoch, and settings are
            chosen on it.
        num_validation: its number of examples.
    """

    name: str
    train: Callable[[Optional[tf.distribute.InputContext]], tf.data.Dataset]
    test: Optional[Callable[[], tf.data.Dataset]] = None
    num_train: Optional[int] = None
    num_test: Optional[int] = None
    preprocess: Optional[Callable[[Any, bool], Any]] = None
    info: Dict[str, Any] = dataclasses.field(default_factory=dict)
    cache: bool = False
    shards_itself: bool = False
    validation: Optional[Callable[[], tf.data.Dataset]] = None
    num_validation: Optional[int] = None

    eval = RenamedAttribute("test")
    num_eval = RenamedAttribute("num_test")


def train_pipeline(
    source: DataSource,
    per_replica_batch: int,
    input_context: Optional[tf.distribute.InputContext] = None,
    *,
    seed: int = 0,
    skip_steps: int = 0,
    shuffle_buffer: Optional[int] = None,
) -> tf.data.Dataset:
    """The endless training pipeline of one input pipeline (worker).

    Args:
        source: a `DataSource`.
        per_replica_batch: examples per replica and step (global batch / replicas).
        input_context: from `strategy.distribute_datasets_from_function`; None for one replica.
        seed: shuffle seed, the same on every worker.
        skip_steps: global steps already trained (a resumed run starts after them).
        shuffle_buffer: defaults to the whole dataset when its size is known and below 100,000.

    Returns:
        A dataset of per-replica batches `(inputs, targets)`.
    """
    if per_replica_batch < 1:
        raise ValueError(
            f"`per_replica_batch` must be at least 1. Received: per_replica_batch={per_replica_batch}"
        )
    pipelines = input_context.num_input_pipelines if input_context else 1
    index = input_context.input_pipeline_id if input_context else 0
    replicas_here = (input_context.num_replicas_in_sync // pipelines) if input_context else 1
    if source.num_train == 1 and source.cache and source.preprocess is None and pipelines == 1:
        # one example (a whole graph): every batch is the same, so it is built once and repeated
        # (shuffling and batching it again copied the graph at every step)
        ds = source.train(input_context).repeat(per_replica_batch)
        return ds.batch(per_replica_batch, drop_remainder=True).cache().repeat()
    ds = _shuffled_stream(source, input_context, seed, shuffle_buffer)
    seeded = source.preprocess is not None and takes_seed(source.preprocess)
    if seeded:  # the position in the stream (before sharding) seeds the example's augmentation
        ds = ds.enumerate()
    if pipelines > 1 and not source.shards_itself:
        ds = ds.shard(pipelines, index)
    # Each global step consumes `per_replica_batch` examples per replica of this pipeline.
    if skip_steps:
        ds = ds.skip(int(skip_steps) * per_replica_batch * replicas_here)
    if seeded:
        # pipelines that read their own files count their own positions: interleave them
        spread, offset = (pipelines, index) if source.shards_itself else (1, 0)
        ds = ds.map(_seeded_augmentation(source.preprocess, seed, spread, offset),
                    num_parallel_calls=AUTOTUNE)
    elif source.preprocess is not None:
        ds = ds.map(lambda *ex: source.preprocess(unpack(ex), True), num_parallel_calls=AUTOTUNE)
    ds = ds.batch(per_replica_batch, drop_remainder=True)
    return ds.prefetch(AUTOTUNE)


def _shuffled_stream(source, input_context, seed, shuffle_buffer):
    """The raw training examples, cached when the source says so, shuffled and repeated."""
    ds = source.train(input_context)
    if source.cache:
        ds = ds.cache()
    n = source.num_train
    buffer = shuffle_buffer or (n if n and n <= 100_000 else 10_000)
    return ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True).repeat()


def _seeded_augmentation(preprocess, seed, spread, offset):
    """`fn(position, example)` calling `preprocess` with the stateless seed of that position."""

    def augment(i, ex):
        position = i * spread + offset
        return preprocess(ex, True, seed=tf.stack([tf.constant(seed, tf.int64), position]))

    return augment


def evaluation_pipeline(source: DataSource, batch_size: int,
                        split: str = "test") -> Optional[tf.data.Dataset]:
    """A held-out pipeline (every example once, in order, no augmentation), or None when `source`
    has no such split: `split` is "test" (`source.test`) or "validation" (`source.validation`)."""
    if split not in ("test", "validation"):
        raise ValueError(f'`split` must be "test" or "validation". Received: split={split!r}')
    make = source.test if split == "test" else source.validation
    if make is None:
        return None
    ds = make()
    if source.preprocess is not None:
        ds = ds.map(lambda *ex: source.preprocess(unpack(ex), False), num_parallel_calls=AUTOTUNE)
    return ds.batch(batch_size).prefetch(AUTOTUNE)


def validation_pipeline(source: DataSource, batch_size: int) -> Optional[tf.data.Dataset]:
    """`evaluation_pipeline` of the validation split (None when `source` has none)."""
    return evaluation_pipeline(source, batch_size, "validation")


def check_fraction(value, name, upper=1.0):
    """`value` as a float in [0, upper), else a ValueError naming `name`."""
    if not isinstance(value, (int, float)) or not 0.0 <= value < upper:
        raise ValueError(f"`{name}` must be a fraction in [0, {upper:g}). Received: "
                         f"{name}={value!r}")
    return float(value)


def unpack(ex):
    """One dataset element from the tuple `Dataset.map` passes (`(x,)` -> `x`)."""
    return ex[0] if len(ex) == 1 else tuple(ex)


def takes_seed(preprocess) -> bool:
    """Whether `preprocess(example, training, seed=...)` takes a stateless augmentation seed."""
    try:
        return "seed" in inspect.signature(preprocess).parameters
    except (TypeError, ValueError):
        return False


@renamed_arguments(x_eval="x_test", y_eval="y_test")
def array_source(name, x_train, y_train, x_test=None, y_test=None, *, preprocess=None, info=None,
                 validation=None):
    """A `DataSource` over NumPy arrays (or tuples/dicts of arrays) held in memory; `x_test,
    y_test` are the test split and `validation` an optional `(x, y)` validation split."""
    def over(x, y):
        return (lambda: tf.data.Dataset.from_tensor_slices((x, y))) if x is not None else None

    first = lambda a: len(tf.nest.flatten(a)[0]) if a is not None else None  # noqa: E731
    x_val, y_val = validation if validation is not None else (None, None)
    return DataSource(
        name=name, train=lambda _ctx: over(x_train, y_train)(), test=over(x_test, y_test),
        num_train=first(x_train), num_test=first(x_test), preprocess=preprocess,
        info=dict(info or {}), validation=over(x_val, y_val), num_validation=first(x_val),
    )
