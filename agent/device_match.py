"""Which shipped target profile this device is, and why (for ``edgeprof-agent doctor``).

Evidence, cheapest first: the device-tree model and compatible strings (Jetson, Raspberry Pi), USB
ids (Movidius NCS2 is 03e7:2485, 03e7:f63b once booted), PCI ids (Intel NPU), NVIDIA GPU names from
``/proc/driver/nvidia`` (or ``nvidia-smi``, then NVML, when that is absent: containers often lack
it), the CPU model and flags from
``/proc/cpuinfo`` and MemTotal from ``/proc/meminfo``. Each profile's ``match`` rules say which of
these identify it; the profile with the strongest evidence wins, and a memory size outside the
profile's SKU lowers the confidence instead of hiding the match. With no evidence, an x86-64 machine
falls back to ``generic-x86_64``; other architectures are reported as unknown.

The roots are parameters so that tests run against fake trees in tmp_path. Python 3.8, stdlib only
(plus the ``targets`` package, which needs PyYAML).
"""

from __future__ import annotations

import dataclasses
import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, List, Mapping, Optional, Sequence, Tuple

from targets.host_probe import cpu_flags, cpu_model_name, looks_arm, looks_x86, memtotal_gib, parse_cpuinfo, read_text

if TYPE_CHECKING:
    from targets.schema import TargetProfile

HIGH = "high"
MEDIUM = "medium"
LOW = "low"
NONE = "none"

FALLBACK_X86 = "generic-x86_64"
_ISA_SHOWN = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8", "amx_bf16", "asimddp", "sve")


@dataclasses.dataclass(frozen=True)
class Evidence:
    """What the machine says about itself, read once."""

    arch: str
    dt_model: str = ""
    dt_compatible: Tuple[str, ...] = ()
    cpu_model: str = ""
    cpu_flags: Tuple[str, ...] = ()
    memory_gib: Optional[float] = None
    usb_ids: Tuple[str, ...] = ()
    pci_ids: Tuple[str, ...] = ()
    gpu_names: Tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Match:
    """The profile this device matches (None when unknown), why, and how sure the match is."""

    profile_id: Optional[str]
    reasons: List[str]
    confidence: str  # high | medium | low | none
    doubts: List[str] = dataclasses.field(default_factory=list)
    alternatives: Tuple[str, ...] = ()
    evidence: Optional[Evidence] = None

    def describe(self) -> List[str]:
        """Lines for a person: the verdict, the reasons, the doubts."""
        if self.profile_id is None:
            lines = ["target profile: unknown (no shipped profile matches this device)"]
        else:
            lines = ["target profile: %s (confidence %s)" % (self.profile_id, self.confidence)]
        lines += ["  - " + reason for reason in self.reasons]
        lines += ["  ! " + doubt for doubt in self.doubts]
        if self.alternatives:
            lines.append("  also matched, with weaker evidence: " + ", ".join(self.alternatives))
        if self.profile_id is None or self.confidence in (LOW, NONE):
            lines.append("  a profile of your own can be added with --targets-dir or $EDGEPROF_TARGETS_DIR")
        return lines


def _read_dt(proc_root: Path, sysfs_root: Path, name: str) -> Optional[str]:
    for base in (proc_root / "device-tree", sysfs_root / "firmware/devicetree/base"):
        raw = read_text(base / name)
        if raw is not None:
            return raw
    return None


def _bus_ids(sysfs_root: Path, bus: str, vendor_file: str, product_file: str) -> Tuple[str, ...]:
    """``vvvv:pppp`` ids (lower-case hex, no ``0x``) of the devices sysfs lists on ``bus``."""
    found = []
    base = sysfs_root / "bus" / bus / "devices"
    if base.is_dir():
        for dev in sorted(base.iterdir()):
            vendor = read_text(dev / vendor_file)
            product = read_text(dev / product_file)
            if vendor and product:
                found.append("%s:%s" % (_hex4(vendor), _hex4(product)))
    return tuple(found)


def _hex4(text: str) -> str:
    text = text.strip().lower()
    return text[2:] if text.startswith("0x") else text


def _nvidia_gpu_names(proc_root: Path) -> Tuple[str, ...]:
    """GPU models from /proc/driver/nvidia/gpus/*/information ("Model: Tesla T4")."""
    names = []
    base = proc_root / "driver/nvidia/gpus"
    if base.is_dir():
        for gpu in sorted(base.iterdir()):
            for line in (read_text(gpu / "information") or "").splitlines():
                key, _, value = line.partition(":")
                if key.strip().lower() == "model" and value.strip():
                    names.append(value.strip())
    return tuple(names)


