"""TensorFlow Datasets by name (`cifar10`, `imagenet2012` with `manual_dir`, `imdb_reviews`,
`ted_hrlr_translate/pt_to_en`, ...). Nothing is downloaded unless `download=True`; files are
sharded per input pipeline (`tfds.ReadConfig`).

Example:
    >>> from zoo.data.tfds import tfds_names
    >>> "cifar10" in tfds_names()
    True
"""

from __future__ import annotations

import difflib

from zoo.core.moved import renamed_arguments
from zoo.data.source import DataSource

__all__ = ["tfds_source", "tfds_names", "close_tfds_names"]


def tfds_names():
    """The names of the TFDS builders (without community datasets)."""
    import tensorflow_datasets as tfds

    return tfds.list_builders(with_community_datasets=False)


def close_tfds_names(name, n=3):
    """`(known, close)`: whether `name` (with an optional `/config` or `:version`) is a TFDS
    builder, and up to `n` builder names close to it."""
    base = str(name).split("/")[0].split(":")[0]
    known = tfds_names()
    return base in known, difflib.get_close_matches(base, known, n=n, cutoff=0.6)


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
    builder = _builder(name, data_dir, manual_dir, download)
    splits = _split_names(builder)
    if test_split == "auto":
        test_split = next((s for s in ("test", "validation") if s in splits), "test")
    if validation_split == "auto":
        validation_split = "validation" if "validation" in splits - {test_split} else None
    num_train = _split_size(builder, train_split)
    return DataSource(
        name=name,
        train=_train_reader(builder, train_split, supervised),
        test=_held_out_reader(builder, test_split, supervised),
        num_train=num_train,
        num_test=_split_size(builder, test_split),
        validation=_held_out_reader(builder, validation_split, supervised),
        num_validation=_split_size(builder, validation_split),
        preprocess=preprocess,
        info=_info(builder, name),
        cache=(num_train is not None and num_train < 200_000) if cache is None else cache,
        shards_itself=True,
    )


def _builder(name, data_dir, manual_dir, download):
    """The TFDS builder of `name` (prepared first when asked), or a ValueError with close names."""
    import tensorflow_datasets as tfds

    known, close = close_tfds_names(name)
    if not known:  # TFDS's own error lists all of them
        raise ValueError(f"Unknown TensorFlow Datasets name {name!r}"
                         + (f"; did you mean {', '.join(map(repr, close))}?" if close else ".")
                         + " `tfds.list_builders()` lists them all.")
    builder = tfds.builder(name, data_dir=data_dir)
    if download or manual_dir:
        config = tfds.download.DownloadConfig(manual_dir=manual_dir) if manual_dir else None
        builder.download_and_prepare(download_config=config)
    return builder


def _split_names(builder):
    try:
        return set(builder.info.splits.keys())
    except Exception:  # unknown for mocked or partial datasets
        return set()


def _split_size(builder, split):
    if not split:
        return None
    try:
        return int(builder.info.splits[split].num_examples) or None
    except Exception:  # sizes are unknown for mocked or partial datasets
        return None


def _train_reader(builder, split, supervised):
    """`fn(input_context)`: the training split, its files sharded per input pipeline."""
    import tensorflow_datasets as tfds

    def train(ctx):
        read = tfds.ReadConfig(input_context=ctx, shuffle_seed=0, try_autocache=False)
        return builder.as_dataset(split=split, shuffle_files=True, read_config=read,
                                  as_supervised=supervised)

    return train


def _held_out_reader(builder, split, supervised):
    if not split:
        return None
    return lambda: builder.as_dataset(split=split, shuffle_files=False, as_supervised=supervised)


def _info(builder, name):
    """`tfds_name`, and `num_classes` and `image_shape` where the features say them."""
    info = {"tfds_name": name}
    try:
        features = builder.info.features
        label = features["label"] if "label" in features else None
        if label is not None and hasattr(label, "num_classes"):
            info["num_classes"] = int(label.num_classes)
            if getattr(label, "names", None):  # the label names, served as `classes`
                info["class_names"] = [str(n) for n in label.names]
        if "image" in features:
            info["image_shape"] = tuple(features["image"].shape)
    except Exception:  # features are unknown for mocked or partial datasets
        pass
    return info
