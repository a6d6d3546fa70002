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