def _nvidia_smi_names() -> Tuple[str, ...]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return ()
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name", "--format=csv,noheader"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ()
    if out.returncode != 0:
        return ()
    return tuple(line.strip() for line in out.stdout.decode("utf-8", "replace").splitlines() if line.strip())


def _nvml_names() -> Tuple[str, ...]:
    """GPU names as NVML gives them ("NVIDIA H100 80GB HBM3"), where pynvml and a driver are present."""
    try:
        import pynvml
    except ImportError:
        return ()
    try:
        pynvml.nvmlInit()
    except Exception:  # NVMLError: no driver
        return ()
    try:
        names = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(i))
            names.append(str(name, "utf-8", "replace") if isinstance(name, bytes) else str(name))
        return tuple(n.strip() for n in names if n.strip())
    except Exception:
        return ()
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def _arch(blocks: List[dict], proc_root: Path, machine: Optional[str]) -> str:
    if machine:
        return machine
    if looks_x86(blocks):
        return "x86_64"
    if looks_arm(blocks):
        versions = {b.get("cpu architecture", "") for b in blocks}
        return "aarch64" if "8" in versions or not versions - {""} else "armv7l"
    if proc_root == Path("/proc"):
        return platform.machine() or "unknown"
    return "unknown"


def gather_evidence(
    sysfs_root: Path = Path("/sys"),
    proc_root: Path = Path("/proc"),
    gpu_names: Optional[Sequence[str]] = None,
    machine: Optional[str] = None,
) -> Evidence:
    """Read everything the matcher looks at. ``nvidia-smi`` runs only for the real /proc."""
    sysfs_root, proc_root = Path(sysfs_root), Path(proc_root)
    blocks = parse_cpuinfo(read_text(proc_root / "cpuinfo") or "")
    if gpu_names is None:
        gpu_names = _nvidia_gpu_names(proc_root)
        if not gpu_names and proc_root == Path("/proc"):
            gpu_names = _nvidia_smi_names() or _nvml_names()
    model = (_read_dt(proc_root, sysfs_root, "model") or "").replace("\x00", "").strip()
    compatible = _read_dt(proc_root, sysfs_root, "compatible") or ""
    return Evidence(
        arch=_arch(blocks, proc_root, machine),
        dt_model=model,
        dt_compatible=tuple(c.strip() for c in compatible.split("\x00") if c.strip()),
        cpu_model=cpu_model_name(blocks),
        cpu_flags=cpu_flags(blocks),
        memory_gib=memtotal_gib(proc_root),
        usb_ids=_bus_ids(sysfs_root, "usb", "idVendor", "idProduct"),
        pci_ids=_bus_ids(sysfs_root, "pci", "vendor", "device"),
        gpu_names=tuple(gpu_names),
    )


_USB_NOTES = {
    "03e7:2485": "Movidius Myriad X, firmware not yet loaded",
    "03e7:f63b": "Movidius Myriad, firmware loaded",
}


