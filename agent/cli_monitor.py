"""``edgeprof-agent monitor``: sample this device's utilisation under its real load (see :mod:`agent.monitor`),
write the summary, and with ``--broker`` publish it signed and retained (see :mod:`agent.monitor_publish`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

import typer

from agent.cli_options import (
    broker_ca_option,
    broker_cert_option,
    broker_credentials_option,
    broker_key_option,
    broker_option,
    device_id_option,
    device_key_option,
    state_dir_option,
)
from agent.errors import AgentError
from agent.power import SENSORS

_BROKER_HELP = (
    "Also publish the summary to this MQTT broker (mqtt://host[:port] or mqtts://...), signed with this "
    "device's key, retained on edgeprof/v1/devices/ID/monitor, and wait for the broker's acknowledgement; "
    "on the host, `edgeprof monitor-summary --broker URL --device ID --out FILE` fetches and verifies it. "
    "If it is not acknowledged, the summary is written to --out (or a file in this folder) and the exit "
    "status is 1."
)


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
    broker: Optional[str] = broker_option(None, help=_BROKER_HELP),
    device_id: Optional[str] = device_id_option(),
    state_dir: Path = state_dir_option(),
    device_key: Optional[Path] = device_key_option(),
    broker_credentials: Optional[Path] = broker_credentials_option(),
    broker_ca: Optional[Path] = broker_ca_option(),
    broker_cert: Optional[Path] = broker_cert_option(),
    broker_key: Optional[Path] = broker_key_option(),
    publish_timeout: float = typer.Option(
        30.0, metavar="SECONDS", help="With --broker: how long to wait for the broker to accept and acknowledge."
    ),
) -> None:
    """Sample this device's utilisation under its real load (CPU, memory, GPU, power, clocks) and
    write a summary whose busy fraction the host's cost model takes (--monitor-summary); with
    --broker, publish it to the host over MQTT as well."""
    from agent.monitor import Monitor, parse_duration, write_summary

    publisher = None
    try:
        if broker is not None:  # every option checked and the key loaded before the window, not after
            from agent.monitor_publish import MonitorPublisher

            publisher = MonitorPublisher.prepare(
                broker, device_id, state_dir, device_key, broker_credentials, broker_ca, broker_cert, broker_key,
                publish_timeout,
            )  # fmt: skip
        summary = Monitor(parse_duration(duration), parse_duration(interval, "--interval"), pid, power).run()
    except AgentError as exc:
        typer.echo("edgeprof-agent: error: %s" % exc, err=True)
        raise typer.Exit(2) from None
    try:
        text = write_summary(summary, out)
    except OSError as exc:
        typer.echo("edgeprof-agent: error: cannot write --out %s: %s" % (out, exc.strerror or exc), err=True)
        if publisher is None:
            typer.echo(write_summary(summary, None))  # not lost: printed
            raise typer.Exit(2) from None
        out = None  # publish it still; if that fails too, it goes to a file here
    line = "utilisation %.3f over %.0f s (%d samples; %s)" % (
        summary["utilisation"], summary["window_s"], summary["samples"], summary["source"])  # fmt: skip
    if publisher is None:
        typer.echo(text if out is None else "wrote %s: %s" % (out, line))
        return
    if out is not None:
        typer.echo("wrote %s: %s" % (out, line))
    _publish(publisher, summary, out, line)


def _publish(publisher: Any, summary: Dict[str, Any], out: Optional[Path], line: str) -> None:
    """Publish, or keep the summary on disk and exit 1 saying why and what to do."""
    from agent.monitor import write_summary
    from agent.monitor_publish import default_out_path

    try:
        publisher.publish(summary)
    except AgentError as exc:
        kept = out
        if kept is None:
            kept = default_out_path(publisher.device_id)
            try:
                write_summary(summary, kept)
            except OSError as write_exc:  # the last copy: print it rather than lose it
                typer.echo(write_summary(summary, None))
                typer.echo(
                    "edgeprof-agent: error: the summary was not published (%s), and %s cannot be written (%s): "
                    "it is printed above; save it and give it to `edgeprof report OUT --monitor-summary FILE`"
                    % (exc, kept, write_exc),
                    err=True,
                )
                raise typer.Exit(1) from None
        typer.echo(
            "edgeprof-agent: error: the summary was not published: %s. It is kept in %s (%s): run the monitor "
            "again once the broker is reachable, or copy the file to the host and give it to "
            "`edgeprof report OUT --monitor-summary FILE`" % (exc, kept, line),
            err=True,
        )
        raise typer.Exit(1) from None
    typer.echo(
        "published to %s on %s (signed by %s, retained, acknowledged by the broker): %s; on the host: "
        "edgeprof monitor-summary --broker URL --device %s --out FILE"
        % (publisher.where, publisher.topic, publisher.key.public.fingerprint, line, publisher.device_id)
    )
