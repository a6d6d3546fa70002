"""Jetson power modes as a search axis: switch for one job, let the clocks settle, restore after.

A job may ask for an ``nvpmodel`` mode (``BenchmarkJob.power_mode``: a name from the target
profile or from ``/etc/nvpmodel.conf``, or a numeric id) and for fixed clocks (``fixed_clocks``:
``jetson_clocks`` pins them at the mode's maximum). :func:`job_power_mode` switches, waits until the
clock limits stop moving, hands the job a record of the mode it runs in, and on the way out
restores the clocks and the previous mode, whatever happened in between.

What the tools print, as the agent reads it (jetson-stats reads them the same way)::

    nvpmodel -q               NV Power Mode: MAXN          (the name, then the id on the next line)
                              0
    nvpmodel -p --verbose     POWER_MODEL: ID=1 NAME=15W   (one line per mode)
    /etc/nvpmodel.conf        < POWER_MODEL ID=1 NAME=15W >
    nvpmodel -m 1             switches; a mode that needs a reboot asks on stdin, which is answered NO
                              (the job then fails: the agent never reboots a device)
    jetson_clocks --store F, jetson_clocks, jetson_clocks --restore F

Switching needs root. A non-root agent uses ``sudo -n``, which a sudoers rule must allow.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

from agent.errors import AgentError

NVPMODEL_CONF = Path("/etc/nvpmodel.conf")
_QUERY_RE = re.compile(r"NV Power Mode:\s*(?P<name>\S+)")
_MODE_RE = re.compile(r"POWER_MODEL:?\s+ID=(?P<id>\d+)\s+NAME=(?P<name>[^\s>]+)")
SUDOERS_HINT = (
    "run the agent as root, or allow it in /etc/sudoers.d/edgeprof: "
    "'USER ALL=(root) NOPASSWD: /usr/sbin/nvpmodel, /usr/bin/jetson_clocks'"
)
#: clock limits are polled this often after a switch, and must read the same this many times in a row
SETTLE_INTERVAL_S = 0.25
SETTLE_STABLE_READS = 3
SETTLE_TIMEOUT_S = 10.0
COMMAND_TIMEOUT_S = 30.0


class PowerModeError(AgentError):
    """A power mode could not be set, read or restored; the message says why and what to do."""


class ModeState:
    def __init__(self, mode_id: int, name: str) -> None:
        self.id = mode_id
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ModeState) and (self.id, self.name) == (other.id, other.name)

    def __repr__(self) -> str:
        return "ModeState(%d, %r)" % (self.id, self.name)


class _Tool:
    """A root-only command, run directly as root and through ``sudo -n`` otherwise."""

    def __init__(self, binary: str, sudo: Optional[bool], run: Callable[..., Any]) -> None:
        self.binary = binary
        self.sudo = (os.geteuid() != 0 and shutil.which("sudo") is not None) if sudo is None else sudo
        self._run = run

    def __call__(self, args: List[str], as_root: bool = False, answer: str = "") -> str:
        command = ([self._sudo_path(), "-n"] if as_root and self.sudo else []) + [self.binary] + args
        try:
            done = self._run(
                command,
                input=answer.encode(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=COMMAND_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise PowerModeError("%s failed to run: %s" % (" ".join(command), exc)) from exc
        text = done.stdout.decode("utf-8", "replace")
        if done.returncode != 0 or "NVPM ERROR" in text:
            denied = "permission" in text.lower() or "password" in text.lower() or "root" in text.lower()
            raise PowerModeError(
                "%s failed (exit %s): %s%s"
                % (" ".join(command), done.returncode, _last_line(text), "; " + SUDOERS_HINT if denied else "")
            )
        return text

    @staticmethod
    def _sudo_path() -> str:
        return shutil.which("sudo") or "sudo"


class NVPModel:
    """The board's ``nvpmodel``: its modes, the current one, and switching."""

    def __init__(
        self,
        binary: str,
        conf: Path = NVPMODEL_CONF,
        sudo: Optional[bool] = None,
        run: Callable[..., Any] = subprocess.run,
    ) -> None:
        self.tool = _Tool(binary, sudo, run)
        self.conf = Path(conf)

    @classmethod
    def detect(cls, conf: Path = NVPMODEL_CONF) -> Optional[NVPModel]:
        binary = shutil.which("nvpmodel")
        return cls(binary, conf) if binary else None

    def query(self) -> ModeState:
        text = self.tool(["-q"])
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        for i, line in enumerate(lines):
            match = _QUERY_RE.search(line)
            if match and i + 1 < len(lines) and lines[i + 1].isdigit():
                return ModeState(int(lines[i + 1]), match.group("name"))
        raise PowerModeError("cannot read the power mode from `nvpmodel -q`: %r" % _last_line(text))

    def modes(self) -> Dict[int, str]:
        """id -> name, from ``/etc/nvpmodel.conf``, else from ``nvpmodel -p --verbose``."""
        try:
            text = self.conf.read_text()
        except OSError:
            text = self.tool(["-p", "--verbose"])
        found = {int(m.group("id")): m.group("name") for m in _MODE_RE.finditer(text)}
        if not found:
            raise PowerModeError("no POWER_MODEL lines in %s or `nvpmodel -p --verbose`" % self.conf)
        return found

    def resolve(self, wanted: str) -> ModeState:
        """The mode a job means: an id, a name as nvpmodel spells it, or the profile's short name
        (``15W`` for ``MODE_15W``; a unique ``15W_...`` variant)."""
        modes = self.modes()
        if wanted.isdigit() and int(wanted) in modes:
            return ModeState(int(wanted), modes[int(wanted)])
        key = wanted.upper()
        for predicate in (
            lambda n: n.upper() == key,
            lambda n: n.upper() == "MODE_" + key,
            lambda n: n.upper().startswith((key + "_", "MODE_" + key + "_")),
        ):
            hits = [ModeState(i, n) for i, n in sorted(modes.items()) if predicate(n)]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise PowerModeError(
                    "power mode %r is ambiguous here: %s; ask for one of those names or its id"
                    % (wanted, ", ".join("%s (%d)" % (h.name, h.id) for h in hits))
                )
        raise PowerModeError(
            "this board has no power mode %r; its modes are %s"
            % (wanted, ", ".join("%s (%d)" % (n, i) for i, n in sorted(modes.items())))
        )

    def set(self, mode: ModeState) -> None:
        """Switch to ``mode``; a switch that needs a reboot is declined and undone."""
        before = self.query()
        text = self.tool(["-m", str(mode.id)], as_root=True, answer="NO\n")
        if "reboot" in text.lower() and self.query() != mode:
            if before != mode:
                with contextlib.suppress(PowerModeError):
                    self.tool(["-m", str(before.id)], as_root=True, answer="NO\n")
            raise PowerModeError(
                "power mode %s (%d) needs a reboot on this board, which the agent never does: switch by hand "
                "(sudo nvpmodel -m %d, then reboot) and measure without --power-modes" % (mode.name, mode.id, mode.id)
            )
        now = self.query()
        if now != mode:
            raise PowerModeError("nvpmodel -m %d left the board in %s (%d)" % (mode.id, now.name, now.id))


