"""Image sources: the preprocessing every image recipe shares, scikit-learn's digits (embedded)
and image folders on disk (`path/<class>/<image>`).

Example:
    >>> from zoo.data.images import digits_source
    >>> src = digits_source(image_size=16, channels=1)
    >>> src.num_train, src.num_validation, src.num_test
    (1221, 216, 360)
"""

from __future__ import annotations

import functools
import os

import numpy as np
import tensorflow as tf

from zoo.core.moved import renamed_arguments
from zoo.data.source import array_source, check_fraction, takes_seed

__all__ = ["AUGMENTATIONS", "IMAGE_EXTENSIONS", "image_preprocessor", "digits_indices",
           "digits_split", "digits_source", "digits_rows_source", "image_folder_source",
           "check_image_file"]

AUGMENTATIONS = ("none", "flip", "crop", "crop_flip")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


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
        image, label = _image_and_label(example, image_key, label_key, with_label)
        image = _with_channels(image, channels)
        if size is not None:
            image = _resized(image, size, training and "crop" in augment, crop_seed)
        if training and "flip" in augment:
            image = tf.image.random_flip_left_right(image) if seed is None else \
                tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
        image = image * ((hi - lo) / 255.0) + lo
        return image if not with_label else (image, tf.cast(label, tf.int32))

    return fn


def _image_and_label(example, image_key, label_key, with_label):
    """`(image as float32, label or None)` of a dict or `(image, label)` example."""
    if isinstance(example, dict):
        image = example[image_key or "image"]
        label = example.get(label_key or "label") if with_label else None
    else:
        image, label = (example if with_label else (example, None))
    return tf.cast(image, tf.float32), label


def _with_channels(image, channels):
    """`image` ([H, W] or [H, W, C]) as [H, W, channels] (grey <-> RGB; None keeps them)."""
    if image.shape.rank == 2:
        image = image[..., None]
    if channels is not None and image.shape[-1] != channels:
        if channels == 3 and image.shape[-1] == 1:
            image = tf.image.grayscale_to_rgb(image)
        elif channels == 1 and image.shape[-1] == 3:
            image = tf.image.rgb_to_grayscale(image)
    return image


def _resized(image, size, crop, crop_seed):
    """`image` resized to `size`, or a random `size` crop of a 12.5% larger resize."""
    if not crop:
        return tf.image.resize(image, size)
    big = (int(round(size[0] * 1.125)), int(round(size[1] * 1.125)))
    image = tf.image.resize(image, big)
    shape = size + (image.shape[-1],)
    if crop_seed is None:
        return tf.image.random_crop(image, shape)
    return tf.image.stateless_random_crop(image, shape, seed=crop_seed)


# ----------------------------------------------------------------------------------- digits


@functools.lru_cache(maxsize=1)
def _digits():
    """scikit-learn's digits as its `load_digits()` gives them, `(images, target)`: 1,797 8x8
    images (float64, 0..16) and their labels, read from the file its package ships
    (sklearn/datasets/data/digits.csv.gz) without importing scikit-learn, whose import is about
    1.5 s of CPU in every process that loads the digits. Read once per process (`digits_split`
    and `digits_indices` share it), so both arrays are read-only."""
    import gzip
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    path = spec and spec.submodule_search_locations and os.path.join(
        list(spec.submodule_search_locations)[0], "datasets", "data", "digits.csv.gz")
    if not path or not os.path.isfile(path):
        raise ModuleNotFoundError(
            "The embedded digits are scikit-learn's (sklearn/datasets/data/digits.csv.gz), and "
            "scikit-learn is not installed: pip install scikit-learn")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        data = np.loadtxt(f, delimiter=",")
    images, target = data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int)
    images.flags.writeable = target.flags.writeable = False
    return images, target


