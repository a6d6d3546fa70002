"""TEMPORARY shim with the API of the decision-side rewrite (replaced when it lands)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_outputs(out: Path, doc: dict[str, Any], console: Console) -> None:
    from pipeline.report.html import render_html
    from pipeline.report.terminal import render_table

    write_atomic(out / "results.json", json.dumps(doc, indent=2, allow_nan=False) + "\n")
    write_atomic(out / "report.html", render_html(doc))
    render_table(doc, console)
    console.print(f"\nwrote {out / 'report.html'} and {out / 'results.json'} (database: {out / 'results.db'})")