class JetsonClocks:
    """``jetson_clocks``: pin the clocks at the current mode's maximum, and put them back."""

    def __init__(self, binary: str, sudo: Optional[bool] = None, run: Callable[..., Any] = subprocess.run) -> None:
        self.tool = _Tool(binary, sudo, run)

    @classmethod
    def detect(cls) -> Optional[JetsonClocks]:
        binary = shutil.which("jetson_clocks")
        return cls(binary) if binary else None

    def store(self, path: Path) -> None:
        self.tool(["--store", str(path)], as_root=True)

    def fix(self) -> None:
        self.tool([], as_root=True)

    def restore(self, path: Path) -> None:
        self.tool(["--restore", str(path)], as_root=True)


def clock_limits(sysfs_root: Path = Path("/sys")) -> Dict[str, float]:
    """What a mode switch changes: online CPUs, CPU frequency caps and devfreq (GPU, EMC) limits, in MHz."""
    out: Dict[str, float] = {}
    cpu = sysfs_root / "devices" / "system" / "cpu"
    caps = []
    for path in sorted(cpu.glob("cpu[0-9]*/cpufreq/scaling_max_freq")):
        with contextlib.suppress(OSError, ValueError):
            caps.append(float(path.read_text().strip()) / 1000.0)
    if caps:
        out["cpu_max_mhz"] = max(caps)
        out["cpus_with_cpufreq"] = float(len(caps))
    online = cpu / "online"
    with contextlib.suppress(OSError, ValueError):
        out["cpus_online"] = float(_count_cpu_list(online.read_text()))
    for dev in sorted((sysfs_root / "class" / "devfreq").glob("*")):
        for field in ("max_freq", "cur_freq"):
            with contextlib.suppress(OSError, ValueError):
                out["%s:%s_mhz" % (dev.name, field[:3])] = float((dev / field).read_text().strip()) / 1e6
    return out


