"""`edgeprof targets ls` and `show ID` through typer's CliRunner."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import yaml
from typer.testing import CliRunner

from pipeline.cli_targets import app
from targets import SHIPPED_DIR

WIDE = {"COLUMNS": "250", "EDGEPROF_TARGETS_DIR": ""}


@pytest.fixture
def runner():
    return CliRunner()


def _user_profile(folder, base="jetson-nano-4gb", **changes):
    data = yaml.safe_load((SHIPPED_DIR / f"{base}.yaml").read_text(encoding="utf-8"))
    data.update(changes)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{data['id']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_ls_lists_every_profile(runner):
    result = runner.invoke(app, ["ls"], env=WIDE)
    assert result.exit_code == 0, result.output
    for pid in ("jetson-orin-nano-8gb", "intel-ncs2", "raspberry-pi-5", "nvidia-h100", "generic-x86_64"):
        assert pid in result.output
    assert "VDD_IN" in result.output and "sum of 4" in result.output
    assert "Origin" not in result.output


def test_ls_json(runner):
    result = runner.invoke(app, ["ls", "--json"], env=WIDE)
    assert result.exit_code == 0
    ids = {p["id"] for p in json.loads(result.stdout)}
    assert "jetson-agx-orin-64gb" in ids and len(ids) == 15


def test_show_gives_modes_rails_and_sources(runner):
    result = runner.invoke(app, ["show", "jetson-orin-nano-8gb"], env=WIDE)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "MAXN_SUPER" in out and "requires JetPack 6.2" in out
    assert "67 TOPS (sparse)" in out
    assert "VDD_IN, VDD_CPU_GPU_CV, VDD_SOC" in out
    assert "https://lore.kernel.org/linux-tegra/20230929102744.84989-5-jonathanh@nvidia.com/" in out
    assert "estimate:" in out  # idle power is an estimate and says so


def test_show_json_is_the_profile(runner):
    result = runner.invoke(app, ["show", "nvidia-l4", "--json"], env=WIDE)
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["id"] == "nvidia-l4"
    assert data["price"]["rental_hourly"]["unit"] == "USD/h"
    assert data["power_modes"][0]["peak_compute"]["int8"]["sparse"] is True


def test_show_unknown_id_fails_listing_known_ids(runner):
    result = runner.invoke(app, ["show", "jetson-tx2"], env=WIDE)
    assert result.exit_code == 2
    assert "unknown target 'jetson-tx2'" in result.stderr
    assert "jetson-nano-4gb" in result.stderr and "nvidia-h100" in result.stderr
    assert "Traceback" not in result.output


def test_targets_dir_overrides_a_shipped_profile_with_a_note(runner, tmp_path):
    path = _user_profile(tmp_path / "mine", name="Nano on our carrier")
    result = runner.invoke(app, ["show", "jetson-nano-4gb", "--targets-dir", str(path.parent)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "Nano on our carrier" in result.stdout
    assert "user profile 'jetson-nano-4gb' overrides the shipped one" in result.stderr
    listing = runner.invoke(app, ["ls", "--targets-dir", str(path.parent)], env=WIDE)
    assert "Origin" in listing.stdout and "user" in listing.stdout


def test_environment_variable_names_the_folder(runner, tmp_path):
    path = _user_profile(tmp_path / "env", id="jetson-nano-4gb-ours")
    result = runner.invoke(
        app, ["show", "jetson-nano-4gb-ours"], env={**WIDE, "EDGEPROF_TARGETS_DIR": str(path.parent)}
    )
    assert result.exit_code == 0, result.output


def test_malformed_user_profile_exits_1_naming_file_and_field(runner, tmp_path):
    path = _user_profile(tmp_path / "bad", kind="toaster")
    result = runner.invoke(app, ["ls", "--targets-dir", str(path.parent)], env=WIDE)
    assert result.exit_code == 1
    assert str(path) in result.stderr
    assert "field 'kind': expected one of jetson" in result.stderr
    assert "Traceback" not in result.output


def _shipped_ids() -> list[str]:
    ids = [yaml.safe_load(path.read_text(encoding="utf-8"))["id"] for path in sorted(SHIPPED_DIR.glob("*.yaml"))]
    assert len(ids) == 15
    return ids


def _whole(pid: str, text: str) -> bool:
    """``pid`` appears in ``text`` as a whole word, not cut (``jetson-orin-na…``) nor split across lines."""
    return re.search(rf"(^|\s){re.escape(pid)}(\s|$)", text, re.MULTILINE) is not None


def test_ls_through_a_pipe_keeps_every_id_whole() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "EDGEPROF_TARGETS_DIR")}
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "targets", "ls"], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    for pid in _shipped_ids():  # `edgeprof targets ls | grep ID` finds the whole id on its row
        rows = [line for line in proc.stdout.splitlines() if pid in line]
        assert rows and _whole(pid, rows[0]), f"{pid!r} is cut:\n{proc.stdout}"
    assert "…" not in proc.stdout and "\x1b[" not in proc.stdout
    legend = [line for line in proc.stdout.splitlines() if "~ estimate (no source)" in line]
    assert legend and "`edgeprof targets show ID` gives each figure's source" in legend[0]


@pytest.mark.parametrize("with_user_profile", [False, True])
def test_ls_fits_120_columns_cutting_nothing(runner, tmp_path, with_user_profile) -> None:  # type: ignore[no-untyped-def]
    args = ["ls"]
    if with_user_profile:  # adds the Origin column
        args += ["--targets-dir", str(_user_profile(tmp_path / "mine", id="jetson-nano-4gb-on-our-carrier").parent)]
    result = runner.invoke(app, args, env={**WIDE, "COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 120
    header = next(line for line in lines if line.lstrip().startswith("ID "))
    assert header.rstrip().endswith("Origin" if with_user_profile else "Est.")  # no column dropped
    ids = _shipped_ids() + (["jetson-nano-4gb-on-our-carrier"] if with_user_profile else [])
    assert [pid for pid in ids if not _whole(pid, result.stdout)] == []
    assert "…" not in result.stdout


@pytest.mark.parametrize("columns", [100, 80, 40])
def test_ls_in_a_narrow_console_never_cuts_an_id(runner, columns) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["ls"], env={**WIDE, "COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    assert [pid for pid in _shipped_ids() if not _whole(pid, result.stdout)] == []
    assert "…" not in result.stdout


def test_errors_and_notes_carry_the_prefix(runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    unknown = runner.invoke(app, ["show", "nope"], env=WIDE)
    assert unknown.stderr.startswith("edgeprof: error: unknown target 'nope'")
    path = _user_profile(tmp_path / "mine")
    noted = runner.invoke(app, ["ls", "--targets-dir", str(path.parent)], env=WIDE)
    assert noted.stderr.startswith(f"edgeprof: note: {path}: user profile 'jetson-nano-4gb' overrides")
    bad = runner.invoke(app, ["ls", "--targets-dir", str(tmp_path / "missing")], env=WIDE)
    assert bad.exit_code == 1 and bad.stderr.startswith(f"edgeprof: error: {tmp_path / 'missing'}: ")
