"""The roofline (pipeline/roofline.py): counted on each build's own graph, against a real profile."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import onnx
import pytest

from pipeline.derive import load_target_profiles
from pipeline.graph_cost import graph_cost
from pipeline.roofline import (
    COUNTED_ON_BUILD,
    GraphCount,
    RooflineUnavailable,
    compute_precision,
    count_builds,
    graph_counts_for,
    memory_fit,
    peak_and_bandwidth,
    per_second,
    roofline_of,
)

from .passes.models import build_tiny_cnn
from .sample_results import record

PROFILES = load_target_profiles()
PI = PROFILES["raspberry-pi-5"]


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[str, Path]:
    """The tiny CNN in FP32 and with ONNX Runtime's dynamic INT8 weights."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folder = tmp_path_factory.mktemp("roofline")
    fp32 = build_tiny_cnn(folder / "fp32.onnx")
    int8 = folder / "int8.onnx"
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    return {"fp32": fp32, "int8-dynamic": int8}


def counted(builds: dict[str, Path], batches=(1, 64)) -> dict:
    return count_builds([(v, "onnx", p) for v, p in builds.items()], builds["fp32"], batches)


def on_pi(variant: str, batch: int, tput: float):
    return dataclasses.replace(record(variant, batch=batch, tput=tput, precision=variant), target=PI.id)


def test_a_small_batch_is_memory_bound_and_a_large_one_compute_bound(builds):
    counts = graph_counts_for(counted(builds), "fp32")
    small = roofline_of(on_pi("fp32", 1, 5000.0), counts[1], PI)
    large = roofline_of(on_pi("fp32", 64, 20000.0), counts[64], PI)

    peak, bandwidth = 0.154e12, 17.1e9  # the Pi 5 profile: FP32 estimate, LPDDR4X-4267 x 32 bit
    cost1 = graph_cost(builds["fp32"], 1)
    moved1 = cost1.total_weight_bytes + cost1.activation_bytes
    assert small.intensity_flop_per_byte == pytest.approx(cost1.flops / moved1)
    assert small.ridge_flop_per_byte == pytest.approx(peak / bandwidth)
    assert small.bound == "memory" and small.intensity_flop_per_byte < small.ridge_flop_per_byte
    assert small.bound_ips == pytest.approx(1 / max(cost1.flops / peak, moved1 / bandwidth))
    assert small.fraction == pytest.approx(5000.0 / small.bound_ips)
    # 64 samples share one read of the weights: the intensity passes the ridge.
    assert large.bound == "compute" and large.intensity_flop_per_byte > large.ridge_flop_per_byte
    cost64 = graph_cost(builds["fp32"], 64)
    assert large.bound_ips == pytest.approx(64 / (cost64.flops / peak))
    assert large.flops_per_inference == pytest.approx(cost64.flops / 64)
    assert small.estimated and {i.name for i in small.inputs} == {"peak_fp32", "memory_bandwidth"}
    assert small.counted_on == COUNTED_ON_BUILD and small.power_mode == "default"


def test_int8_weights_move_a_quarter_of_the_bytes_and_use_the_int8_peak(builds):
    counts = counted(builds)
    fp32 = roofline_of(on_pi("fp32", 1, 5000.0), graph_counts_for(counts, "fp32")[1], PI)
    int8 = roofline_of(on_pi("int8-dynamic", 1, 5000.0), graph_counts_for(counts, "int8-dynamic")[1], PI)
    assert int8.weight_bytes < 0.3 * fp32.weight_bytes
    assert int8.peak_precision == "int8" and fp32.peak_precision == "fp32"
    assert int8.bound_ips > 2 * fp32.bound_ips  # memory-bound: fewer bytes, a higher bound


def test_a_count_at_another_batch_is_scaled(builds):
    count = graph_counts_for(counted(builds, batches=(1,)), "fp32")[1]
    scaled = count.at_batch(8)
    assert scaled.flops == 8 * count.flops and scaled.weight_bytes == count.weight_bytes
    assert scaled.activation_bytes == 8 * count.activation_bytes and "scaled" in scaled.counted_on


