"""The reports of a run, both rendered from one :class:`~pipeline.summary.RunSummary`.

- :func:`render_table` prints the table, recommendation and provenance to a ``rich`` console.
- :func:`render_html` returns one self-contained, offline HTML page.

Both are pure: they never rank or measure anything themselves. What they share (rows, legend,
provenance lines, notes) is :mod:`pipeline.report.view`.
"""

from pipeline.report.html import render_html
from pipeline.report.terminal import render_table

__all__ = ["render_html", "render_table"]
