"""The HTML report: :func:`render_html` (the page), built from sections and plotly figures (plotly.js inlined)."""

from pipeline.report.html.page import render_html

__all__ = ["render_html"]
