"""`edgeprof fleet enrol` and `fleet ls` (against a real Mosquitto, with retained statuses)."""

from __future__ import annotations

import time
from pathlib import Path

from typer.testing import CliRunner

from agent.protocol import AgentStatus, status_topic
from agent.signing import create_private_key, public_key_path
from pipeline.cli_fleet import app
from tests.pipeline.dispatch.test_mqtt_host import Device

WIDE = {"COLUMNS": "250"}


def test_enrol_copies_the_key_and_never_replaces_another_silently(tmp_path: Path) -> None:
    runner = CliRunner()
    first = create_private_key(tmp_path / "a.key")
    second = create_private_key(tmp_path / "b.key")
    ring = tmp_path / "ring"
    ok = runner.invoke(app, ["enrol", "dev-1", str(public_key_path(first.path)), "--keyring", str(ring)])
    assert ok.exit_code == 0, ok.output
    assert first.public.fingerprint in ok.stdout and (ring / "dev-1.pub").exists()
    again = runner.invoke(app, ["enrol", "dev-1", str(public_key_path(first.path)), "--keyring", str(ring)])
    assert again.exit_code == 0  # the same key again is fine
    other = runner.invoke(app, ["enrol", "dev-1", str(public_key_path(second.path)), "--keyring", str(ring)])
    assert other.exit_code == 1 and "--replace" in other.stderr
    replace = ["enrol", "dev-1", str(public_key_path(second.path)), "--keyring", str(ring), "--replace"]
    replaced = runner.invoke(app, replace)
    assert replaced.exit_code == 0 and second.public.fingerprint in replaced.stdout
    private = runner.invoke(app, ["enrol", "dev-2", str(first.path), "--keyring", str(ring)])
    assert private.exit_code == 1 and "is a private key" in private.stderr
    bad_id = runner.invoke(app, ["enrol", "../etc", str(public_key_path(first.path)), "--keyring", str(ring)])
    assert bad_id.exit_code == 1 and "device id" in bad_id.stderr


def test_ls_shows_state_job_trust_and_shared_machines(tmp_path: Path, mosquitto) -> None:
    ring = tmp_path / "ring"
    devices = []
    for device_id, enrolled, machine in (("dev-a", True, "m1"), ("dev-b", True, "m1"), ("dev-c", False, "m2")):
        key = create_private_key(tmp_path / f"{device_id}.key")
        if enrolled:
            CliRunner().invoke(app, ["enrol", device_id, str(public_key_path(key.path)), "--keyring", str(ring)])
        device = Device(mosquitto.url, device_id, key)
        status = AgentStatus(
            device_id, "busy" if device_id == "dev-a" else "online", target="raspberry-pi-5", ts=time.time(),
            machine_id=machine, current_job="job-42" if device_id == "dev-a" else "", runtimes={"onnxruntime": "1"},
        )  # fmt: skip
        device.publish(status_topic(device_id), status, retain=True)
        devices.append(device)
    try:
        result = CliRunner().invoke(
            app, ["ls", "--broker", mosquitto.url, "--keyring", str(ring), "--wait", "1"], env=WIDE
        )
    finally:
        for d in devices:
            d.close()
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip().startswith("dev-")}
    assert set(rows) == {"dev-a", "dev-b", "dev-c"}
    assert "busy" in rows["dev-a"] and "job-42" in rows["dev-a"] and "verified" in rows["dev-a"]
    assert "shares a machine with dev-b" in rows["dev-a"]
    assert "not enrolled" in rows["dev-c"] and "shares" not in rows["dev-c"]
