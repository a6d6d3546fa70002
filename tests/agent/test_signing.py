"""Identity: Ed25519 signatures on every message that matters; key files never replaced or invented."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import pytest

from agent.errors import ProtocolError
from agent.protocol import AgentStatus, BenchmarkResult, JobState, ResultAck, decode, encode
from agent.signing import (
    MAX_CLOCK_SKEW_S,
    check_clock,
    create_private_key,
    load_private_key,
    load_public_key,
    public_key_path,
    sign,
    sign_job,
    verify,
    verify_job,
    write_public_key,
)
from tests.agent.test_protocol import make_job


@pytest.fixture(scope="module")
def host(tmp_path_factory):  # type: ignore[no-untyped-def]
    return create_private_key(tmp_path_factory.mktemp("host") / "host.key")


@pytest.fixture(scope="module")
def other(tmp_path_factory):  # type: ignore[no-untyped-def]
    return create_private_key(tmp_path_factory.mktemp("other") / "other.key")


def never_seen(_: str) -> bool:
    return False


def test_signed_job_verifies_with_the_public_key_only(host) -> None:  # type: ignore[no-untyped-def]
    verify_job(sign_job(make_job(), host), host.public, now=1500.0, seen=never_seen)


def test_tampered_job_fails_verification(host) -> None:  # type: ignore[no-untyped-def]
    forged = dataclasses.replace(sign_job(make_job(), host), batch_sizes=[1, 2, 4])
    with pytest.raises(ProtocolError, match="bad signature"):
        verify_job(forged, host.public, now=1500.0, seen=never_seen)


def test_a_job_signed_by_another_key_names_the_trusted_fingerprint(host, other) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ProtocolError, match=host.public.fingerprint):
        verify_job(sign_job(make_job(), other), host.public, now=1500.0, seen=never_seen)


def test_unsigned_job_is_refused(host) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ProtocolError, match="not signed"):
        verify_job(make_job(), host.public, now=1500.0, seen=never_seen)


def test_an_hmac_signed_job_of_the_old_protocol_is_refused(host) -> None:  # type: ignore[no-untyped-def]
    old = dataclasses.replace(sign_job(make_job(), host), signature_alg="hmac-sha256")
    with pytest.raises(ProtocolError, match="accepts ed25519"):
        verify_job(old, host.public, now=1500.0, seen=never_seen)


def test_expired_future_and_replayed_jobs_are_refused(host) -> None:  # type: ignore[no-untyped-def]
    signed = sign_job(make_job(), host)
    with pytest.raises(ProtocolError, match="expired"):
        verify_job(signed, host.public, now=2500.0, seen=never_seen)
    with pytest.raises(ProtocolError, match="future"):
        verify_job(signed, host.public, now=1000.0 - MAX_CLOCK_SKEW_S - 1, seen=never_seen)
    verify_job(signed, host.public, now=1000.0 - MAX_CLOCK_SKEW_S + 1, seen=never_seen)  # within the tolerance
    with pytest.raises(ProtocolError, match="replay"):
        verify_job(signed, host.public, now=1500.0, seen=lambda _: True)


def test_signature_survives_the_wire_when_floats_were_given_as_ints(host) -> None:  # type: ignore[no-untyped-def]
    signed = sign_job(make_job(deadline_s=120, issued_at=1000), host)
    verify_job(decode(type(signed), encode(signed)), host.public, now=1500.0, seen=never_seen)


def test_a_signature_is_bound_to_the_message_type(host) -> None:  # type: ignore[no-untyped-def]
    """Two message types with the same fields must not share signatures (a job state is no result)."""
    status = sign(AgentStatus("dev-1", "online", ts=1.0), host)
    verify(status, host.public, "status")
    forged = JobState("dev-1", "j1", "done", 1.0, signature=status.signature)
    with pytest.raises(ProtocolError, match="bad signature"):
        verify(forged, host.public, "job state")


def test_an_ack_is_bound_to_its_device(host) -> None:  # type: ignore[no-untyped-def]
    ack = sign(ResultAck(["r1"], device_id="dev-a", ts=5.0), host)
    verify(ack, host.public, "ack")
    with pytest.raises(ProtocolError, match="bad signature"):
        verify(dataclasses.replace(ack, device_id="dev-b"), host.public, "ack")


def test_result_signed_by_device_verifies_after_the_wire(host, other) -> None:  # type: ignore[no-untyped-def]
    result = BenchmarkResult("r1", "j1", "run", "v", "dev-1", "ok", "onnxruntime", "fp32", 1, 2, "0")
    signed = decode(BenchmarkResult, encode(sign(result, other)))
    verify(signed, other.public, "result")
    with pytest.raises(ProtocolError, match="bad signature"):
        verify(signed, host.public, "result")
    with pytest.raises(ProtocolError, match="bad signature"):
        verify(dataclasses.replace(signed, environment={"fake": 1}), other.public, "result")


def test_clock_tolerance() -> None:
    check_clock(100.0 + MAX_CLOCK_SKEW_S, 100.0, "x")
    with pytest.raises(ProtocolError, match="future"):
        check_clock(101.0 + MAX_CLOCK_SKEW_S, 100.0, "x")


def test_key_files_round_trip_and_the_private_one_is_private(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "device.key"
    key = create_private_key(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_private_key(path).public == key.public
    assert load_public_key(public_key_path(path)) == key.public
    assert key.public.fingerprint.startswith("sha256:") and len(key.public.fingerprint) == 23


def test_an_existing_key_is_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "host.key"
    first = create_private_key(path)
    with pytest.raises(ProtocolError, match="already exists"):
        create_private_key(path)
    assert load_private_key(path, create=True).public == first.public
    other = create_private_key(tmp_path / "other.key")
    with pytest.raises(ProtocolError, match="already holds another public key"):
        write_public_key(other.public, public_key_path(path))


def test_a_missing_key_file_is_an_error_unless_asked_to_create_one(tmp_path: Path) -> None:
    """A mistyped path used to mint a new key silently, which every agent then refused."""
    with pytest.raises(ProtocolError, match="does not exist"):
        load_private_key(tmp_path / "hots.key")
    assert not (tmp_path / "hots.key").exists()
    created = load_private_key(tmp_path / "host.key", create=True)
    assert load_private_key(tmp_path / "host.key").public == created.public


def test_unusable_key_files_name_the_file_and_the_fix(tmp_path: Path) -> None:
    hmac_key = tmp_path / "job.key"
    hmac_key.write_text("ab" * 32 + "\n")
    with pytest.raises(ProtocolError, match="shared HMAC key"):
        load_private_key(hmac_key)
    garbage = tmp_path / "x.pub"
    garbage.write_text("not a key")
    with pytest.raises(ProtocolError, match=str(garbage)):
        load_public_key(garbage)
    private = create_private_key(tmp_path / "d.key")
    with pytest.raises(ProtocolError, match="is a private key"):
        load_public_key(private.path)  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match="cannot read"):
        load_public_key(tmp_path / "missing.pub")


def test_decode_verified_takes_the_wire_form_and_any_other_serialisation_but_no_change(host) -> None:  # type: ignore[no-untyped-def]
    import json

    from agent.signing import decode_verified

    result = sign(BenchmarkResult("r1", "j1", "run", "v", "dev-1", "ok", "onnxruntime", "fp32", 1, 2, "0"), host)
    wire = encode(result)
    assert decode_verified(BenchmarkResult, wire, host.public, "result") == result  # the cut-out fast path
    spaced = json.dumps(json.loads(wire), indent=1).encode()  # written another way: the re-serialising path
    assert decode_verified(BenchmarkResult, spaced, host.public, "result") == result
    tampered = wire.replace(b'"status":"ok"', b'"status":"failed"')
    with pytest.raises(ProtocolError, match="bad signature"):
        decode_verified(BenchmarkResult, tampered, host.public, "result")
    # the signature member copied into a nested object, to confuse the cut: still refused
    member = b'"signature":"' + result.signature.encode() + b'",'
    doubled = wire.replace(b'"environment":{}', b'"environment":{' + member + b'"x":1}')
    with pytest.raises(ProtocolError, match="bad signature"):
        decode_verified(BenchmarkResult, doubled, host.public, "result")
    with pytest.raises(ProtocolError, match="not signed"):
        decode_verified(BenchmarkResult, encode(dataclasses.replace(result, signature="")), host.public, "result")
