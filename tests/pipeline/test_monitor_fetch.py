"""The host's check of a device's monitor summary (pipeline/monitor_fetch.py): only a message signed
by the device's enrolled key, naming that device, is believed; everything else is refused with the
reason. The broker part runs in tests/integration/test_monitor_broker.py."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent import signing
from agent.protocol import MonitorSummary, encode
from agent.signing import create_private_key, sign
from pipeline.errors import InputError, PipelineError
from pipeline.monitor_fetch import verified_summary

SUMMARY = {"utilisation": 0.25, "window_s": 60.0, "samples": 60, "source": "/proc/stat"}


@pytest.fixture()
def keys(tmp_path: Path):  # type: ignore[no-untyped-def]
    return create_private_key(tmp_path / "device.key"), create_private_key(tmp_path / "other.key")


def test_a_summary_signed_by_the_enrolled_key_is_believed(keys) -> None:  # type: ignore[no-untyped-def]
    device, _ = keys
    payload = encode(sign(MonitorSummary("dev-a", time.time(), dict(SUMMARY)), device))
    assert verified_summary(payload, "dev-a", device.public, time.time()).summary == SUMMARY


def test_forged_unsigned_malformed_and_misaddressed_summaries_are_refused(keys) -> None:  # type: ignore[no-untyped-def]
    device, other = keys
    now = time.time()
    message = MonitorSummary("dev-a", now, dict(SUMMARY))
    cases = {
        "bad signature": encode(sign(message, other)),
        "not signed": encode(message),
        "not valid UTF-8 JSON": b"{not json",
        "names device 'dev-b'": encode(sign(dataclasses.replace(message, device_id="dev-b"), device)),
        "in the future": encode(sign(dataclasses.replace(message, ts=now + 3600), device)),
        # a valid message the cost model would still refuse: the file would be useless
        "busy fraction in (0, 1]": encode(
            sign(dataclasses.replace(message, summary=dict(SUMMARY, utilisation=0)), device)
        ),
        "no monitor summary": b"",
    }
    # signed by the right key, but not a summary the host can use: the signature is not enough
    body = {k: v for k, v in json.loads(encode(message)).items() if k != "signature"}
    body["summary"] = {"utilisation": 0.2}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    body["signature"] = device.sign_bytes(signing._DOMAIN + b"MonitorSummary\n" + canonical)
    cases["'window_s' must be a number"] = json.dumps(body).encode()
    for match, payload in cases.items():
        with pytest.raises(PipelineError, match=re.escape(match)):
            verified_summary(payload, "dev-a", device.public, now)


def test_a_device_that_is_not_enrolled_is_refused_with_the_enrol_command() -> None:
    with pytest.raises(InputError, match="edgeprof fleet enrol dev-a device.key.pub"):
        verified_summary(b"{}", "dev-a", None, time.time())


def test_the_command_refuses_an_unenrolled_device_before_touching_the_broker(tmp_path: Path) -> None:
    from pipeline.cli import app

    out = tmp_path / "m.json"
    args = ["monitor-summary", "--broker", "mqtt://127.0.0.1:1", "--device", "dev-a", "--out", str(out)]
    result = CliRunner().invoke(app, args + ["--keyring", str(tmp_path / "ring")])
    assert result.exit_code == 1 and "dev-a is not enrolled" in result.output
    assert not out.exists()
    result = CliRunner().invoke(app, ["monitor-summary", "--broker", "x", "--device", "a/b", "--out", str(out)])
    assert result.exit_code == 1 and "device id 'a/b' is not valid" in result.output
