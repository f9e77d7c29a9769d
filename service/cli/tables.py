"""Tables for a terminal: a header row, then columns as wide as their widest cell up to each column's bound, a
longer cell cut with "…" (ids are never cut: people copy them), so a row stays within about 120 characters."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

GAP = "  "


def table(columns: Sequence[tuple[str, int | None]], rows: Iterable[Sequence[object]]) -> str:
    """`columns`: (header, most characters, or None for no bound) each; `rows`: one cell per column."""
    cells = [[_cut("" if cell is None else str(cell), bound) for cell, (_, bound) in zip(row, columns, strict=True)]
             for row in rows]
    widths = [max([len(header), *(len(row[i]) for row in cells)]) for i, (header, _) in enumerate(columns)]
    lines = [[header for header, _ in columns], *cells]
    return "\n".join(GAP.join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
                     for line in lines)


def _cut(text: str, bound: int | None) -> str:
    text = " ".join(text.split())  # an error's newlines would break the row
    return text if bound is None or len(text) <= bound else text[:bound - 1] + "…"
