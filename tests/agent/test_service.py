"""The agent service without a broker: what it refuses, what it reports, bad stored jobs, slow children.

The MQTT client is the one boundary replaced here: its ``publish`` is recorded so that the tests see
exactly what the agent would send (the integration tests run the same paths against Mosquitto)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agent.outbox_sender import prune_replay_store
from agent.protocol import (
    MANIFEST_MEDIA_TYPE,
    ArtifactRef,
    BenchmarkResult,
    JobState,
    Refusal,
    ResultAck,
    ack_topic,
    decode,
    encode,
    job_topic,
    jobstate_topic,
    refusal_topic,
    result_topic,
)
from agent.service import AgentService
from agent.signing import create_private_key, sign, sign_job, verify
from tests.agent.test_protocol import make_job


class _Info:
    rc = 0

    def wait_for_publish(self, timeout: float) -> None:
        return None


class _Msg:
    def __init__(self, topic: str, payload: bytes) -> None:
        self.topic, self.payload = topic, payload


@pytest.fixture()
def keys(tmp_path: Path):  # type: ignore[no-untyped-def]
    return create_private_key(tmp_path / "host.key"), create_private_key(tmp_path / "state" / "device.key")


def make_service(tmp_path: Path, keys) -> tuple[AgentService, list[tuple[str, bytes]]]:  # type: ignore[no-untyped-def]
    host, device = keys
    # never connected: these tests drive the callbacks and the job loop directly
    service = AgentService("mqtt://127.0.0.1:9", "dev-1", tmp_path / "state", device, host.public)
    sent: list[tuple[str, bytes]] = []

    def publish(topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> Any:
        sent.append((topic, payload))
        return _Info()

    service._client.publish = publish
    return service, sent


def job_for(host, **over: object):  # type: ignore[no-untyped-def]
    now = time.time()
    fields: dict[str, object] = {"issued_at": now, "expires_at": now + 600, "device_id": "dev-1"}
    fields.update(over)
    return sign_job(make_job(**fields), host)


def refusals(sent: list[tuple[str, bytes]]) -> list[Refusal]:
    return [decode(Refusal, p) for t, p in sent if t == refusal_topic("dev-1")]


def test_a_stored_job_that_no_longer_decodes_is_dropped_not_retried_forever(tmp_path, keys) -> None:  # type: ignore[no-untyped-def]
    service, _ = make_service(tmp_path, keys)
    service.store.add_job("old", b'{"schema_version": 0}')
    assert service._run_one() is True
    assert service.store.queued_jobs() == 0
    assert service._run_one() is False


def test_a_child_past_its_deadline_is_killed(tmp_path, keys) -> None:  # type: ignore[no-untyped-def]
    service, _ = make_service(tmp_path, keys)
    service.runner.child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    start = time.monotonic()
    assert service.runner.wait_child(0.5) is None
    assert time.monotonic() - start < 10


def test_sensor_minimum_windows() -> None:
    from agent.worker import idle_seconds, sampler_window_s

    class Jtop:
        nominal_rate_hz = 2.0
        min_window_s = 0.0

    class NVMLEnergy:
        nominal_rate_hz = 10.0
        min_window_s = 1.0

    assert sampler_window_s(Jtop()) == 3.0  # five periods at 2 Hz, plus 20%
    assert sampler_window_s(NVMLEnergy()) == 1.2
    assert idle_seconds(Jtop()) == 3.0


def test_only_acks_signed_by_the_host_and_naming_this_device_delete_results(tmp_path, keys) -> None:  # type: ignore[no-untyped-def]
    host, device = keys
    service, sent = make_service(tmp_path, keys)
    service.store.add_job("j", b"")
    service.store.finish_job("j", "r1", b"{}")
    unsigned = ResultAck(["r1"], device_id="dev-1")
    service.inbox.on_message(None, None, _Msg(ack_topic("dev-1"), encode(unsigned)))
    # a compromised device holds only its own key: an ack it signs deletes nothing anywhere
    service.inbox.on_message(None, None, _Msg(ack_topic("dev-1"), encode(sign(unsigned, device))))
    # the host's genuine ack for another device, replayed onto this device's topic
    service.inbox.on_message(None, None, _Msg(ack_topic("dev-1"), encode(sign(ResultAck(["r1"], "dev-2"), host))))
    assert service.store.outbox_size() == 1, "an ack not meant for this device deleted a result"
    assert [r.subject for r in refusals(sent)] == ["ack", "ack", "ack"]
    service.inbox.on_message(None, None, _Msg(ack_topic("dev-1"), encode(sign(unsigned, host))))
    assert service.store.outbox_size() == 0


def test_a_refused_job_is_reported_signed_and_counted(tmp_path, keys) -> None:  # type: ignore[no-untyped-def]
    host, device = keys
    service, sent = make_service(tmp_path, keys)
    stranger = create_private_key(tmp_path / "stranger.key")
    forged = job_for(stranger, job_id="forged")
    service.inbox.on_message(None, None, _Msg(job_topic("dev-1"), encode(forged)))
    service.inbox.on_message(None, None, _Msg(job_topic("dev-1"), b"\x00not json"))
    [bad_sig, malformed] = refusals(sent)
    assert bad_sig.subject == "job" and bad_sig.subject_id == "forged" and "bad signature" in bad_sig.reason
    assert host.public.fingerprint in bad_sig.reason, "the refusal does not say which host key the device trusts"
    verify(bad_sig, device.public, "refusal")
    assert malformed.subject_id == "" and "JSON" in malformed.reason
    assert service.inbox.refusals.counts == {"bad_signature": 1, "malformed": 1}
    assert service.store.queued_jobs() == 0


def test_an_accepted_job_is_reported_with_its_state(tmp_path, keys) -> None:  # type: ignore[no-untyped-def]
    host, device = keys
    service, sent = make_service(tmp_path, keys)
    job = job_for(host)
    service.inbox.on_message(None, None, _Msg(job_topic("dev-1"), encode(job)))
    [state] = [decode(JobState, p) for t, p in sent if t == jobstate_topic("dev-1")]
    assert (state.job_id, state.state) == (job.job_id, "accepted")
    verify(state, device.public, "job state")
    assert service.store.queued_jobs() == 1


def test_disk_full_at_job_arrival_refuses_the_job_visibly(tmp_path, keys) -> None:  # type: ignore[no-untyped-def]
    """The landed agent swallowed the error in paho's callback and the job vanished."""
    host, _ = keys
    service, sent = make_service(tmp_path, keys)
    pages = service.store._db.execute("PRAGMA page_count").fetchone()[0]
    service.store._db.execute(f"PRAGMA max_page_count={pages}")  # SQLite's own 'database or disk is full'
    job = job_for(host, runtime_options={"pad": "x" * 20000})
    service.inbox.on_message(None, None, _Msg(job_topic("dev-1"), encode(job)))
    [refusal] = refusals(sent)
    assert refusal.subject_id == job.job_id and "disk is full" in refusal.reason and "not queued" in refusal.reason
    assert service.inbox.refusals.counts == {"storage": 1}


