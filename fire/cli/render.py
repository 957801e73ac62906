"""Tables for a terminal (rich, imported only when stdout is a terminal)."""

from __future__ import annotations


def table(header: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(box=None, header_style="bold")
    for h in header:
        t.add_column(h)
    for r in rows:
        t.add_row(*r)
    Console().print(t)
