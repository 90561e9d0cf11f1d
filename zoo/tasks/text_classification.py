"""Text classification: the Transformer encoder classifier over token ids.

* Training: as `zoo.tasks.sequence_classification` (cross-entropy, accuracy).
* Data (`zoo train NAME`): the digits as 64 grey-level tokens (embedded, the default), a user's
  CSV / TSV file (`--csv FILE --text-column COL --label-column COL`) or a TFDS text dataset
  (`imdb_reviews`, ...), both tokenised by a SentencePiece tokenizer learned from the training
  split (`zoo.tasks.sequence_classification`, docs/text.md).
* Serving: `tokens` and `lengths` -> `probabilities` (+ top-k), `zoo.roles.sequence`; a model
  trained on text takes raw strings (`text` -> `classes`, `class_ids`, `probabilities`, top-k)
  with the token-id signature as `serving_token_ids` (`zoo.roles.text_serving`).

Example:
    >>> from zoo.tasks import task_for
    >>> task_for("transformer_classifier").name
    'text_classification'
"""

from __future__ import annotations

from zoo.roles.sequence import digits_tokens_source
from zoo.tasks.image_classification import limit_eval
from zoo.tasks.sequence_classification import SequenceClassification

__all__ = ["TextClassification", "TASK"]


class TextClassification(SequenceClassification):
    """See the module docstring."""

    name = "text_classification"
    default_dataset = "digits_tokens"
    flag_defaults = dict(epochs=10, batch_size=64, learning_rate=1e-3, schedule="cosine",
                          warmup_steps=50)

    def search_data(self, spec, base, *, eval_examples=256, num_train=2048, seed=0):
        return limit_eval(digits_tokens_source(seed), eval_examples), dict(vocabulary_size=18, classes=10)


TASK = TextClassification
