"""Fake ``nvpmodel``, ``jetson_clocks`` and ``sudo`` executables for a board this machine is not.

:func:`install` writes them into a ``bin`` folder (to put first on ``PATH``) with their state in a
JSON file. They print what the real tools print (see ``agent/power_modes.py``), switch the fake
sysfs tree's clock limits the way a mode switch does, ask on stdin before a mode that needs a
reboot, and refuse to switch for a non-root caller unless they run under the fake ``sudo``.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

#: an Orin-Nano-like board: id -> (name, GPU max MHz, CPU max MHz, online CPUs)
ORIN_NANO_MODES = {0: ("15W", 625, 1510, "0-5"), 1: ("7W", 420, 960, "0-3"), 2: ("MAXN_SUPER", 1020, 1728, "0-5")}


def install(
    root: Path,
    sysfs: Path,
    modes: dict[int, tuple[str, int, int, str]] | None = None,
    current: int = 0,
    reboot_modes: tuple[int, ...] = (),
    need_root: bool = False,
) -> dict[str, Any]:
    """Write the tools under ``root/bin``; return the paths and the state file."""
    modes = modes or ORIN_NANO_MODES
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    state = root / "state.json"
    state.write_text(
        json.dumps(
            {
                "modes": {str(k): v for k, v in modes.items()},
                "current": current,
                "pending": None,
                "reboot_modes": list(reboot_modes),
                "need_root": need_root,
                "sysfs": str(sysfs),
                "fixed": False,
                "calls": [],
            }
        )
    )
    conf = root / "nvpmodel.conf"
    conf.write_text(
        "< PARAM TYPE=FILE NAME=CPU_ONLINE >\n"
        + "".join(f"< POWER_MODEL ID={i} NAME={m[0]} >\nCPU_ONLINE CORE_0 1\n" for i, m in modes.items())
        + f"< PM_CONFIG DEFAULT={current} >\n"
    )
    for tool in ("nvpmodel", "jetson_clocks", "sudo"):
        path = bin_dir / tool
        path.write_text(
            f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(REPO)!r})\n"
            f"from tests.agent.fake_jetson_tools import run\nsys.exit(run({tool!r}, {str(state)!r}, sys.argv[1:]))\n"
        )
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    _apply(json.loads(state.read_text()))
    return {"bin": bin_dir, "state": state, "conf": conf}


def read_state(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def _apply(state: dict[str, Any]) -> None:
    """Write the current mode's limits into the fake sysfs tree (as the real switch does)."""
    _name, gpu_mhz, cpu_mhz, online = state["modes"][str(state["current"])]
    sysfs = Path(state["sysfs"])
    gpu = sysfs / "class/devfreq/17000000.gpu"
    gpu.mkdir(parents=True, exist_ok=True)
    (gpu / "max_freq").write_text(f"{gpu_mhz * 1_000_000}\n")
    (gpu / "cur_freq").write_text(f"{(gpu_mhz if state['fixed'] else 306) * 1_000_000}\n")
    cpu = sysfs / "devices/system/cpu"
    (cpu / "cpu0/cpufreq").mkdir(parents=True, exist_ok=True)
    (cpu / "cpu0/cpufreq/scaling_max_freq").write_text(f"{cpu_mhz * 1000}\n")
    (cpu / "online").write_text(online + "\n")


def run(tool: str, state_path: str, args: list[str]) -> int:
    state = json.loads(Path(state_path).read_text())
    via_sudo = os.environ.get("FAKE_SUDO") == "1"
    state["calls"].append(" ".join(([] if not via_sudo else ["sudo"]) + [tool, *args]))
    try:
        return _run(tool, state, args, via_sudo)
    finally:
        Path(state_path).write_text(json.dumps(state))


def _run(tool: str, state: dict[str, Any], args: list[str], via_sudo: bool) -> int:
    root_ok = via_sudo or not state["need_root"]
    if tool == "sudo":  # sudo -n TOOL ARGS...
        os.environ["FAKE_SUDO"] = "1"
        rest = [a for a in args if a != "-n"]
        return _run(Path(rest[0]).name, state, rest[1:], True)
    if tool == "jetson_clocks":
        if not root_ok:
            print("Error: jetson_clocks must be run as root")
            return 1
        if args[:1] == ["--store"]:
            Path(args[1]).write_text(json.dumps({"fixed": state["fixed"]}))
        elif args[:1] == ["--restore"]:
            state["fixed"] = json.loads(Path(args[1]).read_text())["fixed"]
        else:
            state["fixed"] = True
        _apply(state)
        return 0
    name = state["modes"][str(state["current"])][0]
    if args == ["-q"]:
        print(f"NV Power Mode: {name}\n{state['current']}")
        return 0
    if args[:1] == ["-p"]:
        for i, mode in sorted(state["modes"].items()):
            print(f"NVPM VERB: POWER_MODEL: ID={i} NAME={mode[0]}")
        return 0
    if args[:1] == ["-m"]:
        if not root_ok:
            print("NVPM ERROR: Permission denied: nvpmodel must be run as root")
            return 1
        wanted = args[1]
        if wanted not in state["modes"]:
            print(f"NVPM ERROR: Invalid power mode ID {wanted}")
            return 1
        if int(wanted) in state["reboot_modes"] and int(wanted) != state["current"]:
            print(f"NVPM WARN: Reboot required for changing to this power mode: {wanted}")
            print("NVPM WARN: DO YOU WANT TO REBOOT NOW? enter YES/yes to confirm:")
            answer = sys.stdin.readline().strip()
            if answer.lower() != "yes":
                state["pending"] = int(wanted)  # takes effect at the next boot
                return 0
        state["current"], state["pending"], state["fixed"] = int(wanted), None, False
        _apply(state)
        return 0
    print(f"NVPM ERROR: unknown arguments {args}")
    return 1
