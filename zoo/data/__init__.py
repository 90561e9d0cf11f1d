"""The data sources of the recipes and searches and their tf.data input pipelines (TensorFlow):
embedded problems, image folders, TFDS, CSV series and graphs. Sources, splits and sizes:
docs/recipe_settings.md and docs/recipes.md ("Data"); modules: docs/api/data/.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import os
from typing import Any, Callable, Dict, Optional

import numpy as np
import tensorflow as tf

from zoo.core.moved import renamed_arguments, warn_renamed
from zoo.data.problems import BOS, EOS, PAD, adding_problem, reversal_problem, unseen_examples

__all__ = [
    "DataSource",
    "digits_split",
    "digits_indices",
    "check_fraction",
    "unpack",
    "takes_seed",
    "EMBEDDED",
    "get_source",
    "train_pipeline",
    "evaluation_pipeline",
    "validation_pipeline",
    "array_source",
    "tfds_source",
    "image_folder_source",
    "image_preprocessor",
    "digits_source",
    "digits_rows_source",
    "adding_problem",
    "adding_source",
    "reversal_problem",
    "reversal_source",
    "PAD",
    "BOS",
    "EOS",
]

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

    @property
    def eval(self):
        """Deprecated name of `test`."""
        warn_renamed("DataSource.eval", "DataSource.test")
        return self.test

    @property
    def num_eval(self):
        """Deprecated name of `num_test`."""
        warn_renamed("DataSource.num_eval", "DataSource.num_test")
        return self.num_test


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
    ds = source.train(input_context)
    if source.cache:
        ds = ds.cache()
    n = source.num_train
    buffer = shuffle_buffer or (n if n and n <= 100_000 else 10_000)
    ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True).repeat()
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

        def augment(i, ex):
            position = i * spread + offset
            return source.preprocess(ex, True, seed=tf.stack([tf.constant(seed, tf.int64),
                                                              position]))

        ds = ds.map(augment, num_parallel_calls=AUTOTUNE)
    elif source.preprocess is not None:
        ds = ds.map(lambda *ex: source.preprocess(unpack(ex), True), num_parallel_calls=AUTOTUNE)
    ds = ds.batch(per_replica_batch, drop_remainder=True)
    return ds.prefetch(AUTOTUNE)


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
    return ex[0] if len(ex) == 1 else tuple(ex)


def takes_seed(preprocess) -> bool:
    """Whether `preprocess(example, training, seed=...)` takes a stateless augmentation seed."""
    try:
        return "seed" in inspect.signature(preprocess).parameters
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------------------- images

AUGMENTATIONS = ("none", "flip", "crop", "crop_flip")


def image_preprocessor(
    image_size=None, channels=None, augment="crop_flip", image_key=None, label_key=None,
    value_range=(-1.0, 1.0), with_label=True,
):
    """`fn(example, training) -> (image, label)` (or the image alone when not `with_label`).

    Images (uint8 or float in [0, 255]) are resized to `image_size`, given `channels` channels and
    scaled to `value_range`; in training, `augment` adds a random crop (from a 12.5% larger resize)
    and/or a random left-right flip, drawn from `seed` (stateless, `train_pipeline` gives each
    example its own) when given.
    """
    if augment not in AUGMENTATIONS:
        raise ValueError(f"`augment` must be one of {AUGMENTATIONS}. Received: augment={augment!r}")
    size = None if image_size is None else (
        (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    )
    lo, hi = value_range

    def fn(example, training, seed=None):
        crop_seed = flip_seed = None
        if seed is not None:
            crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        if isinstance(example, dict):
            image = example[image_key or "image"]
            label = example.get(label_key or "label") if with_label else None
        else:
            image, label = (example if with_label else (example, None))
        image = tf.cast(image, tf.float32)
        if image.shape.rank == 2:
            image = image[..., None]
        if channels is not None and image.shape[-1] != channels:
            if channels == 3 and image.shape[-1] == 1:
                image = tf.image.grayscale_to_rgb(image)
            elif channels == 1 and image.shape[-1] == 3:
                image = tf.image.rgb_to_grayscale(image)
        if size is not None:
            if training and "crop" in augment:
                big = (int(round(size[0] * 1.125)), int(round(size[1] * 1.125)))
                image = tf.image.resize(image, big)
                shape = size + (image.shape[-1],)
                image = tf.image.random_crop(image, shape) if seed is None else \
                    tf.image.stateless_random_crop(image, shape, seed=crop_seed)
            else:
                image = tf.image.resize(image, size)
        if training and "flip" in augment:
            image = tf.image.random_flip_left_right(image) if seed is None else \
                tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
        image = image * ((hi - lo) / 255.0) + lo
        if not with_label:
            return image
        return image, tf.cast(label, tf.int32)

    return fn


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


def digits_indices(seed=0, validation_fraction=0.15):
    """`(train, validation, test)` indices into scikit-learn's digits: a stratified 20% test split
    (360 images, the same for a seed whatever `validation_fraction`), then a stratified
    `validation_fraction` of the rest (216 of 1,437 at 0.15; none at 0), both drawn with `seed`."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    check_fraction(validation_fraction, "validation_fraction")
    y = load_digits().target
    train, test = train_test_split(np.arange(len(y)), test_size=0.2, random_state=seed, stratify=y)
    val = train[:0]
    if validation_fraction:
        train, val = train_test_split(train, test_size=validation_fraction, random_state=seed,
                                      stratify=y[train])
    return train, val, test


