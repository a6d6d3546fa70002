"""``edgeprof-agent install`` into a tmp root: a unit systemd accepts, a config ``run`` reads, keys kept."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.config import load_config, write_config
from agent.errors import AgentError
from agent.install import default_exec, install, render_unit
from agent.signing import create_private_key, load_public_key

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "install-agent.sh"


@pytest.fixture()
def host_pub(tmp_path: Path) -> Path:
    create_private_key(tmp_path / "host.key")
    return tmp_path / "host.key.pub"


def test_install_writes_config_unit_and_keys_under_the_root(tmp_path: Path, host_pub: Path) -> None:
    root = tmp_path / "root"
    done = install("mqtt://10.0.0.2:1883", "jet-01", host_pub, root=root, extra={"cache_max_bytes": 1000})

    assert done.config == root / "etc/edgeprof/agent.json"
    assert done.unit == root / "etc/systemd/system/edgeprof-agent.service"
    assert done.device_key == root / "var/lib/edgeprof/device.key"
    assert done.device_key.stat().st_mode & 0o777 == 0o600
    assert load_public_key(root / "var/lib/edgeprof/host.pub") == load_public_key(host_pub)
    settings = load_config(done.config)
    assert settings["broker"] == "mqtt://10.0.0.2:1883" and settings["device_id"] == "jet-01"
    assert settings["state_dir"] == root / "var/lib/edgeprof"
    assert settings["log_file"] == root / "var/log/edgeprof/agent.jsonl"
    assert settings["cache_max_bytes"] == 1000
    unit = done.unit.read_text()
    assert f"ExecStart={default_exec()} run --config {done.config}\n" in unit
    for line in ("Restart=on-failure", "User=edgeprof", "StateDirectory=edgeprof", "LogsDirectory=edgeprof"):
        assert line + "\n" in unit
    assert "Wants=network-online.target" in unit and "After=network-online.target" in unit
    # hardening that would hide the power sensors or the GPU is not there
    assert "ProtectKernelTunables" not in unit and "PrivateDevices" not in unit and "MemoryDenyWrite" not in unit


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path, host_pub: Path) -> None:
    done = install("mqtts://broker.lan:8883", "jet-01", host_pub, root=tmp_path / "root")
    ok = subprocess.run(["systemd-analyze", "verify", str(done.unit)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "edgeprof-agent.service" not in ok.stderr, ok.stderr  # no warning about our unit
    # the check can fail: the same unit pointing at a program that does not exist is rejected
    broken = tmp_path / "broken" / "edgeprof-agent.service"
    broken.parent.mkdir()
    broken.write_text(render_unit(tmp_path / "no-such-agent", done.config, "edgeprof"))
    bad = subprocess.run(["systemd-analyze", "verify", str(broken)], capture_output=True, text=True)
    assert bad.returncode != 0 and "no-such-agent" in bad.stderr


def test_reinstall_keeps_the_device_key_and_refuses_another_host_key(tmp_path: Path, host_pub: Path) -> None:
    root = tmp_path / "root"
    first = install("mqtt://b:1883", "jet-01", host_pub, root=root)
    key_bytes = first.device_key.read_bytes()
    again = install("mqtt://other:1883", "jet-01", host_pub, root=root)
    assert again.device_key.read_bytes() == key_bytes and again.fingerprint == first.fingerprint
    assert any("kept the existing device key" in n for n in again.notes)
    assert load_config(again.config)["broker"] == "mqtt://other:1883"  # settings are updated

    create_private_key(tmp_path / "other-host.key")
    with pytest.raises(AgentError, match="already holds another public key"):
        install("mqtt://b:1883", "jet-01", tmp_path / "other-host.key.pub", root=root)
    assert load_public_key(root / "var/lib/edgeprof/host.pub") == load_public_key(host_pub)


def test_install_refuses_a_password_in_the_url_and_copies_the_credentials_file(tmp_path: Path, host_pub) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "root"
    with pytest.raises(AgentError, match="--credentials-file"):
        install("mqtt://dev:secret@b:1883", "jet-01", host_pub, root=root)
    creds = tmp_path / "jet-01.credentials"
    creds.write_text("username=jet-01\npassword=s3cret\n")
    done = install("mqtt://b:1883", "jet-01", host_pub, root=root, credentials_file=creds)
    copied = load_config(done.config)["broker_credentials"]
    assert copied == root / "etc/edgeprof/broker.credentials"
    assert copied.read_text() == creds.read_text() and copied.stat().st_mode & 0o777 == 0o640
    assert "s3cret" not in done.config.read_text()


def test_install_command_prints_the_enrolment_step(tmp_path: Path, host_pub: Path) -> None:
    out = CliRunner().invoke(
        app, ["install", "--broker", "mqtt://b:1883", "--device-id", "jet-01", "--host-key", str(host_pub),
              "--root", str(tmp_path / "root")],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "edgeprof fleet enrol jet-01 device.key.pub" in out.stdout
    assert "systemctl daemon-reload && systemctl enable --now edgeprof-agent" in out.stdout
    bad = CliRunner().invoke(
        app, ["install", "--broker", "mqtt://b", "--device-id", "a/b", "--host-key", str(host_pub)]
    )
    assert bad.exit_code == 1 and "cannot be an MQTT topic level" in bad.output


def test_run_config_errors_name_the_file_and_the_setting(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.json"
    cfg.write_text('{"broker": "mqtt://b:1883", "devce_id": "x"}')
    out = CliRunner().invoke(app, ["run", "--config", str(cfg)])
    assert out.exit_code == 2 and "unknown setting 'devce_id'" in out.output and str(cfg) in out.output
    cfg.write_text('{"resend_interval": "often"}')
    out = CliRunner().invoke(app, ["run", "--config", str(cfg)])
    assert out.exit_code == 2 and "'resend_interval' must be a number" in out.output
    cfg.write_text('{"log_level": "loud", "state_dir": "state"}')
    out = CliRunner().invoke(app, ["run", "--config", str(cfg), "--insecure-accept-unsigned"])
    assert out.exit_code == 2 and "--log-level 'loud': give DEBUG" in out.output
    assert not (tmp_path / "state").exists()  # a refused start leaves nothing behind
    cfg.write_text("{not json")
    assert "is not valid JSON" in CliRunner().invoke(app, ["run", "--config", str(cfg)]).output


def test_config_paths_are_relative_to_the_file_and_round_trip(tmp_path: Path) -> None:
    cfg = tmp_path / "etc" / "agent.json"
    settings = {"state_dir": Path("/var/lib/edgeprof"), "targets_dir": [Path("/opt/t")], "log_backups": 3}
    write_config(cfg, settings)
    assert load_config(cfg) == settings
    cfg.write_text('{"state_dir": "state", "resend_interval": 2}')
    assert load_config(cfg) == {"state_dir": tmp_path / "etc" / "state", "resend_interval": 2.0}


def test_install_script_parses_and_explains_itself() -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0
    shown = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True)
    assert shown.returncode == 0 and "--broker URL" in shown.stdout and "systemctl" in shown.stdout
    missing = subprocess.run([str(SCRIPT), "--broker", "mqtt://b:1883"], capture_output=True, text=True)
    assert missing.returncode == 2 and "--device-id ID is required" in missing.stderr
    absent = subprocess.run(
        [str(SCRIPT), "--broker", "mqtt://b", "--device-id", "d", "--host-key", "/nonexistent.pub"],
        capture_output=True,
        text=True,
    )
    assert absent.returncode == 2 and "no such readable file" in absent.stderr