def test_disk_full_when_a_failed_result_is_stored_reports_once_instead_of_looping(tmp_path, keys) -> None:  # type: ignore[no-untyped-def]
    """Disk full during a download, then the outbox full too: the landed agent raised 'no transaction is
    active' from ROLLBACK and retried the job every second; now it sends the failure and sets the job aside."""
    from pipeline.artifact_server import ArtifactServer
    from pipeline.demo_model import DEMO_MODEL_PATH
    from pipeline.store import ArtifactStore

    host, device = keys
    service, sent = make_service(tmp_path, keys)
    store = ArtifactStore(tmp_path / "store")
    manifest = store.put_build("onnx", {"model": DEMO_MODEL_PATH}).manifest_object
    server = ArtifactServer(store).start()
    ref = ArtifactRef(manifest.sha256, server.url_for(manifest.sha256), manifest.size_bytes, MANIFEST_MEDIA_TYPE)
    job = job_for(host, model=ref)
    assert service.store.add_job(job.job_id, encode(job))
    partial = service.runner.cache.root / "partial" / (job.model.sha256 + ".part")
    partial.symlink_to("/dev/full")  # every write to it fails with ENOSPC, as on a full disk
    service.store.add_job("filler", b"")
    service.store.finish_job("filler", "r-filler", b"x" * 4000)  # the outbox's pages are full
    pages = service.store._db.execute("PRAGMA page_count").fetchone()[0]
    service.store._db.execute(f"PRAGMA max_page_count={pages}")
    try:
        assert service._run_one() is True
    finally:
        server.stop()
    failed = [decode(JobState, p) for t, p in sent if t == jobstate_topic("dev-1")][-1]
    assert failed.state == "failed" and "could not store the result" in failed.detail
    [result] = [decode(BenchmarkResult, p) for t, p in sent if t == result_topic("dev-1")]
    assert result.status == "failed" and result.job_id == job.job_id
    verify(result, device.public, "result")
    assert service._run_one() is False, "the job was claimed again right away"


def test_a_results_past_its_retention_is_dropped(tmp_path, keys) -> None:  # type: ignore[no-untyped-def]
    service, _ = make_service(tmp_path, keys)
    service.store.add_job("j", b"")
    service.store.finish_job("j", "r-old", b"{}", give_up_at=time.time() - 1)
    service.store.add_job("k", b"")
    service.store.finish_job("k", "r-new", b"{}", give_up_at=time.time() + 60)
    assert [r for r, _ in service.store.pending_results()] == ["r-new"]
    assert service.store.drop_expired() == ["r-old"]
    assert service.store.outbox_size() == 1