def test_a_sparse_peak_is_halved_to_dense_and_says_so():
    peak, bandwidth, notes = peak_and_bandwidth(PROFILES["nvidia-l4"], "int8")
    assert peak.value == 242.5 and "halved to dense" in peak.provenance
    assert per_second(peak) == 242.5e12 and per_second(bandwidth) == 300e9 and notes == ()


def test_a_precision_without_a_peak_falls_back_to_fp32_with_a_note():
    peak, _, notes = peak_and_bandwidth(PI, "fp16")
    assert peak.name == "peak_fp32" and notes == (
        "raspberry-pi-5 has no fp16 peak in mode default: the FP32 peak is used",
    )


def test_what_the_profile_lacks_is_named_with_the_fix():
    generic = PROFILES["generic-x86_64"]
    if generic.peak_compute("fp32") is not None:
        generic = dataclasses.replace(
            generic, power_modes=(dataclasses.replace(generic.default_mode, peak_compute={}),)
        )
    with pytest.raises(RooflineUnavailable, match=r"peak_compute\.fp32 .*--targets-dir"):
        peak_and_bandwidth(generic, "fp32")
    mode = dataclasses.replace(PI.default_mode, memory_bandwidth=None)
    with pytest.raises(RooflineUnavailable, match=r"no memory bandwidth in mode default: add power_modes\[default\]"):
        peak_and_bandwidth(dataclasses.replace(PI, power_modes=(mode,)), "fp32")


def test_the_precision_a_runtime_really_ran_in_decides_the_peak():
    assert compute_precision(record("x", precision="int8-static")) == "int8"
    assert compute_precision(record("x", precision="fp16")) == "fp16"
    ov = dataclasses.replace(record("x", precision="fp32"), runtime_settings={"inference_precision": "bf16"})
    assert compute_precision(ov) == "bf16"


def test_an_unsorted_graph_is_counted_in_dependency_order(builds, tmp_path):
    model = onnx.load(str(builds["fp32"]))
    nodes = list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(nodes[1:] + nodes[:1])  # the first Conv last, as the FP16 pass appends its Casts
    unsorted = tmp_path / "unsorted.onnx"
    onnx.save(model, str(unsorted))
    assert graph_cost(unsorted, 1).flops < graph_cost(builds["fp32"], 1).flops  # read in file order: undercounted
    counts = count_builds([("u", "onnx", unsorted)], builds["fp32"], [1])
    assert counts["u"]["by_batch"]["1"]["flops"] == graph_cost(builds["fp32"], 1).flops


def test_a_build_without_an_onnx_graph_is_counted_on_the_source_and_says_so(builds):
    counts = count_builds([("ov-fp32", "openvino-ir", None)], builds["fp32"], [1])
    assert counts["ov-fp32"]["by_batch"]["1"]["flops"] == graph_cost(builds["fp32"], 1).flops
    assert "openvino-ir builds are not ONNX graphs" in counts["ov-fp32"]["counted_on"]


def test_memory_need_against_the_device(builds):
    count = graph_counts_for(counted(builds), "fp32")[64]
    fit = memory_fit(on_pi("fp32", 64, 1.0), count, PI)
    assert fit.need_bytes == count.weight_bytes + count.activation_bytes
    assert fit.capacity_bytes == 8e9 and fit.fits is True
    tiny = dataclasses.replace(PI, memory_capacity=dataclasses.replace(PI.memory_capacity, value=1e-4))
    assert memory_fit(on_pi("fp32", 64, 1.0), count, tiny).fits is False
    assert memory_fit(on_pi("fp32", 64, 1.0), count, None).fits is None


def test_graph_count_reads_the_stored_form():
    count = GraphCount.from_json(
        {
            "batch": 2,
            "flops": 10,
            "weight_bytes": {"int8": 3, "float32": 4},
            "activation_bytes": 5,
            "shapes_known": False,
        },
        "x",
    )
    assert (count.weight_bytes, count.activation_bytes, count.lower_bound) == (7, 5, True)
