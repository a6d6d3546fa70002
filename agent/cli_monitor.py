"""``edgeprof-agent monitor``: sample this device's utilisation under its real load (see :mod:`agent.monitor`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from agent.errors import AgentError
from agent.power import SENSORS


def monitor(
    duration: str = typer.Option("10m", metavar="TIME", help="How long to sample: 30s, 10m, 1h."),
    pid: Optional[int] = typer.Option(
        None, metavar="PID", help="Sample this process's CPU time and memory instead of the whole machine's."
    ),
    interval: str = typer.Option("1s", metavar="TIME", help="Time between samples: 1s, 500ms."),
    out: Optional[Path] = typer.Option(
        None, metavar="FILE", help="Write the summary JSON here (for `edgeprof report --monitor-summary FILE`)."
    ),
    power: Optional[str] = typer.Option(
        None, metavar="NAME", help="Power sensor: %s (default: the best real one found)." % ", ".join(SENSORS)
    ),
    broker: Optional[str] = typer.Option(None, metavar="URL", help="Publish the summary to this broker (not yet)."),
) -> None:
    """Sample this device's utilisation under its real load (CPU, memory, GPU, power, clocks) and
    write a summary whose busy fraction the host's cost model takes (--monitor-summary)."""
    from agent.monitor import Monitor, parse_duration, write_summary

    try:
        if broker is not None:
            raise AgentError(
                "--broker: publishing the summary over MQTT is not implemented yet; write it with --out FILE "
                "and give that file to `edgeprof report OUT --monitor-summary FILE` on the host"
            )
        summary = Monitor(parse_duration(duration), parse_duration(interval, "--interval"), pid, power).run()
        text = write_summary(summary, out)
    except AgentError as exc:
        typer.echo("edgeprof-agent: error: %s" % exc, err=True)
        raise typer.Exit(2) from None
    typer.echo(text if out is None else "wrote %s: utilisation %.3f over %.0f s (%d samples; %s)" % (
        out, summary["utilisation"], summary["window_s"], summary["samples"], summary["source"]))  # fmt: skip
