"""The main job's key and broker handling: a mistyped key file, credentials kept out of the database and
out of the local agent's command line, --targets that names no profile."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.mqtt_client import PASSWORD_ENV, USERNAME_ENV, broker_security
from agent.protocol import parse_broker_url
from pipeline.demo_model import DEMO_CALIB_PATH, DEMO_EVAL_PATH, DEMO_MODEL_PATH
from pipeline.dispatch.local import LocalAgent
from pipeline.errors import InputError
from pipeline.main_job import check_profiles, host_key_path
from pipeline.request import RunRequest
from pipeline.run_summary import _options


def test_a_mistyped_host_key_is_an_error_not_a_new_key(tmp_path: Path) -> None:
    """The landed host created a new key at a mistyped path; every agent then refused 'bad signature'
    and the host showed 'measuring 0/1' until its deadline."""
    out = tmp_path / "out"
    typo = tmp_path / "hots.key"
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "optimize", str(DEMO_MODEL_PATH), "--calib", str(DEMO_CALIB_PATH),
         "--eval", str(DEMO_EVAL_PATH), "--out", str(out), "--precisions", "fp32", "--host-key", str(typo)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(typo) in lines[0] and "does not exist" in lines[0] and "--create-key" in lines[0]
    assert not typo.exists() and not out.exists()


def test_where_the_host_key_comes_from(tmp_path: Path) -> None:
    local = RunRequest(model=Path("m.onnx"), out=tmp_path)
    assert host_key_path(local) == (tmp_path / "keys" / "host.key", True)  # the run folder's own
    named = RunRequest(model=Path("m.onnx"), out=tmp_path, host_key_file=tmp_path / "k")
    assert host_key_path(named) == (tmp_path / "k", False)
    fleet = RunRequest(model=Path("m.onnx"), out=tmp_path, targets=("raspberry-pi-5",))
    path, may_create = host_key_path(fleet)
    assert path.name == "host.key" and path.parent.name == "edgeprof" and not may_create


def test_credentials_reach_neither_the_database_nor_the_agents_command_line(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.write_text("username=edgeprof-host\npassword=s3cret-from-file\n")
    url = "mqtt://host:url-secret@broker.example:1883"
    request = RunRequest(model=Path("m.onnx"), out=tmp_path, broker=url, broker_credentials=creds)
    stored = json.dumps(_options(request))
    assert "url-secret" not in stored and "s3cret-from-file" not in stored
    security = broker_security(parse_broker_url(request.broker), creds)
    assert security.password == "s3cret-from-file"
    agent = LocalAgent(request.broker, "local-x", tmp_path / "s", tmp_path / "d.key", tmp_path / "h.pub",
                       tmp_path / "agent.log", security=security)  # fmt: skip
    assert not any("secret" in part for part in agent.command()), agent.command()
    assert security.env() == {USERNAME_ENV: "edgeprof-host", PASSWORD_ENV: "s3cret-from-file"}


def test_environment_credentials_win_over_the_url_and_a_file_over_both(tmp_path: Path) -> None:
    broker = parse_broker_url("mqtt://u:p@h:1")
    assert broker_security(broker, environ={}).username == "u"
    env = {USERNAME_ENV: "env-user", PASSWORD_ENV: "env-pass"}
    assert broker_security(broker, environ=env).password == "env-pass"
    creds = tmp_path / "c"
    creds.write_text("# the host\nusername=file-user\npassword=file-pass\n")
    assert broker_security(broker, creds, environ=env).username == "file-user"
    creds.write_text("user=x\n")
    with pytest.raises(Exception, match="line 1: expected username="):
        broker_security(broker, creds, environ={})


def test_targets_must_name_profiles_and_devices_go_to_devices() -> None:
    with pytest.raises(InputError, match="not a target profile id.*--devices jetson-01"):
        check_profiles(RunRequest(model=Path("m.onnx"), out=Path("o"), targets=("jetson-01",)))
    check_profiles(RunRequest(model=Path("m.onnx"), out=Path("o"), targets=("local", "raspberry-pi-5")))


def test_a_missing_tls_file_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "optimize", str(DEMO_MODEL_PATH), "--eval", str(DEMO_EVAL_PATH),
         "--out", str(out), "--precisions", "fp32", "--broker-ca", str(tmp_path / "ca.pem")],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 1 and "--broker-ca" in proc.stderr and "no such file" in proc.stderr, proc.stderr
    assert not out.exists()