def _approximate_mode(class_counts, n_draws, rng):
    """scikit-learn's `sklearn.utils.extmath._approximate_mode` (1.x): per-class counts of
    `n_draws` in proportion to `class_counts`, the leftovers given by remainder (ties by `rng`)."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need_to_add)
            floored[rng.choice(inds, size=add_now, replace=False)] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)


def _stratified_split(items, y, test_fraction, seed):
    """`(train, test)` of `items` as scikit-learn's `train_test_split(items,
    test_size=test_fraction, random_state=seed, stratify=y)` draws them (its
    StratifiedShuffleSplit, 1.x), written out so that the digits load without scikit-learn:
    the split every published figure was measured on (tests/test_data.py compares the two)."""
    n = len(y)
    n_test = int(np.ceil(test_fraction * n))
    n_train = n - n_test
    classes, y_indices, class_counts = np.unique(y, return_inverse=True, return_counts=True)
    class_indices = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(class_counts)[:-1])
    rng = np.random.RandomState(seed)
    n_i = _approximate_mode(class_counts, n_train, rng)
    t_i = _approximate_mode(class_counts - n_i, n_test, rng)
    train, test = [], []
    for i in range(len(classes)):
        members = class_indices[i].take(rng.permutation(class_counts[i]), mode="clip")
        train.extend(members[: n_i[i]])
        test.extend(members[n_i[i]: n_i[i] + t_i[i]])
    return items[rng.permutation(train)], items[rng.permutation(test)]


def digits_indices(seed=0, validation_fraction=0.15):
    """`(train, validation, test)` indices into scikit-learn's digits: a stratified 20% test split
    (360 images, the same for a seed whatever `validation_fraction`), then a stratified
    `validation_fraction` of the rest (216 of 1,437 at 0.15; none at 0), both drawn with `seed`
    as scikit-learn's `train_test_split` draws them."""
    check_fraction(validation_fraction, "validation_fraction")
    y = _digits()[1]
    train, test = _stratified_split(np.arange(len(y)), y, 0.2, seed)
    val = train[:0]
    if validation_fraction:
        train, val = _stratified_split(train, y[train], validation_fraction, seed)
    return train, val, test


def digits_split(seed=0, validation_fraction=0.0):
    """`x_train, x_test, y_train, y_test` (scikit-learn's order; pixels 0..255), and with a
    `validation_fraction` `x_train, x_val, x_test, y_train, y_val, y_test` (`digits_indices`)."""
    digit_images, target = _digits()
    images = (digit_images * (255.0 / 16.0)).astype("float32")  # 0..16 -> 0..255
    parts = [p for p in digits_indices(seed, validation_fraction) if validation_fraction or len(p)]
    labels = target.astype("int32")
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
        info={"num_classes": 10, "input_shape": (image_size, image_size, channels),
              "class_names": [str(i) for i in range(10)]},
    )


def digits_rows_source(seed=0, validation_fraction=0.15):
    """The digits as sequences: 8 time steps (rows) of 8 features in [0, 1]; the splits of
    `digits_source`."""
    x_tr, y_tr, x_te, y_te, val = _digits_arrays(seed, validation_fraction, lambda a: a / 255.0)
    return array_source("digits_rows", x_tr, y_tr, x_te, y_te, validation=val,
                        info={"num_classes": 10, "input_shape": (8, 8),
                              "class_names": [str(i) for i in range(10)]})


# ------------------------------------------------------------------------------ image folders


@renamed_arguments(eval_fraction="test_fraction")
def image_folder_source(path, *, preprocess=None, test_fraction=0.2, seed=0,
                        validation_fraction=0.0):
    """Images on disk as `path/<class>/<file>` (classes sorted by name), decoded in parallel.

    If `path/train` and `path/test` (or `path/val`) exist they are the splits (`path/val` or
    `path/validation` beside `path/test` is the validation split); otherwise a stratified
    `test_fraction` of each class is the test split. Without a validation folder, a stratified
    `validation_fraction` of each class's training images is the validation split (none at 0).
    Both are drawn deterministically from `seed`.

    Class indices come from the training split's class folders and are shared by every split; a
    validation or test class that training lacks is refused, naming it. Every image file is
    checked up front (`check_image_file`: not empty, a PNG, JPEG, GIF or BMP header, not cut
    short), so a damaged file is named before any training instead of failing mid-epoch.
    """
    if not os.path.isdir(path):
        raise ValueError(f"`path` must be a folder of class folders. Received: path={path!r}")
    check_fraction(test_fraction, "test_fraction")
    check_fraction(validation_fraction, "validation_fraction")
    classes, (f_tr, y_tr), (f_te, y_te), val = _folder_splits(
        path, test_fraction, validation_fraction, np.random.default_rng(seed))
    if not len(f_tr):
        raise ValueError(f"No images ({', '.join(IMAGE_EXTENSIONS)}) found under path={path!r}")
    return array_source(
        os.path.basename(os.path.normpath(path)), f_tr, y_tr, f_te, y_te,
        preprocess=_decoding(preprocess or image_preprocessor()), validation=val,
        info={"num_classes": len(classes), "class_names": classes},
    )


def _folder_splits(path, test_fraction, validation_fraction, rng):
    """`classes, (train files, labels), (test files, labels), validation or None` of a folder."""
    dirs = [os.path.join(path, s) for s in ("test", "val", "validation")]
    dirs = [d for d in dirs if os.path.isdir(d)]
    val = None
    if os.path.isdir(os.path.join(path, "train")) and dirs:
        classes, f_tr, y_tr = _listing(os.path.join(path, "train"))
        _, f_te, y_te = _listing(dirs[0], classes)
        if len(dirs) > 1 and dirs[0].endswith("test"):
            val = _listing(dirs[1], classes)[1:]
    else:
        classes, files, labels = _listing(path)
        f_tr, y_tr, f_te, y_te = _carve(files, labels, test_fraction, rng)
    if val is None and validation_fraction:
        f_tr, y_tr, *val = _carve(f_tr, y_tr, validation_fraction, rng)
    return classes, (f_tr, y_tr), (f_te, y_te), val


def _listing(root, classes=None):
    """`classes, files, labels` of `root/<class>/<image>` (classes and files sorted by name);
    with `classes` (the training split's), labels are indices into them and a class folder not
    among them is refused. Every image file is checked (`check_image_file`)."""
    found = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if classes is None:
        classes = found
    unknown = [c for c in found if c not in classes]
    if unknown:
        raise ValueError(
            f"The split {root} has class folders that the training split lacks: {unknown}; every "
            f"split's classes must be among the training split's {classes}, whose indices they "
            f"share. Received: path={os.path.dirname(os.path.normpath(root))!r}")
    files, labels = [], []
    for c in found:
        for f in sorted(os.listdir(os.path.join(root, c))):
            if f.lower().endswith(IMAGE_EXTENSIONS):
                files.append(check_image_file(os.path.join(root, c, f)))
                labels.append(classes.index(c))
    return classes, np.array(files), np.array(labels, "int32")


# the first bytes of each format `tf.io.decode_image` reads here, and how its file ends
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF87a", "GIF"),
          (b"GIF89a", "GIF"), (b"BM", "BMP"))
_ENDS = {"PNG": b"IEND\xaeB`\x82", "JPEG": b"\xff\xd9", "GIF": b";"}


