"""The accuracy loss a record carries (pipeline/accuracy_loss.py): which FP32 reference, the kind of
loss, and the notes that say so."""

from __future__ import annotations

from agent.protocol import AccuracyReport
from pipeline.accuracy_loss import HOST_REFERENCE_NOTE, NO_ACCURACY_NOTE, REFERENCE_ON_HOST
from pipeline.record import build_records

from .sample_results import result


def by_variant(records):
    return {r.variant_id: r for r in records}


def test_loss_is_against_the_fp32_measured_on_the_same_device() -> None:
    records, failed = build_records(
        [
            result("fp32", "fp32", AccuracyReport(samples=100, top1=0.98, agreement=1.0)),
            result("int8", "int8-static", AccuracyReport(samples=100, top1=0.95, agreement=0.96)),
        ],
        {},
        {},
        host_top1=0.99,
    )
    int8 = by_variant(records)["int8"]
    assert failed == []
    assert int8.accuracy is not None
    assert int8.accuracy.reference_top1 == 0.98
    assert abs(int8.accuracy.loss - 0.03) < 1e-12 and int8.accuracy.loss_kind == "top1"
    assert int8.accuracy.reference == "fp32 measured on dev"
    assert not int8.loss_is_fidelity
    assert HOST_REFERENCE_NOTE not in int8.notes


def test_without_labels_the_loss_is_fidelity_and_says_so() -> None:
    records, _ = build_records(
        [result("int8", "int8-static", AccuracyReport(samples=100, top1=None, agreement=0.9))], {}, {}, None
    )
    acc = records[0].accuracy
    assert acc is not None
    assert abs(acc.loss - 0.1) < 1e-12 and acc.loss_kind == "fidelity"
    assert "1 - top-1 agreement" in acc.reference
    assert records[0].loss_is_fidelity


def test_fp32_of_another_runtime_on_the_device_comes_before_the_host_figure() -> None:
    records, _ = build_records(
        [
            result("ov-fp32", "fp32", AccuracyReport(samples=100, top1=0.97), runtime="openvino"),
            result("int8", "int8-static", AccuracyReport(samples=100, top1=0.96)),
        ],
        {},
        {},
        host_top1=0.99,
    )
    acc = by_variant(records)["int8"].accuracy
    assert acc is not None and acc.reference_top1 == 0.97 and acc.reference == "fp32 measured on dev"


def test_the_host_figure_is_the_last_resort_and_a_note_says_so() -> None:
    records, _ = build_records(
        [result("int8", "int8-static", AccuracyReport(samples=100, top1=0.96), device="other")], {}, {}, 0.99
    )
    r = records[0]
    assert r.accuracy is not None and r.accuracy.reference_top1 == 0.99 and r.accuracy.reference == REFERENCE_ON_HOST
    assert abs(r.accuracy.loss - 0.03) < 1e-12
    assert HOST_REFERENCE_NOTE in r.notes


def test_no_accuracy_is_noted_and_gives_no_loss() -> None:
    records, _ = build_records([result("int8", "int8-static", None)], {}, {}, 0.99)
    assert records[0].accuracy is None and records[0].accuracy_loss is None
    assert NO_ACCURACY_NOTE in records[0].notes


def test_an_older_agents_result_level_accuracy_still_applies() -> None:
    res = result("int8", "int8-static", AccuracyReport(samples=100, top1=0.9), batches=(1, 8))
    records, _ = build_records([res], {}, {}, host_top1=0.95)
    assert all(r.accuracy is not None and r.accuracy.top1 == 0.9 for r in records)
