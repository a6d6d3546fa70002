"""The harness on a real runtime: window minimums, percentiles, throughput arithmetic, accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from agent.harness import EvalSet, evaluate_accuracy, latency_stats, measure, run_window
from agent.power.base import PowerSample, PowerSensor
from agent.runtimes import LocalArtifact
from agent.runtimes.ort_runtime import ORTRuntime
from pipeline.demo_model import DEMO_EVAL_PATH, DEMO_MODEL_PATH


@pytest.fixture(scope="module")
def runtime():  # type: ignore[no-untyped-def]
    rt = ORTRuntime({"intra_op_num_threads": 1})
    rt.load(LocalArtifact.onnx(DEMO_MODEL_PATH))
    return rt


@pytest.fixture(scope="module")
def evalset() -> EvalSet:
    with np.load(DEMO_EVAL_PATH) as npz:
        return EvalSet({"image": npz["image"][:64]}, labels=npz["labels"][:64])


def test_latency_percentiles_match_numpy() -> None:
    lat = [0.001 * i for i in range(1, 101)]
    s = latency_stats(lat)
    assert s.p50 == pytest.approx(50.5)
    assert s.p99 == pytest.approx(np.percentile(np.arange(1, 101), 99))
    assert s.min == pytest.approx(1.0) and s.max == pytest.approx(100.0)


def test_window_meets_both_minimums(runtime, evalset) -> None:  # type: ignore[no-untyped-def]
    batches = [evalset.batch(0, 1)]
    w = run_window(runtime, batches, min_duration_s=0.2, min_queries=5)
    assert w["wall_s"] >= 0.2 and len(w["latencies_s"]) >= 5
    assert w["t1"] - w["t0"] >= 0.2
    w = run_window(runtime, batches, min_duration_s=0.01, min_queries=300)
    assert len(w["latencies_s"]) >= 300


def test_measure_throughput_is_samples_over_window(runtime, evalset) -> None:  # type: ignore[no-untyped-def]
    m = measure(runtime, evalset, 4, warmup_s=0.05, min_duration_s=0.3, min_queries=10)
    assert m.samples == m.queries * 4
    assert m.throughput_ips == pytest.approx(m.samples / m.duration_s)
    assert m.valid and m.power is None and m.inferences_per_joule is None
    assert m.latency_ms.p50 <= m.latency_ms.p90 <= m.latency_ms.p99 <= m.latency_ms.max


class _ConstantSensor(PowerSensor):
    """A sensor at a known constant power, to check the energy arithmetic end to end."""

    name = "constant"
    source = "test:constant"
    nominal_rate_hz = 200.0

    def read(self) -> PowerSample:
        import time

        return PowerSample(time.monotonic(), power_w=10.0)


def test_energy_per_inference_from_a_known_power(runtime, evalset) -> None:  # type: ignore[no-untyped-def]
    from agent.power.sampler import PowerSampler

    sampler = PowerSampler(_ConstantSensor())
    sampler.start()
    try:
        m = measure(runtime, evalset, 2, warmup_s=0.05, min_duration_s=0.5, min_queries=5, sampler=sampler)
    finally:
        sampler.stop()
    assert m.power is not None and m.power.avg_w == pytest.approx(10.0)
    assert m.power.estimated is False
    assert m.energy_j_per_inference == pytest.approx(10.0 * m.duration_s / m.samples, rel=0.05)
    assert m.inferences_per_joule == pytest.approx(1.0 / m.energy_j_per_inference)


def test_accuracy_against_labels_and_reference(runtime, evalset) -> None:  # type: ignore[no-untyped-def]
    logits = runtime.infer(evalset.batch(0, 64))[0]
    data = EvalSet(evalset.inputs, labels=evalset.labels, reference=logits)
    acc = evaluate_accuracy(runtime, data, batch_size=8)
    assert acc.samples == 64
    assert acc.top1 == pytest.approx(float((logits.argmax(1) == evalset.labels).mean()))
    assert acc.agreement == pytest.approx(1.0) and acc.cosine == pytest.approx(1.0, abs=1e-5)
    flipped = EvalSet(evalset.inputs, labels=(evalset.labels + 1) % 10, reference=-logits)
    worse = evaluate_accuracy(runtime, flipped, batch_size=8)
    assert worse.top1 < 0.5 and worse.cosine < 0


def test_measurement_carries_the_conditions_around_its_window(runtime, evalset, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.agent.test_conditions import make_tree

    root = make_tree(tmp_path, {"cpu-thermal": 50000}, [2000000], {})
    m = measure(runtime, evalset, 1, warmup_s=0.01, min_duration_s=0.05, min_queries=2, sysfs_root=root)
    assert m.conditions_before == {"temp_c:cpu-thermal": 50.0, "cpu_mhz:max": 2000.0}
    assert m.conditions_after == m.conditions_before and m.throttled is False


def test_accuracy_on_a_model_with_a_fixed_batch_axis_pads_the_last_batch(evalset, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import onnx

    model = onnx.load(str(DEMO_MODEL_PATH))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 8
    model.graph.output[0].type.tensor_type.shape.dim[0].dim_value = 8
    fixed = tmp_path / "fixed8.onnx"
    onnx.save(model, str(fixed))
    rt = ORTRuntime()
    rt.load(LocalArtifact.onnx(fixed))
    data = EvalSet({"image": evalset.inputs["image"][:20]}, labels=evalset.labels[:20])
    acc = evaluate_accuracy(rt, data, batch_size=8)  # 8 + 8 + 4: the last batch is padded to 8
    assert acc.samples == 20 and acc.top1 is not None and acc.top1 > 0.9
