"""What the ``edgeprof`` callback decides for every command (``--debug``)."""

from __future__ import annotations

#: ``debug``: show tracebacks instead of one-line errors
state: dict[str, bool] = {"debug": False}
