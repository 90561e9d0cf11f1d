"""Every data source of the recipes (embedded, image folders, TFDS, text, series, graphs) behind one
lookup, `get_source(name, **kwargs)`; splits are train, validation and test (docs/recipe_settings.md).
"""

from __future__ import annotations

import os

from zoo.core.lazy import lazy_attributes
from zoo.data.graphs import PLANETOID_NAMES, graph_source, karate_source, planetoid_source
from zoo.data.images import (
    AUGMENTATIONS,
    digits_indices,
    digits_rows_source,
    digits_source,
    digits_split,
    image_folder_source,
    image_preprocessor,
)
from zoo.data.problems import (
    BOS,
    EOS,
    PAD,
    adding_problem,
    adding_source,
    reversal_problem,
    reversal_source,
    unseen_examples,
)
from zoo.data.series import csv_series_source, forecasting_source, synthetic_series_source
from zoo.data.source import (
    AUTOTUNE,
    DataSource,
    array_source,
    check_fraction,
    evaluation_pipeline,
    takes_seed,
    train_pipeline,
    unpack,
    validation_pipeline,
)
from zoo.data.text import digits_tokens_source, subword_source, text_source
from zoo.data.tfds import close_tfds_names, tfds_source

__all__ = [
    "DataSource", "digits_split", "digits_indices", "check_fraction", "unpack", "takes_seed",
    "EMBEDDED", "SOURCES", "get_source", "train_pipeline", "evaluation_pipeline",
    "validation_pipeline", "array_source", "tfds_source", "image_folder_source",
    "image_preprocessor", "digits_source", "digits_rows_source", "digits_tokens_source",
    "adding_problem", "adding_source", "reversal_problem", "reversal_source", "unseen_examples",
    "text_source", "subword_source", "forecasting_source", "synthetic_series_source",
    "csv_series_source", "graph_source", "karate_source", "planetoid_source", "AUGMENTATIONS",
    "AUTOTUNE", "PAD", "BOS", "EOS",
]

# The sources by name that need no download (the keyword arguments go to the function).
SOURCES = {
    "digits": digits_source,
    "digits_rows": digits_rows_source,
    "digits_tokens": digits_tokens_source,
    "adding": adding_source,
    "reversal": reversal_source,
    "synthetic_series": synthetic_series_source,
    "karate": karate_source,
}
# The embedded datasets of the image and sequence recipes' `--dataset`.
EMBEDDED = ("digits", "digits_rows", "adding", "reversal")
TOKENIZERS = {"words": text_source, "subwords": subword_source}


def get_source(name, **kwargs) -> DataSource:
    """A `DataSource` by name; keyword arguments go to the function that makes it.

    `name` is one of `SOURCES` (digits, digits_rows, digits_tokens, adding, reversal,
    synthetic_series, karate), a Planetoid name (cora, citeseer, pubmed; `directory=` its files),
    a folder of class folders (`image_folder_source`), a `.csv` file (`csv_series_source`,
    `target=` its column), or a TensorFlow Datasets name (`tfds_source`; with
    `tokenize="words"` `text_source`, with `tokenize="subwords"` `subword_source`).

    Example:
        >>> from zoo.data import get_source
        >>> get_source("reversal", max_len=5, vocab=8, num_train=64, num_test=8).info["vocab_size"]
        11
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"`name` must be a non-empty string. Received: name={name!r}")
    if name in SOURCES:
        return SOURCES[name](**kwargs)
    if name in PLANETOID_NAMES:
        return planetoid_source(name, **kwargs)
    if os.path.isdir(name):
        return image_folder_source(name, **kwargs)
    if name.lower().endswith(".csv"):
        return _csv_source(name, kwargs)
    tokenize = kwargs.pop("tokenize", None)
    if tokenize is not None and tokenize not in TOKENIZERS:
        raise ValueError(f"`tokenize` must be one of {tuple(TOKENIZERS)} or None. "
                         f"Received: tokenize={tokenize!r}")
    known, close = close_tfds_names(name)
    if not known:
        raise ValueError(_unknown(name, close))
    return (TOKENIZERS[tokenize] if tokenize else tfds_source)(name, **kwargs)


def _csv_source(path, kwargs):
    if not os.path.isfile(path):
        raise ValueError(f"`name` ends with .csv but is not a file. Received: name={path!r}")
    if "target" not in kwargs:
        raise ValueError(f"A CSV series needs its target column: get_source({path!r}, "
                         "target='column'). Received: target=None")
    return csv_series_source(path, **kwargs)


def _unknown(name, close):
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    return (f"Unknown dataset.{hint} Known names: {', '.join(SOURCES)}; the Planetoid "
            f"{', '.join(PLANETOID_NAMES)} (with directory=...); a folder of class folders; a .csv "
            f"file; or a TensorFlow Datasets name (`tfds.list_builders()`). Received: name={name!r}")


# renamed in 0.2: the old name works for one release
__getattr__ = lazy_attributes(__name__, {"evaluation_pipeline": "zoo.data.source"},
                              deprecated={"eval_pipeline": "evaluation_pipeline"})
