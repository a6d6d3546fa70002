"""Device matching against fake /proc and /sys trees: a Jetson, a Pi, an NCS2 host, x86 and GPU hosts."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.device_match import HIGH, LOW, MEDIUM, NONE, gather_evidence, match_device
from targets import load_profiles

PROFILES = load_profiles(include_env=False)

ARM_CPUINFO = "".join(
    f"processor\t: {n}\nBogoMIPS\t: 62.50\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp "
    f"asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\n"
    f"CPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1\n\n"
    for n in range(4)
)


def x86_cpuinfo(model: str = "Intel(R) Xeon(R) Gold 6330 CPU @ 2.00GHz", flags: str = "fpu sse4_2 avx avx2 fma") -> str:
    return "".join(
        f"processor\t: {n}\nvendor_id\t: GenuineIntel\nmodel name\t: {model}\nphysical id\t: 0\n"
        f"core id\t\t: {n}\nflags\t\t: {flags}\n\n"
        for n in range(4)
    )


def make_tree(
    tmp_path: Path,
    *,
    cpuinfo: str,
    mem_kib: int = 16 * 1024 * 1024,
    dt_model: str | None = None,
    dt_compatible: tuple[str, ...] = (),
    usb: tuple[str, ...] = (),
    pci: tuple[str, ...] = (),
    nvidia_models: tuple[str, ...] = (),
) -> tuple[Path, Path]:
    proc, sys_root = tmp_path / "proc", tmp_path / "sys"
    proc.mkdir(parents=True, exist_ok=True)
    sys_root.mkdir(parents=True, exist_ok=True)
    (proc / "cpuinfo").write_text(cpuinfo, encoding="utf-8")
    (proc / "meminfo").write_text(f"MemTotal:       {mem_kib} kB\n", encoding="utf-8")
    if dt_model is not None:
        dt = proc / "device-tree"
        dt.mkdir()
        (dt / "model").write_bytes(dt_model.encode() + b"\x00")
        (dt / "compatible").write_bytes(b"".join(c.encode() + b"\x00" for c in dt_compatible))
    for n, ids in enumerate(usb):
        vendor, product = ids.split(":")
        dev = sys_root / "bus/usb/devices" / f"2-{n + 1}"
        dev.mkdir(parents=True)
        (dev / "idVendor").write_text(vendor + "\n")
        (dev / "idProduct").write_text(product + "\n")
    for n, ids in enumerate(pci):
        vendor, device = ids.split(":")
        dev = sys_root / "bus/pci/devices" / f"0000:00:{n + 2:02x}.0"
        dev.mkdir(parents=True)
        (dev / "vendor").write_text(f"0x{vendor}\n")
        (dev / "device").write_text(f"0x{device}\n")
    for n, model in enumerate(nvidia_models):
        gpu = proc / "driver/nvidia/gpus" / f"0000:{n + 1:02x}:00.0"
        gpu.mkdir(parents=True)
        (gpu / "information").write_text(f"Model: \t\t {model}\nIRQ:   \t\t 42\nBus Type: \t PCIe\n")
    return sys_root, proc


def test_jetson_orin_nano_devkit_is_matched_from_the_device_tree(tmp_path):
    sys_root, proc = make_tree(
        tmp_path,
        cpuinfo=ARM_CPUINFO,
        mem_kib=7_620_000,
        dt_model="NVIDIA Jetson Orin Nano Developer Kit",
        dt_compatible=("nvidia,p3768-0000+p3767-0005", "nvidia,p3767-0005", "nvidia,tegra234"),
    )
    fake_sysfs = pytest.importorskip("tests.agent.power.fake_sysfs")
    fake_sysfs.make_jetson_sysfs(sys_root, "jetson-orin-nano-8gb", {"VDD_IN": (5000, 1000)})
    match = match_device(sys_root, proc, PROFILES)
    assert match.profile_id == "jetson-orin-nano-8gb"
    assert match.confidence == HIGH
    assert any("NVIDIA Jetson Orin Nano Developer Kit" in r for r in match.reasons)
    assert any("p3767-0005" in r for r in match.reasons)
    assert any("memory 7.3 GiB fits" in r for r in match.reasons)
    assert match.doubts == []
    assert match.evidence.arch == "aarch64"


def test_orin_nx_with_less_memory_than_the_profile_is_matched_with_a_doubt(tmp_path):
    sys_root, proc = make_tree(
        tmp_path,
        cpuinfo=ARM_CPUINFO,
        mem_kib=7_620_000,
        dt_model="NVIDIA Jetson Orin NX Engineering Reference Developer Kit",
        dt_compatible=("nvidia,p3768-0000+p3767-0001", "nvidia,p3767-0001", "nvidia,tegra234"),
    )
    match = match_device(sys_root, proc, PROFILES)
    assert match.profile_id == "jetson-orin-nx-16gb"
    assert match.confidence in (MEDIUM, LOW)
    assert any("outside the 12-17 GiB" in d for d in match.doubts)


def test_agx_xavier_on_jetpack4_model_string(tmp_path):
    sys_root, proc = make_tree(
        tmp_path,
        cpuinfo=ARM_CPUINFO,
        mem_kib=31 * 1024 * 1024,
        dt_model="Jetson-AGX",
        dt_compatible=("nvidia,p2972-0000", "nvidia,tegra194"),
    )
    match = match_device(sys_root, proc, PROFILES)
    assert match.profile_id == "jetson-agx-xavier"
    assert match.confidence == HIGH


def test_jetson_nano_2gb_is_not_taken_for_the_4gb(tmp_path):
    sys_root, proc = make_tree(
        tmp_path,
        cpuinfo=ARM_CPUINFO,
        mem_kib=2_000_000,
        dt_model="NVIDIA Jetson Nano 2GB Developer Kit",
        dt_compatible=("nvidia,p3542-0000+p3448-0003", "nvidia,jetson-nano-2gb", "nvidia,tegra210"),
    )
    match = match_device(sys_root, proc, PROFILES)
    assert match.profile_id is None
    assert match.confidence == NONE
    assert any("aarch64" in r for r in match.reasons)
    assert any("Nano 2GB" in r for r in match.reasons)


def test_raspberry_pi_5(tmp_path):
    sys_root, proc = make_tree(
        tmp_path,
        cpuinfo=ARM_CPUINFO,
        mem_kib=8_000_000,
        dt_model="Raspberry Pi 5 Model B Rev 1.0",
        dt_compatible=("raspberrypi,5-model-b", "brcm,bcm2712"),
    )
    match = match_device(sys_root, proc, PROFILES)
    assert match.profile_id == "raspberry-pi-5"
    assert match.confidence == HIGH
    assert match.alternatives == ()


def test_raspberry_pi_500_keyboard_is_not_a_pi_5_board(tmp_path):
    sys_root, proc = make_tree(
        tmp_path,
        cpuinfo=ARM_CPUINFO,
        dt_model="Raspberry Pi 500 Rev 1.0",
        dt_compatible=("raspberrypi,500", "brcm,bcm2712"),
    )
    assert match_device(sys_root, proc, PROFILES).profile_id is None


def test_ncs2_on_an_x86_host_by_usb_id(tmp_path):
    sys_root, proc = make_tree(tmp_path, cpuinfo=x86_cpuinfo(), usb=("1d6b:0003", "03e7:2485"))
    match = match_device(sys_root, proc, PROFILES)
    assert match.profile_id == "intel-ncs2"
    assert match.confidence == HIGH
    assert any("03e7:2485" in r and "Myriad X" in r for r in match.reasons)


def test_ncs2_on_a_raspberry_pi_is_reported_with_the_board(tmp_path):
    sys_root, proc = make_tree(
        tmp_path,
        cpuinfo=ARM_CPUINFO,
        dt_model="Raspberry Pi 5 Model B Rev 1.0",
        dt_compatible=("raspberrypi,5-model-b", "brcm,bcm2712"),
        usb=("03e7:f63b",),
    )
    match = match_device(sys_root, proc, PROFILES)
    assert {match.profile_id, *match.alternatives} == {"raspberry-pi-5", "intel-ncs2"}


def test_plain_x86_host_falls_back_to_generic(tmp_path):
    sys_root, proc = make_tree(tmp_path, cpuinfo=x86_cpuinfo(flags="fpu sse4_2 avx avx2 fma avx512f avx512_vnni"))
    match = match_device(sys_root, proc, PROFILES, gpu_names=())
    assert match.profile_id == "generic-x86_64"
    assert match.confidence == LOW
    assert any("avx2, avx512f, avx512_vnni" in r for r in match.reasons)
    lines = match.describe()
    assert lines[0] == "target profile: generic-x86_64 (confidence low)"
    assert any("--targets-dir" in line for line in lines)


def test_unknown_architecture_is_unknown(tmp_path):
    sys_root, proc = make_tree(tmp_path, cpuinfo="processor\t: 0\nhart\t\t: 0\nisa\t\t: rv64imafdc\n")
    match = match_device(sys_root, proc, PROFILES, machine="riscv64")
    assert match.profile_id is None and match.confidence == NONE
    assert match.reasons[0] == "no profile matches this riscv64 device"
    assert match.describe()[0].startswith("target profile: unknown")


@pytest.mark.parametrize(
    ("gpu", "expected", "confidence"),
    [
        ("Tesla T4", "nvidia-t4", HIGH),
        ("NVIDIA L4", "nvidia-l4", HIGH),
        ("NVIDIA L40S", "nvidia-l40s", HIGH),
        ("NVIDIA A100-SXM4-80GB", "nvidia-a100-80gb", HIGH),
        ("NVIDIA A100 80GB PCIe", "nvidia-a100-80gb", MEDIUM),
        ("NVIDIA H100 80GB HBM3", "nvidia-h100", HIGH),
        ("NVIDIA H100 PCIe", "nvidia-h100", MEDIUM),
        # more names as NVML and nvidia-smi print them
        ("NVIDIA A100-SXM4-40GB", "nvidia-a100-80gb", MEDIUM),
        ("NVIDIA A100-PCIE-40GB", "nvidia-a100-80gb", MEDIUM),
        ("NVIDIA H100 NVL", "nvidia-h100", MEDIUM),
        ("NVIDIA L40", "nvidia-l40s", MEDIUM),
    ],
)
def test_gpu_server_is_matched_by_gpu_name(tmp_path, gpu, expected, confidence):
    sys_root, proc = make_tree(tmp_path, cpuinfo=x86_cpuinfo(), nvidia_models=(gpu,))
    match = match_device(sys_root, proc, PROFILES)
    assert match.profile_id == expected
    assert match.confidence == confidence
    assert any(gpu in r for r in match.reasons)
    if confidence == MEDIUM:
        assert any("different variant" in d for d in match.doubts)


def test_l40s_is_not_taken_for_an_l4(tmp_path):
    sys_root, proc = make_tree(tmp_path, cpuinfo=x86_cpuinfo(), nvidia_models=("NVIDIA L40S",))
    match = match_device(sys_root, proc, PROFILES)
    assert "nvidia-l4" not in (match.profile_id, *match.alternatives)


def test_core_ultra_with_its_npu(tmp_path):
    cpuinfo = x86_cpuinfo(model="Intel(R) Core(TM) Ultra 7 155H", flags="fpu avx avx2 fma avx_vnni")
    sys_root, proc = make_tree(tmp_path, cpuinfo=cpuinfo, pci=("8086:7e20", "8086:7d1d"))
    match = match_device(sys_root, proc, PROFILES, gpu_names=())
    assert match.profile_id == "intel-core-ultra-npu"
    assert match.confidence == HIGH
    assert any("8086:7d1d" in r for r in match.reasons)


def test_core_ultra_without_an_npu_device_is_a_weak_match(tmp_path):
    cpuinfo = x86_cpuinfo(model="Intel(R) Core(TM) Ultra 7 155H", flags="fpu avx avx2 fma avx_vnni")
    sys_root, proc = make_tree(tmp_path, cpuinfo=cpuinfo)
    match = match_device(sys_root, proc, PROFILES, gpu_names=())
    assert match.profile_id == "intel-core-ultra-npu"
    assert match.confidence == LOW
    assert any("8086:7d1d" in d for d in match.doubts)


def test_evidence_reads_the_sysfs_device_tree_when_proc_has_none(tmp_path):
    sys_root, proc = make_tree(tmp_path, cpuinfo=ARM_CPUINFO)
    base = sys_root / "firmware/devicetree/base"
    base.mkdir(parents=True)
    (base / "model").write_bytes(b"NVIDIA Jetson AGX Orin Developer Kit\x00")
    (base / "compatible").write_bytes(b"nvidia,p3737-0000+p3701-0005\x00nvidia,p3701-0005\x00nvidia,tegra234\x00")
    ev = gather_evidence(sys_root, proc, gpu_names=())
    assert ev.dt_model == "NVIDIA Jetson AGX Orin Developer Kit"
    assert "nvidia,p3701-0005" in ev.dt_compatible


def test_profiles_default_to_the_catalogue(tmp_path, monkeypatch):
    monkeypatch.delenv("EDGEPROF_TARGETS_DIR", raising=False)
    sys_root, proc = make_tree(
        tmp_path,
        cpuinfo=ARM_CPUINFO,
        dt_model="Raspberry Pi 5 Model B Rev 1.1",
        dt_compatible=("raspberrypi,5-model-b", "brcm,bcm2712"),
    )
    assert match_device(sys_root, proc).profile_id == "raspberry-pi-5"


def test_a_gpu_without_a_profile_is_named_not_passed_over(tmp_path):
    sys_root, proc = make_tree(tmp_path, cpuinfo=x86_cpuinfo(), nvidia_models=("NVIDIA H200",))

    match = match_device(sys_root, proc, PROFILES)

    assert match.profile_id == "generic-x86_64" and match.confidence == LOW
    assert "nvidia-h100" not in match.alternatives  # an H200 is not an H100: other memory, bandwidth, price
    assert any("'NVIDIA H200' has no shipped profile" in d and "--targets-dir" in d for d in match.doubts)


def test_gpu_names_come_from_nvml_where_the_driver_files_and_nvidia_smi_are_missing(tmp_path, monkeypatch):
    import shutil
    import sys
    import types

    if shutil.which("nvidia-smi") or Path("/proc/driver/nvidia/gpus").is_dir():
        pytest.skip("this machine has NVIDIA's own sources of GPU names; the NVML fallback is not used")
    calls = []
    nvml = types.ModuleType("pynvml")
    nvml.nvmlInit = lambda: calls.append("init")
    nvml.nvmlShutdown = lambda: calls.append("shutdown")
    nvml.nvmlDeviceGetCount = lambda: 2
    nvml.nvmlDeviceGetHandleByIndex = lambda i: i
    nvml.nvmlDeviceGetName = lambda h: [b"NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"][h]  # bytes in old pynvml
    monkeypatch.setitem(sys.modules, "pynvml", nvml)

    ev = gather_evidence(tmp_path, Path("/proc"))

    assert ev.gpu_names == ("NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3")
    assert calls == ["init", "shutdown"]
