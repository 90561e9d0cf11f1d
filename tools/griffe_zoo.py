"""A griffe extension for the site's API reference (mkdocs.yml loads it; nothing imports zoo).

zoo's docstrings follow the project's Google style, which griffe reads with two differences:

* the doctest section is titled `Example:`; griffe knows `Examples:` only and would render the
  section as a note with its `>>>` lines as plain text, so it is read as `Examples:`;
* arguments documented together may list their names over several lines
  (`activation, use_bias,` / `dropout: as in keras.layers.LSTM.`); the lines of such a list are
  joined, so griffe reads one `names: description` item instead of failing on the first lines.

The docstrings in zoo/ are not changed; only what griffe parses is.
"""

import re

from griffe import Extension

_EXAMPLE = re.compile(r"^(\s*)Example:[ \t]*$", re.M)
# a line that is only names and commas, ending with a comma: a list of arguments that goes on
_NAMES_GO_ON = re.compile(r"^([ \t]+(?:\*{0,2}\w+, *)*\*{0,2}\w+,)[ \t]*\n[ \t]+(?=\*{0,2}\w)", re.M)


def normalize(text):
    """The docstring `text` as griffe's Google parser expects it."""
    text = _EXAMPLE.sub(r"\1Examples:", text)
    previous = None
    while previous != text:
        previous, text = text, _NAMES_GO_ON.sub(r"\1 ", text)
    return text


class ZooDocstrings(Extension):
    """Applies `normalize` to every docstring as griffe visits the source."""

    def on_instance(self, *, node, obj, agent, **kwargs):
        if obj.docstring is not None:
            obj.docstring.value = normalize(obj.docstring.value)
