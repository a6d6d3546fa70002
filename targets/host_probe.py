"""Read a host's own figures from /proc and /sys: CPU model, cores, ISA extensions, memory, clock.

Used by the ``generic-x86_64`` profile, whose figures are those of the machine that loads it, and by
``agent.device_match``. The roots are injectable so that tests run against fake trees in tmp_path.
Nothing here raises on a missing or unreadable file: an absent figure is None.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Tuple

from targets.schema import HostFacts

#: ISA extensions worth reporting for inference, in /proc/cpuinfo spelling and display order.
NOTABLE_FLAGS: Tuple[str, ...] = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx_vnni",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
    # aarch64 spellings ("Features" line)
    "asimd",
    "asimdhp",
    "asimddp",
    "sve",
    "i8mm",
    "bf16",
)


def read_text(path: Path) -> Optional[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def parse_cpuinfo(text: str) -> List[Dict[str, str]]:
    """Split /proc/cpuinfo into one dict per processor block (keys lower-cased)."""
    blocks: List[Dict[str, str]] = []
    current: Dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition(":")
        if sep:
            current[key.strip().lower()] = value.strip()
    if current:
        blocks.append(current)
    return blocks


def cpu_flags(blocks: List[Dict[str, str]]) -> Tuple[str, ...]:
    """The flags of the first processor (x86 ``flags``, aarch64 ``features``)."""
    for block in blocks:
        line = block.get("flags") or block.get("features")
        if line:
            return tuple(line.split())
    return ()


def cpu_model_name(blocks: List[Dict[str, str]]) -> str:
    for block in blocks:
        for key in ("model name", "hardware", "cpu model"):
            if block.get(key):
                return block[key]
    return ""


def looks_x86(blocks: List[Dict[str, str]]) -> bool:
    return any("vendor_id" in b and "flags" in b for b in blocks)


def looks_arm(blocks: List[Dict[str, str]]) -> bool:
    return any("cpu implementer" in b for b in blocks)


def memtotal_gib(proc_root: Path) -> Optional[float]:
    text = read_text(proc_root / "meminfo")
    if not text:
        return None
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            try:
                kib = float(parts[1])
            except (IndexError, ValueError):
                return None
            return kib / (1024.0 * 1024.0)
    return None


def _physical_cores(blocks: List[Dict[str, str]]) -> Optional[int]:
    pairs = set()
    for block in blocks:
        if "core id" in block:
            pairs.add((block.get("physical id", "0"), block["core id"]))
    return len(pairs) or None


def _max_freq_ghz(sysfs_root: Path, blocks: List[Dict[str, str]]) -> Optional[float]:
    khz = read_text(sysfs_root / "devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    if khz:
        try:
            return int(khz.strip()) / 1e6
        except ValueError:
            pass
    return None


def probe_host(proc_root: Path = Path("/proc"), sysfs_root: Path = Path("/sys")) -> Optional[HostFacts]:
    """The machine's CPU and memory figures, or None when /proc/cpuinfo cannot be read."""
    text = read_text(proc_root / "cpuinfo")
    if not text:
        return None
    blocks = parse_cpuinfo(text)
    processors = [b for b in blocks if "processor" in b]
    flags = set(cpu_flags(blocks))
    return HostFacts(
        cpu_model=cpu_model_name(blocks),
        logical_cores=len(processors) or len(blocks),
        physical_cores=_physical_cores(blocks),
        isa=tuple(f for f in NOTABLE_FLAGS if f in flags),
        memory_gib=memtotal_gib(proc_root),
        max_freq_ghz=_max_freq_ghz(sysfs_root, blocks),
        proc_root=str(proc_root),
    )


#: FP32 FLOP per cycle per core that every core with these extensions reaches at least: two 256-bit
#: FMA pipes (8 lanes x 2 FLOP x 2) or one 512-bit FMA pipe (16 lanes x 2 FLOP). Cores with two
#: 512-bit FMA pipes reach twice this; which a given CPU has is not visible in /proc.
FP32_FLOP_PER_CYCLE_LOWER_BOUND = 32


def fp32_peak_lower_bound_tflops(facts: HostFacts) -> Optional[Tuple[float, str]]:
    """(TFLOPS, basis) for an FMA-capable x86 host whose core count and max clock are known."""
    if not facts.physical_cores or not facts.max_freq_ghz:
        return None
    if "fma" not in facts.isa or not ({"avx2", "avx512f"} & set(facts.isa)):
        return None
    tflops = facts.physical_cores * facts.max_freq_ghz * FP32_FLOP_PER_CYCLE_LOWER_BOUND / 1000.0
    basis = (
        "lower bound: %d physical cores x %.2f GHz (cpuinfo_max_freq) x %d FP32 FLOP/cycle "
        "(two 256-bit or one 512-bit FMA pipe); cores with two 512-bit FMA pipes reach twice this, "
        "and all-core clocks are below the max clock"
        % (facts.physical_cores, facts.max_freq_ghz, FP32_FLOP_PER_CYCLE_LOWER_BOUND)
    )
    return tflops, basis