def settle(
    sysfs_root: Path = Path("/sys"),
    timeout_s: float = SETTLE_TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Dict[str, Any]:
    """Wait until the clock limits read the same :data:`SETTLE_STABLE_READS` times in a row."""
    start = clock()
    last, same = None, 0
    while True:
        now = clock_limits(sysfs_root)
        same = same + 1 if now == last else 1
        last = now
        if same >= SETTLE_STABLE_READS or clock() - start >= timeout_s:
            return {"settle_s": round(clock() - start, 3), "settled": same >= SETTLE_STABLE_READS, "clocks": now}
        sleep(SETTLE_INTERVAL_S)


@contextlib.contextmanager
def job_power_mode(
    wanted: str,
    fixed_clocks: bool,
    work_dir: Path,
    nvpmodel: Optional[NVPModel] = None,
    clocks: Optional[JetsonClocks] = None,
    sysfs_root: Path = Path("/sys"),
    **settle_options: Any,
) -> Iterator[Dict[str, Any]]:
    """Run the body in power mode ``wanted`` ("" = as it is) with clocks fixed or not, then restore.

    Yields the record of the mode (``name``, ``id``, ``requested``, ``previous``, ``fixed_clocks``,
    ``settle_s``, ``clocks``); ``restored`` and any ``restore_error`` are added on the way out.
    With nothing asked, a Jetson's record still names the mode it runs in; elsewhere it is empty."""
    nvpmodel = nvpmodel or NVPModel.detect()
    if nvpmodel is None:
        if wanted or fixed_clocks:
            raise PowerModeError(
                "the job asks for %s but this device has no nvpmodel (not a Jetson?): measure it without "
                "--power-modes" % ("power mode %r" % wanted if wanted else "fixed clocks")
            )
        yield {}
        return
    if not wanted and not fixed_clocks:
        try:
            current = nvpmodel.query()
        except PowerModeError as exc:  # nothing was asked: say why the mode is unknown, run anyway
            yield {"error": str(exc)}
            return
        yield {"name": current.name, "id": current.id, "switched": False, "fixed_clocks": False}
        return
    previous = nvpmodel.query()
    record: Dict[str, Any] = {"requested": wanted, "previous": previous.name, "fixed_clocks": fixed_clocks}
    target = nvpmodel.resolve(wanted) if wanted else previous
    switched = target != previous
    stored = Path(work_dir) / "jetson_clocks.conf"
    if fixed_clocks and clocks is None:
        clocks = JetsonClocks.detect()
        if clocks is None:
            raise PowerModeError("the job asks for fixed clocks but this device has no jetson_clocks")
    try:
        if fixed_clocks:
            assert clocks is not None
            clocks.store(stored)  # in the mode the device was in, so that the restore returns to it
        if switched:
            nvpmodel.set(target)
        if fixed_clocks:
            assert clocks is not None
            clocks.fix()
        record.update(settle(sysfs_root, **settle_options) if switched or fixed_clocks else {})
        record.update(name=target.name, id=target.id, switched=switched)
        yield record
    finally:
        record["restored"], errors = True, []
        if switched:
            try:
                nvpmodel.set(previous)
            except PowerModeError as exc:
                errors.append(str(exc))
        if fixed_clocks and clocks is not None and stored.exists():
            try:
                clocks.restore(stored)
            except PowerModeError as exc:
                errors.append(str(exc))
        if errors:
            record["restored"], record["restore_error"] = False, "; ".join(errors)


def _count_cpu_list(text: str) -> int:
    """``0-3,5`` -> 5."""
    count = 0
    for part in text.strip().split(","):
        if "-" in part:
            low, high = part.split("-", 1)
            count += int(high) - int(low) + 1
        elif part:
            count += 1
    return count


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
