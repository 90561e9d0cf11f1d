"""Reading a user's text files: `read_table`, the columns of a UTF-8 CSV or TSV file, with errors
that name the file, the line and the columns found (no TensorFlow).

A `.tsv` / `.tab` / `.txt` file is tab-separated (no quoting: a quote is text); any other
extension is comma-separated with CSV quoting. The first line is the header row unless
`header=False`, when columns are 0-based positions. Blank lines are skipped. A UTF-8 byte-order
mark is accepted.

Example:
    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "reviews.csv"
    >>> _ = f.write_text('text,label\\n"good, really",pos\\nbad,neg\\n', encoding="utf-8")
    >>> read_table(f, ["text", "label"])
    {'text': ['good, really', 'bad'], 'label': ['pos', 'neg']}
"""

from __future__ import annotations

import csv
import os
from typing import Dict, List, Optional, Sequence, Union

__all__ = ["read_table", "delimiter_of", "TAB_EXTENSIONS"]

TAB_EXTENSIONS = (".tsv", ".tab", ".txt")


def delimiter_of(path) -> str:
    """The field delimiter of `path` by its extension: a tab for `TAB_EXTENSIONS`, else a comma."""
    return "\t" if os.fspath(path).lower().endswith(TAB_EXTENSIONS) else ","


def _lines(path, argument):
    """The file's lines as (line number, text), refusing a file that is missing, empty or holds a
    line that is not UTF-8 (naming the line)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ValueError(f"`{argument}` must be a readable UTF-8 text file ({e.strerror}). "
                         f"Received: {argument}={os.fspath(path)!r}") from None
    if not raw.strip():
        raise ValueError(f"`{argument}` is an empty file: it needs a header row and at least one row. "
                         f"Received: {argument}={os.fspath(path)!r}")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    out = []
    for number, line in enumerate(raw.splitlines(keepends=True), start=1):
        try:
            out.append(line.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise ValueError(f"`{argument}` must be UTF-8: line {number} is not (byte {e.start + 1} of "
                             f"the line, {line[e.start:e.start + 1]!r}). "
                             f"Received: {argument}={os.fspath(path)!r}") from None
    return out


def _column_index(rows, columns, header, argument, shown):
    """`({column: position}, data rows)`: positions from the header row (a missing column named
    with the columns found), or the columns themselves without one."""
    index = {}
    if not header:
        for col in columns:
            if not isinstance(col, int) or isinstance(col, bool) or col < 0:
                raise ValueError("Without a header row, `columns` must be 0-based column positions. "
                                 f"Received: columns={list(columns)!r}")
            index[col] = col
        return index, rows
    if not rows:
        raise ValueError(f"`{argument}` has no header row. Received: {argument}={shown!r}")
    names = [c.strip() for c in rows[0][1]]
    for col in columns:
        if col not in names:
            raise ValueError(f"`{argument}` has no column {col!r}; its columns are "
                             f"{', '.join(repr(n) for n in names)}. Received: {argument}={shown!r}")
        index[col] = names.index(col)
    return index, rows[1:]


def read_table(path, columns: Sequence[Union[str, int]], delimiter: Optional[str] = None, *,
               header: bool = True, argument: str = "csv") -> Dict[Union[str, int], List[str]]:
    """The cells of `columns` in every row of a UTF-8 delimited file, as strings.

    Args:
        path: the file (`.csv`, or `.tsv` / `.tab` / `.txt` for tab-separated).
        columns: header names to read (or, with `header=False`, 0-based column positions).
        delimiter: the field delimiter; None chooses by extension (`delimiter_of`).
        header: whether the first line names the columns.
        argument: the flag or argument named in errors (`csv` -> "`csv` ...").

    Returns:
        `{column: [cell of each row, in file order]}` for each of `columns`; other columns are
        ignored.

    Raises:
        ValueError: one line naming `argument` and the file: missing or empty, a line that is not
            UTF-8 (its number), a column not in the header (with the columns found), a row with
            too few cells for a column read (its line), or no data rows.
    """
    delimiter = delimiter_of(path) if delimiter is None else delimiter
    shown = os.fspath(path)
    lines = _lines(path, argument)
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(lines, delimiter=delimiter, quoting=quoting, strict=False)
    rows = []  # (line number where the row starts, cells)
    try:
        start = 1
        for cells in reader:
            if cells and any(c.strip() for c in cells) or len(cells) > 1:
                rows.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as e:
        raise ValueError(f"`{argument}` could not be read as a {'TSV' if delimiter == chr(9) else 'CSV'} "
                         f"file at line {reader.line_num} ({e}). Received: {argument}={shown!r}") from None
    index, rows = _column_index(rows, columns, header, argument, shown)
    if not rows:
        raise ValueError(f"`{argument}` has a header row but no data rows. Received: {argument}={shown!r}")
    need = max(index.values()) + 1
    what = "tab" if delimiter == "\t" else repr(delimiter)
    out = {col: [] for col in columns}
    for line, cells in rows:
        if len(cells) < need:
            raise ValueError(f"`{argument}` line {line} has {len(cells)} field(s) where {need} are needed "
                             f"(is a {what} missing?). Received: {argument}={shown!r}")
        for col, i in index.items():
            out[col].append(cells[i])
    return out