def _score(profile: TargetProfile, ev: Evidence) -> Tuple[int, List[str], List[str]]:
    rules = profile.match
    if rules.empty:
        return 0, [], []
    model = ev.dt_model.lower()
    if model and any(word in model for word in rules.exclude_model):
        return 0, [], []
    score, reasons, doubts = 0, [], []
    compatible = [c.lower() for c in ev.dt_compatible]
    for wanted in rules.dt_compatible:
        hits = [c for c in compatible if wanted in c]
        if hits:
            score += 3
            reasons.append("device-tree compatible %r contains %r" % (hits[0], wanted))
            break
    for wanted in rules.dt_model:
        if model and wanted in model:
            score += 2
            reasons.append("device-tree model %r names %r" % (ev.dt_model, wanted))
            break
    for usb in rules.usb_ids:
        if usb in ev.usb_ids:
            score += 3
            note = _USB_NOTES.get(usb)
            reasons.append("USB device %s present%s" % (usb, " (%s)" % note if note else ""))
            break
    for pci in rules.pci_ids:
        if pci in ev.pci_ids:
            score += 3
            reasons.append("PCI device %s present" % pci)
            break
    for name in ev.gpu_names:
        if any(re.search(p, name, re.IGNORECASE) for p in rules.gpu_names):
            score += 3
            reasons.append("GPU %r matches this profile's model" % name)
            break
        if any(re.search(p, name, re.IGNORECASE) for p in rules.gpu_family):
            score += 2
            reasons.append("GPU %r belongs to this profile's family" % name)
            doubts.append(
                "GPU %r is a different variant than %s: clocks, bandwidth and power differ" % (name, profile.name)
            )
            break
    cpu = ev.cpu_model.lower()
    for wanted in rules.cpu_model:
        if cpu and wanted in cpu:
            score += 1
            reasons.append("CPU model %r names %r" % (ev.cpu_model, wanted))
            if rules.pci_ids and not any(p in ev.pci_ids for p in rules.pci_ids):
                doubts.append(
                    "no PCI device %s seen (is the accelerator present and enabled?)" % " or ".join(rules.pci_ids)
                )
            break
    if rules.cpu_flags and score and all(f in ev.cpu_flags for f in rules.cpu_flags):
        score += 1
        reasons.append("CPU flags include " + ", ".join(rules.cpu_flags))
    if score and rules.memory_gib is not None and ev.memory_gib is not None:
        low, high = rules.memory_gib
        if low <= ev.memory_gib <= high:
            reasons.append("memory %.1f GiB fits this SKU (%g-%g GiB)" % (ev.memory_gib, low, high))
        else:
            doubts.append(
                "memory %.1f GiB is outside the %g-%g GiB of this profile's SKU: probably a "
                "different memory variant, whose figures differ" % (ev.memory_gib, low, high)
            )
    return score, reasons, doubts


def _confidence(score: int, doubts: List[str]) -> str:
    if doubts:
        return MEDIUM if score >= 2 else LOW
    if score >= 3:
        return HIGH
    return MEDIUM if score == 2 else LOW


def _describe_host(ev: Evidence) -> str:
    isa = [f for f in _ISA_SHOWN if f in ev.cpu_flags]
    parts = ["CPU %r" % (ev.cpu_model or "unknown")]
    if isa:
        parts.append("ISA " + ", ".join(isa))
    if ev.memory_gib is not None:
        parts.append("%.1f GiB memory" % ev.memory_gib)
    return "; ".join(parts)


def match_device(
    sysfs_root: Path = Path("/sys"),
    proc_root: Path = Path("/proc"),
    profiles: Optional[Mapping[str, TargetProfile]] = None,
    *,
    gpu_names: Optional[Sequence[str]] = None,
    machine: Optional[str] = None,
) -> Match:
    """The profile this device matches and why. ``profiles`` defaults to ``targets.load_profiles()``."""
    if profiles is None:
        from targets import load_profiles

        profiles = load_profiles(proc_root=proc_root, sysfs_root=sysfs_root)
    ev = gather_evidence(sysfs_root, proc_root, gpu_names=gpu_names, machine=machine)
    scored = []
    for pid, profile in profiles.items():
        score, reasons, doubts = _score(profile, ev)
        if score > 0:
            scored.append((score, len(doubts), pid, reasons, doubts))
    scored.sort(key=lambda item: (-item[0], item[1], item[2]))
    if scored:
        score, _, pid, reasons, doubts = scored[0]
        return Match(
            profile_id=pid,
            reasons=reasons,
            confidence=_confidence(score, doubts),
            doubts=doubts,
            alternatives=tuple(item[2] for item in scored[1:]),
            evidence=ev,
        )
    unprofiled = [
        "GPU %r has no shipped profile: its figures (peak compute, bandwidth, power, price) are unknown here; "
        "add a profile with --targets-dir" % name
        for name in ev.gpu_names
    ]
    if ev.arch == "x86_64" and FALLBACK_X86 in profiles:
        return Match(
            profile_id=FALLBACK_X86,
            reasons=[
                "no device-specific evidence (device tree, USB, PCI or GPU) matched a profile",
                "x86-64 host: " + _describe_host(ev),
            ],
            confidence=LOW,
            doubts=unprofiled,
            evidence=ev,
        )
    reasons = ["no profile matches this %s device" % ev.arch] + unprofiled
    if ev.dt_model:
        reasons.append("device-tree model: %r" % ev.dt_model)
    if ev.cpu_model:
        reasons.append("CPU: %r" % ev.cpu_model)
    return Match(profile_id=None, reasons=reasons, confidence=NONE, evidence=ev)
