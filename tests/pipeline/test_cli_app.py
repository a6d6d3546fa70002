"""The `edgeprof` app itself: `--version`, the `--power` choices, one-line errors."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from agent.power import SENSORS
from pipeline import __version__
from pipeline.cli import app
from pipeline.cli_optimize import PowerSource

WIDE = {"COLUMNS": "200", "TERMINAL_WIDTH": "200"}


def test_version_needs_no_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "--version"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"edgeprof {__version__}"


def test_power_choices_come_from_the_agents_sensor_registry() -> None:
    assert [member.value for member in PowerSource] == list(SENSORS)
    text = " ".join(CliRunner().invoke(app, ["optimize", "--help"], env=WIDE).stdout.split())
    assert f"--power NAME Power source for the local agent: {', '.join(SENSORS)}" in text


def test_an_unknown_power_source_is_refused_naming_the_known_ones(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["optimize", "m.onnx", "--out", str(out), "--power", "solar"])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgeprof: error: "), result.stderr
    assert "'solar'" in lines[0] and all(name in lines[0] for name in SENSORS)
    assert not out.exists()


def test_targets_errors_carry_the_prefix() -> None:
    result = CliRunner().invoke(app, ["targets", "show", "nope"], env={"EDGEPROF_TARGETS_DIR": ""})
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgeprof: error: unknown target 'nope'"), result.stderr


def test_the_nvidia_options_reach_the_request(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pipeline.cli_optimize as cli

    seen = []
    monkeypatch.setattr(cli, "_run", seen.append)
    args = ["optimize", "m.onnx", "--runtimes", "tensorrt,onnxruntime", "--ort-providers", "cpu,cuda"]
    args += ["--power-modes", "current,15W", "--fixed-clocks", "--trt-dla-core", "1", "--trt-cuda-graph"]

    result = CliRunner().invoke(app, args)

    assert result.exit_code == 0, result.output
    (request,) = seen
    assert request.ort_providers == ("cpu", "cuda") and request.power_modes == ("current", "15W")
    assert request.fixed_clocks and request.pass_options == {"trt_recipe": {"dla_core": 1}}
    assert request.runtime_options == {"tensorrt": {"use_cuda_graph": True}}


def test_an_unknown_execution_provider_is_one_line_before_anything_is_written(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pipeline.demo_model import DEMO_MODEL_PATH

    out = tmp_path / "out"
    args = ["optimize", str(DEMO_MODEL_PATH), "--out", str(out), "--ort-providers", "cpu,rocm"]
    result = CliRunner().invoke(app, args)

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "edgeprof: error: --ort-providers: unknown provider(s) rocm; known: cpu, cuda, tensorrt"
    ]
    assert not out.exists()


def test_the_trtexec_style_options_reach_the_request_and_the_jobs(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pipeline.cli_optimize as cli
    from pipeline.request import RunRequest

    seen: list[RunRequest] = []
    monkeypatch.setattr(cli, "_run", seen.append)
    args = ["optimize", "m.onnx", "--out", str(tmp_path), "--iterations", "500", "--threads", "2"]
    result = CliRunner().invoke(app, [*args, "--concurrency", "1,2,4", "--profile-layers"])

    assert result.exit_code == 0, result.output
    (request,) = seen
    assert (request.iterations, request.threads, request.concurrency, request.profile_layers) == (
        500,
        2,
        (1, 2, 4),
        True,
    )
    assert CliRunner().invoke(app, ["optimize", "m.onnx", "--concurrency", "0"]).exit_code == 2


def test_jobs_carry_the_new_knobs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path
    from types import SimpleNamespace

    from agent.signing import create_private_key, verify_job
    from pipeline.jobs import make_jobs
    from pipeline.request import RunRequest

    request = RunRequest(model=Path("m.onnx"), out=Path("o"), iterations=300, threads=3, profile_layers=True,
                         concurrency=(1, 2), sla_p99_ms=5.0)  # fmt: skip
    manifest = SimpleNamespace(sha256="a" * 64, size_bytes=10, media_type="application/vnd.edgeprof.manifest+json")
    built = SimpleNamespace(
        build=SimpleNamespace(manifest_object=manifest),
        spec=SimpleNamespace(id="ort-fp32", runtime="onnxruntime", precision="fp32", runtime_options={}, power_mode=""),
    )
    server = SimpleNamespace(url_for=lambda sha: f"http://127.0.0.1:1/artifacts/{sha}")
    key = create_private_key(tmp_path / "host.key")

    (job,) = make_jobs(request, "run-1", [(built, "dev-1")], None, server, key)  # type: ignore[arg-type]

    assert (job.iterations, job.threads, job.profile_layers, job.concurrency) == (300, 3, True, [1, 2])
    assert job.sla_p99_ms == 5.0
    import dataclasses
    import time

    import pytest

    from agent.errors import ProtocolError

    verify_job(job, key.public, time.time(), lambda _id: False)  # the new fields are signed with the rest
    with pytest.raises(ProtocolError, match="bad signature"):
        verify_job(dataclasses.replace(job, iterations=1), key.public, time.time(), lambda _id: False)
