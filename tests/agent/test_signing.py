"""Job signatures: only the key holder can issue jobs; expired, future and replayed jobs are refused."""

from __future__ import annotations

import dataclasses
import os
import stat

import pytest

from agent.errors import ProtocolError
from agent.signing import create_key, load_key, sign_job, verify_job
from tests.agent.test_protocol import make_job

KEY = b"k" * 32


def test_signed_job_verifies() -> None:
    verify_job(sign_job(make_job(), KEY), KEY, now=1500.0, seen=lambda _: False)


def test_tampered_job_fails_verification() -> None:
    signed = sign_job(make_job(), KEY)
    forged = dataclasses.replace(signed, batch_sizes=[1, 2, 4])
    with pytest.raises(ProtocolError, match="bad signature"):
        verify_job(forged, KEY, now=1500.0, seen=lambda _: False)


def test_other_key_fails_verification() -> None:
    with pytest.raises(ProtocolError, match="bad signature"):
        verify_job(sign_job(make_job(), b"x" * 32), KEY, now=1500.0, seen=lambda _: False)


def test_expired_future_and_replayed_jobs_are_refused() -> None:
    signed = sign_job(make_job(), KEY)
    with pytest.raises(ProtocolError, match="expired"):
        verify_job(signed, KEY, now=2500.0, seen=lambda _: False)
    with pytest.raises(ProtocolError, match="future"):
        verify_job(signed, KEY, now=100.0, seen=lambda _: False)
    with pytest.raises(ProtocolError, match="replay"):
        verify_job(signed, KEY, now=1500.0, seen=lambda _: True)


def test_key_file_round_trip_is_private(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "sub" / "job.key"
    key = create_key(path)
    assert load_key(path) == key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_bad_key_file_names_the_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "job.key"
    path.write_text("not hex")
    with pytest.raises(ProtocolError, match=str(path)):
        load_key(path)
    with pytest.raises(ProtocolError, match="cannot read"):
        load_key(tmp_path / "missing.key")


def test_signature_survives_the_wire_when_floats_were_given_as_ints() -> None:
    from agent.protocol import decode, encode

    signed = sign_job(make_job(deadline_s=120, issued_at=1000), KEY)
    verify_job(decode(type(signed), encode(signed)), KEY, now=1500.0, seen=lambda _: False)