def test_the_client_id_is_stable_per_device_key_and_not_guessable_from_the_id(tmp_path, keys) -> None:  # type: ignore[no-untyped-def]
    service, _ = make_service(tmp_path, keys)
    again, _ = make_service(tmp_path, keys)
    assert service.client_id() == again.client_id()
    service.store.close()
    again.store.close()
    assert service.client_id() != "edgeprof-agent-dev-1" and service.client_id().startswith("edgeprof-agent-dev-1-")
    host, _ = keys
    other = AgentService("mqtt://127.0.0.1:9", "dev-1", tmp_path / "s2", create_private_key(tmp_path / "d2"), None)
    assert other.client_id() != service.client_id()
    other.store.close()


def test_status_and_last_will_are_signed_with_the_host_key_fingerprint(tmp_path, keys) -> None:  # type: ignore[no-untyped-def]
    host, device = keys
    service, sent = make_service(tmp_path, keys)
    service._publish_status()
    from agent.protocol import AgentStatus, status_topic

    [status] = [decode(AgentStatus, p) for t, p in sent if t == status_topic("dev-1")]
    verify(status, device.public, "status")
    assert status.host_key == host.public.fingerprint and status.state == "online"


def test_a_backlog_goes_out_as_one_signed_batch_of_signed_results(tmp_path, keys) -> None:  # type: ignore[no-untyped-def]
    from agent.protocol import ResultBatch, batch_topic

    host, device = keys
    service, sent = make_service(tmp_path, keys)
    for n in range(3):
        job = job_for(host, job_id=f"j{n}")
        result = BenchmarkResult(f"r{n}", job.job_id, "r1", "ort-fp32", "dev-1", "ok", "onnxruntime", "fp32", 1, 2, "0")
        service.store.add_job(job.job_id, encode(job))
        service._finish(job, result, "done")  # not connected: they wait in the outbox
    service._connected.set()
    sent.clear()
    service._publish_pending(0.0)  # back online: the backlog goes out in one batch
    [(topic, payload)] = sent
    batch = decode(ResultBatch, payload)
    assert topic == batch_topic("dev-1") and [r.result_id for r in batch.results] == ["r0", "r1", "r2"]
    verify(batch, device.public, "batch")
    for r in batch.results:
        verify(r, device.public, "result")


def test_a_job_left_running_by_a_crash_is_resumed_then_failed_explicitly(tmp_path, keys) -> None:  # type: ignore[no-untyped-def]
    host, _ = keys
    service, sent = make_service(tmp_path, keys)
    job = job_for(host)  # its artifact server is gone: the download fails fast
    service.store.add_job(job.job_id, encode(job))
    service.store.next_job()  # claimed, then the agent died (SIGKILL): the job is left 'running'
    service.store.close()

    again, sent = make_service(tmp_path, keys)  # the restarted agent
    assert again._run_one() is True
    states = [decode(JobState, p) for t, p in sent if t == jobstate_topic("dev-1")]
    assert (states[0].state, states[0].attempt) == ("accepted", 2) and "resumed" in states[0].detail
    assert states[-1].state == "failed"
    again.store.close()

    third, sent = make_service(tmp_path, keys)  # a job that keeps killing the agent is failed, not retried
    third.store.add_job("k", encode(job_for(host, job_id="k")))
    for _ in range(3):
        third.store.next_job()
    assert third._run_one() is True
    [result] = [decode(BenchmarkResult, p) for t, p in third.store.pending_results() if b'"job_id":"k"' in p]
    assert result.status == "failed" and "stopped during this job" in result.error
    third.store.close()


def test_the_replay_store_is_pruned_past_expiry_plus_the_skew_and_a_late_replay_is_refused(tmp_path, keys) -> None:  # type: ignore[no-untyped-def]
    from agent.signing import MAX_CLOCK_SKEW_S

    host, _ = keys
    service, sent = make_service(tmp_path, keys)
    job = job_for(host, expires_at=time.time() + 1.0)
    live = job_for(host, job_id="live")
    for j in (job, live):
        service.inbox.on_message(None, None, _Msg(job_topic("dev-1"), encode(j)))
    service.store.next_job()
    service.store.finish_job(job.job_id, "r1", b"{}")  # finished; "live" is still queued
    time.sleep(1.1)  # now expired, but by less than the tolerance
    prune_replay_store(service.store)
    assert service.store.known_jobs() == 2
    assert service.store.prune_jobs(MAX_CLOCK_SKEW_S, now=job.expires_at + MAX_CLOCK_SKEW_S + 1) == 1
    assert service.store.known_jobs() == 1 and service.store.job_seen("live")  # unfinished jobs stay
    service.inbox.on_message(None, None, _Msg(job_topic("dev-1"), encode(job)))  # replayed after pruning
    [late] = refusals(sent)
    assert late.subject_id == job.job_id and "expired" in late.reason and "300 s" in late.reason
    assert service.store.queued_jobs() == 1  # only "live"
