"""From agent results to records (pipeline/record.py): everything the record carries from the result
(the accuracy loss: test_accuracy_loss.py)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from agent.protocol import AccuracyReport, Measurement, PowerReport
from pipeline.record import Failure, build_records

from .sample_results import LAT, device_status, result


def test_one_record_per_batch_size_with_the_result_and_store_fields() -> None:
    res = result(
        "int8",
        "int8-static",
        AccuracyReport(samples=100, top1=0.9),
        batches=(1, 8),
        runtime_version="1.32.0",
        runtime_settings={"intra_op_num_threads": 2, "precision_used": "int8"},
        artifact_kind="",
        environment={"notes": ["cpu governor is powersave"]},
    )
    artifacts = {"int8": {"sha256": "ab" * 32, "size_bytes": 4096, "kind": "onnx"}}
    records, _ = build_records([res], artifacts, {"dev": device_status("dev")}, None)
    assert [r.id for r in records] == ["int8/dev/b1", "int8/dev/b8"]
    r = records[1]
    assert (r.batch_size, r.samples, r.throughput_ips) == (8, 160, 80.0)
    assert r.latency_ms == LAT
    assert r.target == "generic-x86_64"
    assert (r.artifact_sha256, r.model_size_bytes) == ("ab" * 32, 4096)
    assert r.artifact_kind == "onnx"  # from the store, the result did not say
    assert r.runtime_settings == {"intra_op_num_threads": 2, "precision_used": "int8"}
    assert "cpu governor is powersave" in r.notes
    assert dataclasses.is_dataclass(r)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.valid = False  # type: ignore[misc]


def test_the_artifact_kind_the_device_reports_wins() -> None:
    res = result("trt", "fp16", None, artifact_kind="tensorrt-recipe")
    records, _ = build_records([res], {"trt": {"kind": "onnx"}}, {}, None)
    assert records[0].artifact_kind == "tensorrt-recipe"


def test_the_power_mode_the_device_ran_in_is_on_every_record() -> None:
    res = result("trt-fp16-mode-15W", "fp16", None, batches=(1, 8), power_mode="15W")
    records, _ = build_records([res, result("ort-fp32", "fp32", None)], {}, {}, None)

    assert [r.power_mode for r in records] == ["15W", "15W", ""]


def test_failed_results_become_one_line_failures() -> None:
    records, failed = build_records(
        [result("bad", "int8-static", None, status="failed", error="load failed:\n  needs opset 13+")], {}, {}, None
    )
    assert records == []
    assert failed == [Failure("bad", "dev", "load failed: needs opset 13+")]


def test_energy_figures_that_are_not_finite_are_none() -> None:
    power = PowerReport(avg_w=0.0, source="rapl", estimated=False, samples=40, rate_hz=20.0, energy_j=0.0)
    m = Measurement(
        batch_size=1, throughput_ips=10.0, latency_ms=LAT, queries=20, samples=20, duration_s=2.0, valid=True,
        power=power, energy_j_per_inference=0.0, inferences_per_joule=math.inf,
    )  # fmt: skip
    res = dataclasses.replace(result("fp32", "fp32", None), measurements=[m])
    records, _ = build_records([res], {}, {}, None)
    assert records[0].inferences_per_joule is None and records[0].energy_j_per_inference == 0.0
    assert records[0].power == power


def test_a_variant_measured_twice_is_one_record_of_two_windows() -> None:
    """Equal throughput: the later window is the representative one."""
    first = result("int8", "int8-static", AccuracyReport(samples=100, top1=0.5), finished_at=1.0)
    second = result("int8", "int8-static", AccuracyReport(samples=100, top1=0.9), finished_at=2.0)
    records, _ = build_records([second, first], {}, {}, None)
    assert len(records) == 1 and records[0].accuracy is not None and records[0].accuracy.top1 == 0.9
    assert records[0].repeats == 2 and records[0].spread is not None and records[0].spread.n == 2
    assert any("median of 2 windows" in n and "window 2 of 2" in n for n in records[0].notes)


def _repeat(throughput: float, p99: float, finished_at: float, valid: bool = True):  # type: ignore[no-untyped-def]
    lat = dataclasses.replace(LAT, p99=p99)
    m = Measurement(
        batch_size=1, throughput_ips=throughput, latency_ms=lat, queries=20, samples=20, duration_s=2.0,
        valid=valid, inferences_per_joule=throughput / 10.0,
    )  # fmt: skip
    return dataclasses.replace(result("int8", "int8-static", None, finished_at=finished_at), measurements=[m])


def test_repeated_windows_give_medians_a_spread_and_an_interval() -> None:
    records, _ = build_records(
        [_repeat(100.0, 5.0, 1.0), _repeat(130.0, 4.0, 2.0), _repeat(110.0, 9.0, 3.0)], {}, {}, None
    )
    r = records[0]
    assert r.repeats == 3 and r.throughput_ips == 110.0 and r.latency_ms.p99 == 5.0
    assert r.inferences_per_joule == pytest.approx(11.0)
    assert r.spread is not None
    tput = r.spread.figures["throughput_ips"]
    assert (tput.min, tput.max, tput.values) == (100.0, 130.0, (100.0, 130.0, 110.0))
    assert tput.interval == (100.0, 130.0) and tput.ci_coverage == pytest.approx(0.75)
    assert any("window 3 of 3" in n for n in r.notes)  # 110 inf/s is the median window


def test_invalid_repeats_are_left_out_of_the_median_and_noted() -> None:
    records, _ = build_records(
        [_repeat(100.0, 5.0, 1.0), _repeat(10.0, 50.0, 2.0, valid=False), _repeat(120.0, 4.0, 3.0)], {}, {}, None
    )
    r = records[0]
    assert r.valid and r.throughput_ips == 110.0 and r.spread is not None and r.spread.n == 2
    assert r.spread.windows == 3
    assert any("1 of 3 windows invalid" in n for n in r.notes)


def _at(batch: int, top1: float | None = None, **fields) -> Measurement:  # type: ignore[no-untyped-def]
    return Measurement(
        batch_size=batch, throughput_ips=10.0 * batch, latency_ms=LAT, queries=20, samples=20 * batch,
        duration_s=2.0, valid=True, accuracy=AccuracyReport(samples=100, top1=top1) if top1 is not None else None,
        **fields,
    )  # fmt: skip


def test_each_record_carries_the_accuracy_of_its_own_batch_size() -> None:
    """The landed record copied one accuracy (the largest batch's) onto every batch's record."""
    fp32 = dataclasses.replace(result("fp32", "fp32", None), measurements=[_at(1, 0.98), _at(8, 0.97)])
    int8 = dataclasses.replace(result("int8", "int8-static", None), measurements=[_at(1, 0.95), _at(8, 0.90)])

    records, _ = build_records([fp32, int8], {}, {}, None)

    acc = {(r.variant_id, r.batch_size): r.accuracy for r in records}
    assert acc[("int8", 1)].top1 == 0.95 and acc[("int8", 8)].top1 == 0.90
    # each against the FP32 build at the same batch size
    assert acc[("int8", 1)].reference_top1 == 0.98 and acc[("int8", 8)].reference_top1 == 0.97
    assert acc[("int8", 8)].loss == pytest.approx(0.07)


def test_the_new_figures_reach_the_record() -> None:
    from agent.protocol import LayerTime, MemoryUse, ThroughputAtSLA, Validity

    validity = Validity(valid=False, reasons=["throttled: clock fell"], queries=20, foreign_load=0.02)
    m1 = _at(
        1, energy_above_idle_j_per_inference=0.5, inferences_per_joule_above_idle=2.0, validity=validity,
        layer_profile=[LayerTime("Conv", 1.5, 0.9, 3)], memory=MemoryUse(rss_mib=80.0, peak_rss_mib=90.0),
        input_shapes={"image": [1, 1, 32, 32]},
    )  # fmt: skip
    m2 = _at(1, concurrency=4)
    best = ThroughputAtSLA(throughput_ips=40.0, batch_size=1, concurrency=4, p99_ms=3.0, sla_p99_ms=5.0)
    res = dataclasses.replace(result("fp32", "fp32", None), measurements=[m1, m2], throughput_at_sla=best)

    records, _ = build_records([res], {}, {}, None)

    one, four = records
    assert one.id == "fp32/dev/b1" and four.id == "fp32/dev/b1c4" and four.concurrency == 4
    assert one.validity == validity and one.energy_above_idle_j_per_inference == 0.5
    assert one.inferences_per_joule_above_idle == 2.0
    assert one.layer_profile[0].op_type == "Conv" and one.memory is not None and one.memory.peak_rss_mib == 90.0
    assert one.input_shapes == {"image": [1, 1, 32, 32]}
    assert one.throughput_at_sla == four.throughput_at_sla == best
