"""Job signatures: the agent runs only jobs signed by its host, unexpired and not seen before.

HMAC-SHA256 over the job's canonical JSON with a key shared by host and agent (a file each side
reads). ``signature_alg`` is in the message so that Ed25519 (host keeps the private key, devices
hold only the public key) can be added without a protocol break.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any, Callable, Dict

from agent.errors import ProtocolError
from agent.protocol import BenchmarkJob, ResultAck, decode, encode, to_dict

ALG = "hmac-sha256"
#: A job issued this far in the future is refused: the two clocks disagree too much to trust expiry.
MAX_CLOCK_SKEW_S = 300.0


def load_key(path: Path) -> bytes:
    """Read a key file (hex text). Raise ProtocolError naming the file when unusable."""
    try:
        text = Path(path).read_text().strip()
    except OSError as exc:
        raise ProtocolError("cannot read job key file %s: %s" % (path, exc.strerror or exc)) from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ProtocolError(
            "job key file %s does not hold a hex key: create one with `edgeprof keygen`" % path
        ) from None
    if len(key) < 16:
        raise ProtocolError("job key in %s is shorter than 16 bytes" % path)
    return key


def create_key(path: Path) -> bytes:
    """Write a new random 32-byte key readable by its owner only."""
    key = secrets.token_bytes(32)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex() + "\n")
    return key


def _canonical(job_dict: Dict[str, Any]) -> bytes:
    body = {k: v for k, v in job_dict.items() if k not in ("signature",)}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def sign_job(job: BenchmarkJob, key: bytes) -> BenchmarkJob:
    # Sign the job as the agent will decode it (ints in float fields become floats, and so on).
    unsigned = decode(BenchmarkJob, encode(dataclasses.replace(job, signature="", signature_alg=ALG)))
    mac = hmac.new(key, _canonical(to_dict(unsigned)), hashlib.sha256).hexdigest()
    return dataclasses.replace(unsigned, signature=mac)


def verify_job(job: BenchmarkJob, key: bytes, now: float, seen: Callable[[str], bool]) -> None:
    """Raise ProtocolError if the job is not signed by ``key``, expired, from the future, or replayed."""
    if job.signature_alg != ALG:
        raise ProtocolError(
            "job %s uses signature algorithm %r; this agent accepts %s" % (job.job_id, job.signature_alg, ALG)
        )
    expected = hmac.new(key, _canonical(to_dict(job)), hashlib.sha256).hexdigest()
    if not job.signature or not hmac.compare_digest(expected, job.signature):
        raise ProtocolError(
            "job %s has a bad signature: it was not issued by a host holding this agent's key" % job.job_id
        )
    if job.expires_at < now:
        raise ProtocolError(
            "job %s expired %.0f s ago (if the host sent it just now, this device's clock is wrong: "
            "a board without an RTC battery needs NTP)" % (job.job_id, now - job.expires_at)
        )
    if job.issued_at > now + MAX_CLOCK_SKEW_S:
        raise ProtocolError(
            "job %s was issued %.0f s in the future: check the clocks" % (job.job_id, job.issued_at - now)
        )
    if seen(job.job_id):
        raise ProtocolError("job %s was already received: replay refused" % job.job_id)


def sign_ack(ack: ResultAck, key: bytes) -> ResultAck:
    unsigned = dataclasses.replace(ack, signature="")
    return dataclasses.replace(
        unsigned, signature=hmac.new(key, _canonical(to_dict(unsigned)), hashlib.sha256).hexdigest()
    )


def verify_ack(ack: ResultAck, key: bytes) -> None:
    """Raise ProtocolError unless ``ack`` was signed with ``key`` (acks delete results from the outbox)."""
    expected = hmac.new(key, _canonical(to_dict(ack)), hashlib.sha256).hexdigest()
    if not ack.signature or not hmac.compare_digest(expected, ack.signature):
        raise ProtocolError("an acknowledgement with a bad signature was ignored: results stay in the outbox")
