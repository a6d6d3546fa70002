"""generic-x86_64 takes its figures from the machine that loads it (fake /proc and /sys here)."""

from __future__ import annotations

from pathlib import Path

from targets import load_profiles
from targets.host_probe import probe_host

X86_FLAGS = (
    "fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma f16c avx512f avx512bw avx512_vnni avx512_bf16 "
    "amx_tile amx_bf16 amx_int8"
)


def make_x86_proc(
    root: Path,
    cores: int = 4,
    threads_per_core: int = 2,
    mem_kib: int = 32 * 1024 * 1024,
    flags: str = X86_FLAGS,
    model: str = "Intel(R) Xeon(R) Platinum 8480+",
) -> Path:
    blocks = []
    n = 0
    for core in range(cores):
        for _ in range(threads_per_core):
            blocks.append(
                f"processor\t: {n}\nvendor_id\t: GenuineIntel\nmodel name\t: {model}\n"
                f"physical id\t: 0\ncore id\t\t: {core}\nflags\t\t: {flags}\n"
            )
            n += 1
    root.mkdir(parents=True, exist_ok=True)
    (root / "cpuinfo").write_text("\n".join(blocks) + "\n", encoding="utf-8")
    (root / "meminfo").write_text(f"MemTotal:       {mem_kib} kB\nMemFree:        1000 kB\n", encoding="utf-8")
    return root


def make_cpufreq(sys_root: Path, max_khz: int) -> Path:
    path = sys_root / "devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{max_khz}\n", encoding="utf-8")
    return sys_root


def test_probe_reads_cores_isa_memory_and_clock(tmp_path):
    proc = make_x86_proc(tmp_path / "proc")
    sys_root = make_cpufreq(tmp_path / "sys", 3_800_000)
    facts = probe_host(proc, sys_root)
    assert facts.logical_cores == 8 and facts.physical_cores == 4
    assert {"avx2", "avx512_vnni", "amx_int8", "amx_bf16"} <= set(facts.isa)
    assert facts.memory_gib == 32.0
    assert facts.max_freq_ghz == 3.8
    assert facts.cpu_model.startswith("Intel(R) Xeon(R)")


def test_generic_profile_takes_this_machines_figures(tmp_path):
    proc = make_x86_proc(tmp_path / "proc")
    sys_root = make_cpufreq(tmp_path / "sys", 3_800_000)
    generic = load_profiles(include_env=False, proc_root=proc, sysfs_root=sys_root)["generic-x86_64"]
    assert generic.host is not None and generic.host.physical_cores == 4
    assert generic.memory_capacity.value == round(32 * 1.073741824, 2)
    assert generic.memory_capacity.source.key == "this-machine"
    fp32 = generic.peak_compute("fp32")
    assert fp32.estimate and fp32.value == round(4 * 3.8 * 32 / 1000, 3)
    assert "lower bound" in fp32.basis
    assert generic.memory_bandwidth() is None  # not derivable from /proc
    assert "bf16" in [r for r in generic.runtimes if r.name == "openvino"][0].precisions


def test_no_peak_estimate_without_a_known_clock(tmp_path):
    proc = make_x86_proc(tmp_path / "proc", flags="fpu sse sse2 avx avx2 fma")
    generic = load_profiles(include_env=False, proc_root=proc, sysfs_root=tmp_path / "sys")["generic-x86_64"]
    assert generic.host.max_freq_ghz is None
    assert generic.peak_compute("fp32") is None
    assert "bf16" not in [r for r in generic.runtimes if r.name == "openvino"][0].precisions


def test_non_x86_machine_leaves_generic_unprobed_with_a_note(tmp_path):
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "cpuinfo").write_text(
        "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd asimddp\nCPU implementer\t: 0x41\n"
        "CPU architecture: 8\n",
        encoding="utf-8",
    )
    generic = load_profiles(include_env=False, proc_root=proc, sysfs_root=tmp_path / "sys")["generic-x86_64"]
    assert generic.host is None and generic.memory_capacity is None
    assert any("not probed" in n for n in generic.notes)


def test_unreadable_proc_is_not_an_error(tmp_path):
    assert probe_host(tmp_path / "missing", tmp_path / "missing") is None
    generic = load_profiles(include_env=False, proc_root=tmp_path / "missing")["generic-x86_64"]
    assert generic.host is None