def digits_split(seed=0, validation_fraction=0.0):
    """`x_train, x_test, y_train, y_test` (scikit-learn's order; pixels 0..255), and with a
    `validation_fraction` `x_train, x_val, x_test, y_train, y_val, y_test` (`digits_indices`)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = (d.images * (255.0 / 16.0)).astype("float32")  # 0..16 -> 0..255
    parts = [p for p in digits_indices(seed, validation_fraction) if validation_fraction or len(p)]
    labels = d.target.astype("int32")
    return [images[p] for p in parts] + [labels[p] for p in parts]


def _digits_arrays(seed, validation_fraction, fn):
    """`(x_train, y_train, x_test, y_test, validation)` of the digits, `fn` applied to images."""
    x = digits_split(seed, validation_fraction)
    if not validation_fraction:
        return fn(x[0]), x[2], fn(x[1]), x[3], None
    return fn(x[0]), x[3], fn(x[2]), x[5], (fn(x[1]), x[4])


def digits_source(image_size=32, channels=3, augment="crop", value_range=(-1.0, 1.0), seed=0,
                  validation_fraction=0.15):
    """scikit-learn's 8x8 handwritten digits (1,797 real images, bundled with the package),
    upsampled to `image_size`: a stratified 20% (360 images) as the test split, and a stratified
    `validation_fraction` of the rest (216 images; 0 for none) as the validation split.

    Digits are not mirror-symmetric, so the default augmentation is a random crop without flip.
    """
    x_tr, y_tr, x_te, y_te, val = _digits_arrays(seed, validation_fraction, lambda a: a[..., None])
    pre = image_preprocessor(image_size, channels, augment, value_range=value_range)
    return array_source(
        "digits", x_tr, y_tr, x_te, y_te, preprocess=pre, validation=val,
        info={"num_classes": 10, "input_shape": (image_size, image_size, channels)},
    )


def digits_rows_source(seed=0, validation_fraction=0.15):
    """The digits as sequences: 8 time steps (rows) of 8 features in [0, 1]; the splits of
    `digits_source`."""
    x_tr, y_tr, x_te, y_te, val = _digits_arrays(seed, validation_fraction, lambda a: a / 255.0)
    return array_source("digits_rows", x_tr, y_tr, x_te, y_te, validation=val,
                        info={"num_classes": 10, "input_shape": (8, 8)})


# --------------------------------------------------------------------------- generated problems

@renamed_arguments(num_eval="num_test")
def adding_source(steps=100, num_train=20_000, num_test=2_000, seed=0, num_validation=2_000):
    """The adding problem as a `DataSource`: train, test (`num_test`) and validation
    (`num_validation`, 0 for none) drawn with the seeds `seed`, `seed + 1` and `seed + 2`."""
    x_tr, y_tr = adding_problem(num_train, steps, seed)
    x_te, y_te = adding_problem(num_test, steps, seed + 1)
    val = adding_problem(num_validation, steps, seed + 2) if num_validation else None
    return array_source("adding", x_tr, y_tr, x_te, y_te, validation=val,
                        info={"input_shape": (steps, 2), "steps": steps})


@renamed_arguments(num_eval="num_test")
def reversal_source(max_len=20, vocab=20, num_train=20_000, num_test=1_000, seed=0,
                    num_validation=1_000):
    """Sequence reversal as a `DataSource`; `info['vocab_size']` counts PAD, BOS and EOS too.

    The test sequences (`num_test`) are drawn with the seed `seed + 1` and none of them is a
    training sequence (short sequences are few: of 1,000 drawn independently, about 80 are also
    among 10,000 training ones), so the held-out score measures reversal, not memory; the
    validation sequences (`num_validation`, 0 for none; seed `seed + 2`) are in neither.
    """
    tr, y_tr = reversal_problem(num_train, max_len, vocab, seed=seed)
    seen = {row.tobytes() for row in tr[0]}
    drawn, y_drawn = reversal_problem(4 * num_test + 100, max_len, vocab, seed=seed + 1)
    te, y_te = unseen_examples(drawn, y_drawn, seen, num_test)
    val = None
    if num_validation:
        drawn, y_drawn = reversal_problem(4 * num_validation + 100, max_len, vocab, seed=seed + 2)
        val = unseen_examples(drawn, y_drawn, seen | {row.tobytes() for row in te[0]}, num_validation)
    return array_source(
        "reversal", tr, y_tr, te, y_te, validation=val,
        info={"vocab_size": vocab + 3, "max_len": max_len, "target_len": max_len + 1},
    )


# --------------------------------------------------------------------------------- TFDS, folders

@renamed_arguments(eval_split="test_split")
def tfds_source(
    name, *, data_dir=None, manual_dir=None, train_split="train", test_split="auto",
    supervised=True, preprocess=None, download=False, cache=None, validation_split="auto",
):
    """A TensorFlow Datasets dataset by name (e.g. `cifar10`, `ted_hrlr_translate/pt_to_en`).

    Args:
        name: a TFDS name, with an optional `/config`.
        data_dir: where the prepared dataset lives (TFDS default `~/tensorflow_datasets`).
        manual_dir: for datasets whose files you download yourself (`imagenet2012`).
        train_split / test_split: TFDS split names (`test_split`, the test split: "auto" takes
            `test`, else `validation`; None for none).
        validation_split: a TFDS split name for the validation split; "auto" takes `validation`
            when the dataset has it and it is not the test split, else none; None for none.
            Datasets with only `train` and `test` get no validation split (slice one off with
            `train_split="train[:90%]", validation_split="train[90%:]"`).
        supervised: read `(input, label)` pairs (`as_supervised=True`); else feature dicts.
        preprocess: `fn(example, training)`.
        download: run `download_and_prepare` first (needs the network, or `manual_dir`).
        cache: cache in memory (default: when the train split has under 200,000 examples).
    """
    import tensorflow_datasets as tfds

    known = tfds.list_builders(with_community_datasets=False)
    if str(name).split("/")[0].split(":")[0] not in known:  # TFDS's own error lists all of them
        close = difflib.get_close_matches(str(name).split("/")[0], known, n=3, cutoff=0.6)
        raise ValueError(f"Unknown TensorFlow Datasets name {name!r}"
                         + (f"; did you mean {', '.join(map(repr, close))}?" if close else ".")
                         + " `tfds.list_builders()` lists them all.")
    builder = tfds.builder(name, data_dir=data_dir)
    if download or manual_dir:
        config = tfds.download.DownloadConfig(manual_dir=manual_dir) if manual_dir else None
        builder.download_and_prepare(download_config=config)

    def split_size(split):
        try:
            return int(builder.info.splits[split].num_examples) or None
        except Exception:  # sizes are unknown for mocked or partial datasets
            return None

    def train(ctx):
        read = tfds.ReadConfig(input_context=ctx, shuffle_seed=0, try_autocache=False)
        return builder.as_dataset(
            split=train_split, shuffle_files=True, read_config=read, as_supervised=supervised
        )

    def held_out(split):
        return lambda: builder.as_dataset(split=split, shuffle_files=False,
                                          as_supervised=supervised)

    try:
        splits = set(builder.info.splits.keys())
    except Exception:
        splits = set()
    if test_split == "auto":
        test_split = next((s for s in ("test", "validation") if s in splits), "test")
    if validation_split == "auto":
        validation_split = "validation" if "validation" in splits - {test_split} else None
    num_train = split_size(train_split)
    info = {"tfds_name": name}
    try:
        features = builder.info.features
        label = features["label"] if "label" in features else None
        if label is not None and hasattr(label, "num_classes"):
            info["num_classes"] = int(label.num_classes)
        if "image" in features:
            info["image_shape"] = tuple(features["image"].shape)
    except Exception:
        pass
    return DataSource(
        name=name,
        train=train,
        test=held_out(test_split) if test_split else None,
        num_train=num_train,
        num_test=split_size(test_split) if test_split else None,
        validation=held_out(validation_split) if validation_split else None,
        num_validation=split_size(validation_split) if validation_split else None,
        preprocess=preprocess,
        info=info,
        cache=(num_train is not None and num_train < 200_000) if cache is None else cache,
        shards_itself=True,
    )


_IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


@renamed_arguments(eval_fraction="test_fraction")
def image_folder_source(path, *, preprocess=None, test_fraction=0.2, seed=0,
                        validation_fraction=0.0):
    """Images on disk as `path/<class>/<file>` (classes sorted by name), decoded in parallel.

    If `path/train` and `path/test` (or `path/val`) exist they are the splits (`path/val` or
    `path/validation` beside `path/test` is the validation split); otherwise a stratified
    `test_fraction` of each class is the test split. Without a validation folder, a stratified
    `validation_fraction` of each class's training images is the validation split (none at 0).
    Both are drawn deterministically from `seed`.
    """
    if not os.path.isdir(path):
        raise ValueError(f"`path` must be a folder of class folders. Received: path={path!r}")
    check_fraction(test_fraction, "test_fraction")
    check_fraction(validation_fraction, "validation_fraction")

    def listing(root):
        classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
        files, labels = [], []
        for i, c in enumerate(classes):
            for f in sorted(os.listdir(os.path.join(root, c))):
                if f.lower().endswith(_IMAGE_EXTS):
                    files.append(os.path.join(root, c, f))
                    labels.append(i)
        return classes, np.array(files), np.array(labels, "int32")

    def carve(files, labels, fraction, rng):
        held = np.zeros(len(files), bool)
        for c in np.unique(labels):
            idx = np.flatnonzero(labels == c)
            held[rng.permutation(idx)[: int(round(len(idx) * fraction))]] = True
        return files[~held], labels[~held], files[held], labels[held]

    dirs = [os.path.join(path, s) for s in ("test", "val", "validation")]
    dirs = [d for d in dirs if os.path.isdir(d)]
    rng = np.random.default_rng(seed)
    val = None
    if os.path.isdir(os.path.join(path, "train")) and dirs:
        classes, f_tr, y_tr = listing(os.path.join(path, "train"))
        _, f_te, y_te = listing(dirs[0])
        if len(dirs) > 1 and dirs[0].endswith("test"):
            val = listing(dirs[1])[1:]
    else:
        classes, files, labels = listing(path)
        f_tr, y_tr, f_te, y_te = carve(files, labels, test_fraction, rng)
    if val is None and validation_fraction:
        f_tr, y_tr, *val = carve(f_tr, y_tr, validation_fraction, rng)
    if not len(f_tr):
        raise ValueError(f"No images ({', '.join(_IMAGE_EXTS)}) found under path={path!r}")

    preprocess = preprocess or image_preprocessor()
    seeded = takes_seed(preprocess)

    def decode(example, training, seed=None):
        file, label = example
        image = tf.io.decode_image(tf.io.read_file(file), channels=3, expand_animations=False)
        image.set_shape([None, None, 3])
        if seeded:
            return preprocess((image, label), training, seed=seed)
        return preprocess((image, label), training)

    src = array_source(
        os.path.basename(os.path.normpath(path)), f_tr, y_tr, f_te, y_te, preprocess=decode,
        validation=val, info={"num_classes": len(classes), "class_names": classes},
    )
    return src


# ------------------------------------------------------------------------------------ by name

EMBEDDED = ("digits", "digits_rows", "adding", "reversal")


def get_source(name, **kwargs):
    """A `DataSource` by name: an embedded default, a folder path, or a TFDS name.

    Keyword arguments go to the matching constructor (`digits_source`, `adding_source`,
    `reversal_source`, `image_folder_source`, `tfds_source`).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"`dataset` must be a non-empty string. Received: dataset={name!r}")
    makers = {
        "digits": digits_source,
        "digits_rows": digits_rows_source,
        "adding": adding_source,
        "reversal": reversal_source,
    }
    if name in makers:
        return makers[name](**kwargs)
    if os.path.isdir(name):
        return image_folder_source(name, **kwargs)
    return tfds_source(name, **kwargs)
