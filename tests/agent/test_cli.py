"""`edgeprof-agent --version`, `doctor --targets-dir` and `run --targets-dir`, on fake /proc and /sys trees."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from agent import __version__
from agent.cli import app
from agent.cli_doctor import detect_target
from agent.protocol import PROTOCOL_VERSION
from targets import SHIPPED_DIR

ARM_CPUINFO = "".join(
    f"processor\t: {n}\nFeatures\t: fp asimd evtstrm aes crc32 atomics asimddp\nCPU implementer\t: 0x41\n"
    f"CPU architecture: 8\nCPU part\t: 0xd0b\n\n"
    for n in range(8)
)
NO_ENV = {"EDGEPROF_TARGETS_DIR": ""}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def rock5b(tmp_path: Path) -> tuple[Path, Path]:
    """/proc and /sys of an RK3588 board that no shipped profile describes."""
    proc, sys_root = tmp_path / "proc", tmp_path / "sys"
    (proc / "device-tree").mkdir(parents=True)
    sys_root.mkdir()
    (proc / "cpuinfo").write_text(ARM_CPUINFO, encoding="utf-8")
    (proc / "meminfo").write_text("MemTotal:       16303428 kB\n", encoding="utf-8")
    (proc / "device-tree" / "model").write_bytes(b"Radxa ROCK 5B\x00")
    (proc / "device-tree" / "compatible").write_bytes(b"radxa,rock-5b\x00rockchip,rk3588\x00")
    return proc, sys_root


def write_rock5b_profile(folder: Path) -> Path:
    """A user profile for that board: the Pi 5's, renamed and with the board's match rules."""
    data = yaml.safe_load((SHIPPED_DIR / "raspberry-pi-5.yaml").read_text(encoding="utf-8"))
    data.update(id="radxa-rock-5b", name="Radxa ROCK 5B (ours)")
    data["match"] = {"dt_model": ["rock 5b"], "dt_compatible": ["radxa,rock-5b"]}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "radxa-rock-5b.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def doctor(runner: CliRunner, roots: tuple[Path, Path], *extra: str, env: dict[str, str] = NO_ENV):  # type: ignore[no-untyped-def]
    proc, sys_root = roots
    return runner.invoke(app, ["doctor", "--proc-root", str(proc), "--sysfs-root", str(sys_root), *extra], env=env)


def test_version_option_prints_the_agent_and_protocol_versions(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"edgeprof-agent {__version__} (protocol {PROTOCOL_VERSION})"
    assert runner.invoke(app, ["version"]).stdout.splitlines()[0] == result.stdout.strip()


def test_doctor_without_your_profile_says_how_to_add_one_with_an_option_it_accepts(runner, rock5b) -> None:  # type: ignore[no-untyped-def]
    result = doctor(runner, rock5b)
    assert result.exit_code == 0, result.output
    assert "target profile: unknown" in result.stdout
    hint = next(line for line in result.stdout.splitlines() if "profile of your own" in line)
    assert "--targets-dir" in hint
    assert "--targets-dir" in runner.invoke(app, ["doctor", "--help"], env={"COLUMNS": "200"}).stdout


def test_doctor_matches_a_profile_from_targets_dir(runner, rock5b, tmp_path) -> None:  # type: ignore[no-untyped-def]
    mine = write_rock5b_profile(tmp_path / "mine").parent
    result = doctor(runner, rock5b, "--targets-dir", str(mine))
    assert result.exit_code == 0, result.output
    assert "target profile: radxa-rock-5b (confidence high)" in result.stdout
    assert "device-tree compatible 'radxa,rock-5b' contains 'radxa,rock-5b'" in result.stdout
    assert "profiles: 15 shipped, 1 of yours: radxa-rock-5b" in result.stdout


def test_doctor_reads_the_environment_variable_too(runner, rock5b, tmp_path) -> None:  # type: ignore[no-untyped-def]
    mine = write_rock5b_profile(tmp_path / "env").parent
    result = doctor(runner, rock5b, env={"EDGEPROF_TARGETS_DIR": str(mine)})
    assert result.exit_code == 0, result.output
    assert "target profile: radxa-rock-5b" in result.stdout


def test_doctor_with_a_bad_folder_fails_in_one_line(runner, rock5b, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = doctor(runner, rock5b, "--targets-dir", str(tmp_path / "missing"))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgeprof-agent: error: "), result.stderr
    assert str(tmp_path / "missing") in lines[0] and "no such folder" in lines[0]


def test_target_detection_uses_targets_dir(rock5b, tmp_path) -> None:  # type: ignore[no-untyped-def]
    proc, sys_root = rock5b
    assert detect_target(None, sys_root, proc) == ""
    mine = write_rock5b_profile(tmp_path / "mine").parent
    assert detect_target([mine], sys_root, proc) == "radxa-rock-5b"


def test_run_refuses_a_targets_dir_it_cannot_read(runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "missing"
    result = runner.invoke(
        app,
        ["run", "--insecure-accept-unsigned", "--state-dir", str(tmp_path / "state"), "--targets-dir", str(missing)],
        env=NO_ENV,
    )
    assert result.exit_code == 2
    assert result.stderr.startswith(f"edgeprof-agent: error: {missing}: "), result.stderr
    assert not (tmp_path / "state").exists()


def test_run_lists_the_power_sources_of_the_registry(runner) -> None:  # type: ignore[no-untyped-def]
    from agent.power import SENSORS

    text = " ".join(runner.invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).stdout.split())
    assert ", ".join(SENSORS) in text


def test_keygen_creates_a_key_pair_once_and_prints_the_enrol_line(runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    state = tmp_path / "state"
    first = runner.invoke(app, ["keygen", "--state-dir", str(state), "--device-id", "jetson-01"])
    assert first.exit_code == 0, first.output
    assert (state / "device.key").exists() and (state / "device.key.pub").exists()
    assert f"edgeprof fleet enrol jetson-01 {state / 'device.key.pub'}" in first.stdout
    before = (state / "device.key").read_bytes()
    again = runner.invoke(app, ["keygen", "--state-dir", str(state)])
    assert again.exit_code == 1 and "already exists" in again.stderr
    assert (state / "device.key").read_bytes() == before, "keygen replaced an existing key"


def test_enrol_trusts_one_host_key_and_keeps_it(runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from agent.signing import create_private_key, load_public_key

    host = create_private_key(tmp_path / "host.key")
    other = create_private_key(tmp_path / "other.key")
    state = tmp_path / "state"
    enrol = ["enrol", "--host-key", str(tmp_path / "host.key.pub"), "--state-dir", str(state), "--create-key"]
    ok = runner.invoke(app, enrol)
    assert ok.exit_code == 0, ok.output
    assert load_public_key(state / "host.pub") == host.public and host.public.fingerprint in ok.stdout
    assert "edgeprof fleet enrol" in ok.stdout
    swap = runner.invoke(app, ["enrol", "--host-key", str(tmp_path / "other.key.pub"), "--state-dir", str(state)])
    assert swap.exit_code == 1 and "already holds another public key" in swap.stderr
    assert load_public_key(state / "host.pub") == host.public != other.public


def test_run_refuses_missing_or_old_keys_with_the_fix(runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    state = tmp_path / "state"
    args = ["run", "--state-dir", str(state), "--target", "x", "--broker", "mqtt://127.0.0.1:9"]
    no_host = runner.invoke(app, args, env=NO_ENV)
    assert no_host.exit_code == 2 and "no host key" in no_host.stderr and "edgeprof-agent enrol" in no_host.stderr
    from agent.signing import create_private_key

    create_private_key(tmp_path / "host.key")
    with_host = [*args, "--host-key", str(tmp_path / "host.key.pub")]
    no_device = runner.invoke(app, with_host, env=NO_ENV)
    assert no_device.exit_code == 2 and "does not exist" in no_device.stderr and "--create-key" in no_device.stderr
    assert not (state / "device.key").exists(), "a missing device key was created without --create-key"
    old = tmp_path / "job.key"
    old.write_text("ab" * 32)
    legacy = runner.invoke(app, [*with_host, "--job-key-file", str(old)], env=NO_ENV)
    assert legacy.exit_code == 2 and "shared HMAC key" in legacy.stderr