def check_image_file(path):
    """`path` if it looks like a whole image: not empty, a PNG, JPEG, GIF or BMP header (the
    formats `tf.io.decode_image` reads), and its end where the format puts one (PNG's IEND chunk,
    JPEG's end-of-image marker, GIF's trailer within the last 4 KiB; a BMP as long as its header
    says); else a ValueError naming the file. Reads two small blocks per file, decodes nothing,
    so bytes garbled in the middle of an intact file are found only when it is decoded.

    Example:
        >>> check_image_file("no_such.png")
        Traceback (most recent call last):
        ...
        ValueError: The image file no_such.png cannot be read (No such file or directory)...
    """
    try:
        with open(path, "rb") as f:
            head = f.read(16)
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - 4096))
            tail = f.read()
    except OSError as e:
        raise ValueError(f"The image file {path} cannot be read ({e.strerror}). Received: "
                         f"file={path!r}") from None
    kind = next((k for magic, k in _MAGIC if head.startswith(magic)), None)
    problem = None
    if size == 0:
        problem = "is empty"
    elif kind is None:
        problem = "is not a PNG, JPEG, GIF or BMP image (unknown header)"
    elif kind == "BMP":
        declared = int.from_bytes(head[2:6], "little") if len(head) >= 6 else -1
        if len(head) < 16 or size < declared:
            problem = f"is cut short ({size} bytes, its BMP header says {declared})"
    elif _ENDS[kind] not in tail[-4096:]:
        problem = f"is cut short or damaged (no {kind} end marker; {size} bytes)"
    if problem:
        raise ValueError(f"The image file {path} {problem}: remove or replace it. Received: "
                         f"file={path!r}")
    return path


def _carve(files, labels, fraction, rng):
    """`kept files, labels, held files, labels`: a stratified `fraction` of each class held out."""
    held = np.zeros(len(files), bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        held[rng.permutation(idx)[: int(round(len(idx) * fraction))]] = True
    return files[~held], labels[~held], files[held], labels[held]


def _decoding(preprocess):
    """`fn((file, label), training, seed=None)`: read and decode the file, then `preprocess`."""
    seeded = takes_seed(preprocess)

    def decode(example, training, seed=None):
        file, label = example
        image = tf.io.decode_image(tf.io.read_file(file), channels=3, expand_animations=False)
        image.set_shape([None, None, 3])
        if seeded:
            return preprocess((image, label), training, seed=seed)
        return preprocess((image, label), training)

    return decode
