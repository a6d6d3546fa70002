"""The wire protocol: round trips, and refusal of malformed, oversized or foreign messages."""

from __future__ import annotations

import json

import pytest

from agent.errors import ProtocolError
from agent.protocol import (
    MAX_PAYLOAD_BYTES,
    PROTOCOL_VERSION,
    ArtifactRef,
    BenchmarkJob,
    BenchmarkResult,
    LatencyStats,
    Measurement,
    decode,
    device_id_from_topic,
    encode,
    job_topic,
    parse_broker_url,
)

SHA = "a" * 64


def make_job(**over: object) -> BenchmarkJob:
    fields = dict(
        job_id="j1",
        run_id="r1",
        variant_id="ort-fp32",
        device_id="dev-1",
        issued_at=1000.0,
        expires_at=2000.0,
        model=ArtifactRef(SHA, "http://127.0.0.1:1/artifacts/" + SHA, 10, "model/onnx"),
        runtime="onnxruntime",
        precision="fp32",
        batch_sizes=[1, 8],
    )
    fields.update(over)
    return BenchmarkJob(**fields)  # type: ignore[arg-type]


def test_job_round_trip_keeps_every_field() -> None:
    job = make_job(runtime_options={"intra_op_num_threads": 2}, sla_p99_ms=5.0)
    assert decode(BenchmarkJob, encode(job)) == job


def test_result_round_trip_with_nested_measurements() -> None:
    m = Measurement(
        batch_size=8,
        throughput_ips=100.0,
        latency_ms=LatencyStats(1, 2, 3, 1.5, 0.5, 4, 0.2),
        queries=10,
        samples=80,
        duration_s=2.0,
        valid=True,
        notes=["x"],
    )
    r = BenchmarkResult(
        result_id="r",
        job_id="j",
        run_id="run",
        variant_id="v",
        device_id="d",
        status="ok",
        runtime="onnxruntime",
        precision="fp32",
        started_at=1.0,
        finished_at=2.0,
        agent_version="0",
        measurements=[m],
    )
    back = decode(BenchmarkResult, encode(r))
    assert back == r
    assert isinstance(back.measurements[0].latency_ms.p50, float)


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d.pop("model"), "missing required field 'model'"),
        (lambda d: d.update(batch_sizes="8"), "batch_sizes: expected a list"),
        (lambda d: d.update(batch_sizes=[0]), "batch_sizes must be"),
        (lambda d: d.update(issued_at="now"), "issued_at: expected a number"),
        (lambda d: d.update(extra=1), "unknown field(s) extra"),
        (lambda d: d.update(device_id="../etc"), "device id"),
        (lambda d: d["model"].update(sha256="xyz"), "sha256"),
        (lambda d: d["model"].update(url="file:///etc/passwd"), "not http(s)"),
        (lambda d: d.update(schema_version=PROTOCOL_VERSION + 1), "schema_version"),
    ],
)
def test_malformed_job_is_refused_with_the_reason(mutate, fragment) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(encode(make_job()))
    mutate(data)
    with pytest.raises(ProtocolError) as info:
        decode(BenchmarkJob, json.dumps(data).encode())
    assert fragment in str(info.value)


def test_non_json_and_oversized_payloads_are_refused() -> None:
    with pytest.raises(ProtocolError, match="not valid UTF-8 JSON"):
        decode(BenchmarkJob, b"\xff\xfe garbage")
    with pytest.raises(ProtocolError, match="exceeds"):
        decode(BenchmarkJob, b" " * (MAX_PAYLOAD_BYTES + 1))


def test_bool_is_not_accepted_as_a_number() -> None:
    data = json.loads(encode(make_job()))
    data["min_queries"] = True
    with pytest.raises(ProtocolError, match="min_queries: expected an integer"):
        decode(BenchmarkJob, json.dumps(data))


def test_topics_round_trip_and_reject_foreign_topics() -> None:
    assert device_id_from_topic(job_topic("dev-1")) == "dev-1"
    with pytest.raises(ProtocolError):
        device_id_from_topic("other/devices/dev-1/jobs")
    with pytest.raises(ProtocolError):
        job_topic("a/b")


def test_broker_url_parsing() -> None:
    assert parse_broker_url("mqtt://127.0.0.1:1884")["port"] == 1884
    tls = parse_broker_url("mqtts://user:pw@broker.example")
    assert (tls["port"], tls["tls"], tls["username"], tls["password"]) == (8883, True, "user", "pw")
    with pytest.raises(ProtocolError, match="scheme"):
        parse_broker_url("http://x")


@pytest.mark.parametrize("job_id", ["../../etc/x", "/abs", "a" * 65, "dev\n", ".."])
def test_ids_that_would_escape_a_folder_or_topic_are_refused(job_id: str) -> None:
    data = json.loads(encode(make_job()))
    data["job_id"] = job_id
    with pytest.raises(ProtocolError, match="job id"):
        decode(BenchmarkJob, json.dumps(data))


def test_non_finite_and_absurdly_nested_payloads_are_protocol_errors() -> None:
    text = encode(make_job()).decode().replace('"deadline_s":600.0', '"deadline_s":NaN')
    assert "NaN" in text
    with pytest.raises(ProtocolError, match="NaN"):
        decode(BenchmarkJob, text)
    with pytest.raises(ProtocolError, match="nested too deeply"):
        decode(BenchmarkJob, "[" * 100_000 + "]" * 100_000)


def test_a_manifest_must_have_the_members_of_its_kind() -> None:
    from agent.protocol import ArtifactManifest, ManifestMember

    model = ManifestMember("model", "model.xml", "a" * 64, 10)
    weights = ManifestMember("weights", "model.bin", "b" * 64, 20)
    ok = ArtifactManifest("openvino-ir", [model, weights])
    assert ok.size_bytes == 30 and decode(ArtifactManifest, encode(ok)) == ok
    with pytest.raises(ProtocolError, match="needs member"):
        ArtifactManifest("openvino-ir", [model])
    with pytest.raises(ProtocolError, match="kind 'engine' is unknown"):
        ArtifactManifest("engine", [model])
    with pytest.raises(ProtocolError, match="file name twice"):
        ArtifactManifest("openvino-ir", [model, ManifestMember("weights", "model.xml", "b" * 64, 20)])
    with pytest.raises(ProtocolError, match="plain file name"):
        ManifestMember("model", "../etc/passwd", "a" * 64, 10)


def test_the_eval_layout_round_trips(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from agent.protocol import eval_data

    inputs = {"input_ids": np.arange(12, dtype=np.int64).reshape(3, 4), "mask": np.ones((3, 4), np.int64)}
    path = tmp_path / "eval.npz"
    eval_data.write_eval_set(path, inputs, reference=np.zeros((3, 2), np.float32), labels=np.array([0, 1, 0]))
    got, labels, reference = eval_data.read_eval_set(path)

    assert set(got) == set(inputs) and (got["input_ids"] == inputs["input_ids"]).all()
    assert labels.tolist() == [0, 1, 0] and reference.shape == (3, 2)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ProtocolError, match="unreadable"):
        eval_data.read_eval_set(tmp_path / "junk.npz")
