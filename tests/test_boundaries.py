"""Architecture rules that are easy to break without noticing."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
AGENT_SIDE = ["agent", "targets", "calibration_data"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", AGENT_SIDE)
def test_device_side_never_imports_the_host_side(package: str) -> None:
    offenders = [str(p.relative_to(REPO)) for p in (REPO / package).rglob("*.py") if "pipeline" in _imports(p)]
    assert offenders == [], f"{offenders} import pipeline; the agent must install without the host side"


def test_host_side_uses_only_the_agents_public_modules() -> None:
    # the wire protocol, the errors, signing, and the shared helpers and plug-in declarations
    allowed = {
        "agent.protocol",
        "agent.errors",
        "agent.signing",
        "agent.power",
        "agent.device_match",
        "agent.registry",
        "agent.durable_sqlite",
        "agent.mqtt_client",
        "agent.runtimes",
        "agent.quality",  # one scoring of outputs on both sides
        "agent.readable_cli",  # both commands' help and usage-error conventions
    }
    offenders = []
    for path in (REPO / "pipeline").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("agent"):
                # the protocol's modules, and the runtimes (the host checks a build with the runtime that
                # will run it, and reads what each runtime declares)
                inside = node.module.startswith(("agent.protocol.", "agent.runtimes."))
                if node.module not in allowed and not inside:
                    offenders.append(f"{path.relative_to(REPO)}: {node.module}")
    assert offenders == []


def test_device_side_is_python_38_compatible() -> None:
    vermin = shutil.which("vermin") or str(Path(sys.executable).parent / "vermin")
    if not Path(vermin).exists():
        pytest.skip("vermin is not installed (pip install 'edgeprof[dev]')")
    proc = subprocess.run(
        [vermin, "-t=3.8-", "--no-tips", "--violations", *AGENT_SIDE],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
