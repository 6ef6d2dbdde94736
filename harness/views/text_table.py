"""Tables as plain text, for terminals and CI logs alike (no colour, no box).

Cells are padded to their column's widest, two spaces apart, each column left- or
right-justified, the header justified as its column; lines carry no trailing spaces.
With ``width``, the first column is folded (its cells wrapped onto more lines, long
words cut) so that every line fits::

    >>> print("\\n".join(text_table([("RULE", "left"), ("OBSERVED", "right")],
    ...                             [["CLOSE_WAIT", "1"], ["server:TIME_WAIT", "120"]])))
    RULE              OBSERVED
    CLOSE_WAIT               1
    server:TIME_WAIT       120

rich draws the same table for check and the Locust totals in ~30 ms of import and
rendering; a command that prints one table and exits feels that (docs/performance.md).
"""

from __future__ import annotations

GAP = 2  # spaces between columns


def _fold(cell: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(cell, width, break_on_hyphens=False) or [""]


def text_table(columns, rows, width: int | None = None, title: str | None = None) -> list[str]:
    """The lines of a table: ``columns`` as (title, "left" or "right"), ``rows`` as
    lists of strings, one per column; ``title`` a line above the header."""
    rows = [[str(c) for c in row] for row in rows]
    titles = [t for t, _ in columns]
    widths = [max(len(r[i]) for r in [titles, *rows]) for i in range(len(columns))]
    if width is not None:
        over = sum(widths) + GAP * (len(widths) - 1) - width
        if over > 0:
            widths[0] = max(len(titles[0]), widths[0] - over)
    out = [title] if title else []
    for row in [titles, *rows]:
        first = _fold(row[0], widths[0]) if len(row[0]) > widths[0] else [row[0]]
        for k, part in enumerate(first):
            cells = [part] + [c if k == 0 else "" for c in row[1:]]
            line = (" " * GAP).join(
                c.rjust(w) if how == "right" else c.ljust(w)
                for c, w, (_t, how) in zip(cells, widths, columns, strict=True))
            out.append(line.rstrip())
    return out
