"""Identity: an Ed25519 key pair per device and one for the host; every message that matters is signed.

The host signs jobs and acknowledgements with its private key; each device holds only the host's
public key, so a compromised device can sign nothing in the host's name. Each device signs its
results, status, job states, refusals and monitor summaries with its own private key; the host holds every enrolled
device's public key, so a client on the broker without that key cannot answer a job. A signature
covers the message's type name and its canonical JSON as the receiver decodes it, so a signature
made for one kind of message (a job state) is never valid for another (a result).

Key files are PEM (PKCS#8 private, SubjectPublicKeyInfo public), created with mode 600 for private
keys. An existing key file is never replaced, and a missing one is an error unless the caller asked
to create it: a mistyped path must not silently mint a key that nothing else trusts.

The shared HMAC key of edgeprof 0.1 (a hex file) is recognised and refused with the migration
step, never used: one key for the host and every device let any device sign for all of them.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Dict, Type, TypeVar

from agent.errors import ProtocolError
from agent.protocol import BenchmarkJob, decode, encode, from_dict, to_dict
from agent.protocol.codec import parse_json

ALG = "ed25519"
#: A message stamped this far in the future is refused: the clocks disagree too much to trust expiry.
#: Devices without an RTC battery need NTP; 300 s covers a drifting clock, not an unset one.
MAX_CLOCK_SKEW_S = 300.0
_DOMAIN = b"edgeprof-signed-v2\n"

M = TypeVar("M")


class SigningKey:
    """A private key: signs messages; ``public`` is what the other side verifies with."""

    def __init__(self, private: Any, path: Path | None = None) -> None:
        self._private = private
        self.path = path
        self.public = VerifyKey(private.public_key())

    def sign_bytes(self, data: bytes) -> str:
        return base64.b64encode(self._private.sign(data)).decode("ascii")

    def derive(self, label: str) -> str:
        """A stable secret derived from this key (hex): the device's MQTT client id suffix, for one."""
        from cryptography.hazmat.primitives import serialization

        raw = self._private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return hashlib.sha256(raw + b"\n" + label.encode()).hexdigest()


class VerifyKey:
    """A public key: verifies signatures; ``fingerprint`` is how people compare keys."""

    def __init__(self, public: Any, path: Path | None = None) -> None:
        self._public = public
        self.path = path

    @property
    def raw(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self._public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def fingerprint(self) -> str:
        """``sha256:`` and the first 16 hex digits of the raw public key's hash."""
        return "sha256:" + hashlib.sha256(self.raw).hexdigest()[:16]

    def pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self._public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def verify_bytes(self, signature: str, data: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature

        try:
            sig = base64.b64decode(signature.encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError):
            return False
        try:
            self._public.verify(sig, data)
        except InvalidSignature:
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VerifyKey) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)


# key files ---------------------------------------------------------------------------------------


def create_private_key(path: Path) -> SigningKey:
    """Write a new key pair: ``path`` (private, mode 600) and ``path`` with ``.pub`` (public).

    Refuses with ProtocolError when ``path`` exists: a key is never replaced silently."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = Path(path)
    if path.exists():
        raise ProtocolError(
            "key file %s already exists: it is kept (delete it yourself to replace it; everything "
            "enrolled with its public key must then be enrolled again)" % path
        )
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ProtocolError("key file %s appeared while it was being created: it is kept" % path) from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    key = SigningKey(private, path)
    write_public_key(key.public, public_key_path(path))
    return key


def public_key_path(private_path: Path) -> Path:
    """Where the public half of ``private_path`` is written: the same name plus ``.pub``."""
    return Path(str(private_path) + ".pub")


def load_private_key(path: Path, create: bool = False) -> SigningKey:
    """Read a private key file; with ``create``, make one where none exists.

    Raises ProtocolError naming the file and the fix: missing (without ``create``), unreadable,
    not an Ed25519 key, or an old shared HMAC key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = Path(path)
    if not path.exists():
        if create:
            return create_private_key(path)
        raise ProtocolError(
            "key file %s does not exist: check the path, or create it (`edgeprof keygen` on the host, "
            "`edgeprof-agent keygen` on a device, or --create-key)" % path
        )
    data = _read(path, "key file")
    _refuse_hmac(data, path)
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ProtocolError("key file %s is not a PEM private key: %s" % (path, exc)) from None
    if not isinstance(private, Ed25519PrivateKey):
        raise ProtocolError("key file %s holds a %s key; edgeprof uses Ed25519" % (path, type(private).__name__))
    return SigningKey(private, path)


def load_public_key(path: Path) -> VerifyKey:
    """Read a public key file (PEM); ProtocolError naming the file and the fix when unusable."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    path = Path(path)
    data = _read(path, "public key file")
    _refuse_hmac(data, path)
    if b"PRIVATE KEY" in data:
        raise ProtocolError(
            "%s is a private key: give the public one (%s), and never copy a private key to another machine"
            % (path, public_key_path(path).name)
        )
    try:
        public = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ProtocolError("public key file %s is not a PEM public key: %s" % (path, exc)) from None
    if not isinstance(public, Ed25519PublicKey):
        raise ProtocolError("%s holds a %s key; edgeprof uses Ed25519" % (path, type(public).__name__))
    return VerifyKey(public, path)


def write_public_key(key: VerifyKey, path: Path) -> None:
    """Write ``key`` to ``path`` (mode 644); an existing file holding another key is refused."""
    path = Path(path)
    if path.exists():
        if load_public_key(path) == key:
            return
        raise ProtocolError(
            "%s already holds another public key (%s): it is kept; delete it yourself to replace it"
            % (path, load_public_key(path).fingerprint)
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_bytes(key.pem())
    os.chmod(str(tmp), 0o644)
    os.replace(str(tmp), str(path))


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ProtocolError("cannot read %s %s: %s" % (what, path, exc.strerror or exc)) from None


def _refuse_hmac(data: bytes, path: Path) -> None:
    text = data.strip()
    if text and all(c in b"0123456789abcdefABCDEF" for c in text):
        raise ProtocolError(
            "%s is a shared HMAC key of edgeprof 0.1, which this version no longer trusts (any device "
            "holding it could sign for all of them): create the host's key pair with `edgeprof keygen`, "
            "one per device with `edgeprof-agent keygen`, and enrol them (see README, 'Identity')" % path
        )


# signing messages --------------------------------------------------------------------------------


def signed_bytes(message: Any) -> bytes:
    """What a signature covers: the type name and the canonical JSON of every field but the signature."""
    body = {k: v for k, v in to_dict(message).items() if k != "signature"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    return _DOMAIN + type(message).__name__.encode() + b"\n" + canonical


def sign(message: M, key: SigningKey) -> M:
    """``message`` with its ``signature`` set, signed as the receiver will decode it (ints in float
    fields become floats, and so on)."""
    extra = {"signature_alg": ALG} if hasattr(message, "signature_alg") else {}
    unsigned = dataclasses.replace(message, signature="", **extra)  # type: ignore[type-var]
    as_received = decode(type(unsigned), encode(unsigned))
    return dataclasses.replace(as_received, signature=key.sign_bytes(signed_bytes(as_received)))  # type: ignore[type-var]


def verify(message: Any, key: VerifyKey, what: str) -> None:
    """ProtocolError unless ``message`` carries a valid signature by ``key``; ``what`` names it."""
    signature = getattr(message, "signature", "")
    if not signature:
        raise ProtocolError("%s is not signed: refused" % what)
    if getattr(message, "signature_alg", ALG) != ALG:
        raise ProtocolError("%s is signed with %r; this side accepts %s only" % (what, message.signature_alg, ALG))
    if not key.verify_bytes(signature, signed_bytes(message)):
        raise ProtocolError("%s has a bad signature: it was not signed by the key enrolled for its sender" % what)


def decode_verified(cls: Type[M], payload: bytes, key: VerifyKey, what: str) -> M:
    """Decode a signed message and check its signature in one pass (the host's hot path).

    Equivalent to ``verify(decode(cls, payload), key, what)``."""
    return from_dict(cls, verified_json(cls, payload, key, what))


def verified_json(cls: type, payload: bytes, key: VerifyKey, what: str) -> Dict[str, Any]:
    """The JSON object of a signed ``cls`` message, once its signature checked out; ProtocolError if not.

    What a signer signs is the canonical JSON of every field but the signature, and
    :func:`~agent.protocol.encode` writes exactly that with the signature member in its sorted place:
    cutting that member out of the payload gives the signed bytes without serialising anything again.
    A payload written another way (spaces, other order) is checked by re-serialising it."""
    data = parse_json(payload)
    if not isinstance(data, dict):
        raise ProtocolError("%s is not a JSON object" % what)
    signature = data.get("signature", "")
    if not isinstance(signature, str) or not signature:
        raise ProtocolError("%s is not signed: refused" % what)
    head = _DOMAIN + cls.__name__.encode() + b"\n"
    member = ('"signature":"%s"' % signature).encode()
    raw = bytes(payload)
    for cut in (member + b",", b"," + member):
        if raw.count(cut) == 1 and key.verify_bytes(signature, head + raw.replace(cut, b"")):
            return data
    body = {k: v for k, v in data.items() if k != "signature"}
    try:
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    except ValueError as exc:
        raise ProtocolError("%s: %s" % (what, exc)) from None
    if not key.verify_bytes(signature, head + canonical):
        raise ProtocolError("%s has a bad signature: it was not signed by the key enrolled for its sender" % what)
    return data


def check_clock(ts: float, now: float, what: str) -> None:
    """ProtocolError when ``ts`` is more than :data:`MAX_CLOCK_SKEW_S` ahead of ``now``."""
    if ts > now + MAX_CLOCK_SKEW_S:
        raise ProtocolError(
            "%s is stamped %.0f s in the future (tolerance %.0f s): check the clocks (NTP)"
            % (what, ts - now, MAX_CLOCK_SKEW_S)
        )


def sign_job(job: BenchmarkJob, key: SigningKey) -> BenchmarkJob:
    return sign(job, key)


def verify_job(job: BenchmarkJob, host_key: VerifyKey, now: float, seen: Callable[[str], bool]) -> None:
    """ProtocolError unless the job is signed by the host's key, unexpired, not from the future, new."""
    what = "job %s" % job.job_id
    try:
        verify(job, host_key, what)
    except ProtocolError as exc:
        if "bad signature" in str(exc):
            raise ProtocolError(
                "%s has a bad signature: it was not issued by the host whose public key this device holds "
                "(%s); if the host's key changed, enrol it again with `edgeprof-agent enrol --host-key FILE`"
                % (what, host_key.fingerprint)
            ) from None
        raise
    if job.expires_at < now:
        raise ProtocolError(
            "%s expired %.0f s ago (if the host sent it just now, this device's clock is wrong: "
            "expiry is checked on this device's clock without tolerance, a job stamped up to %.0f s in "
            "the future is accepted; a board without an RTC battery needs NTP)"
            % (what, now - job.expires_at, MAX_CLOCK_SKEW_S)
        )
    check_clock(job.issued_at, now, what)
    if seen(job.job_id):
        raise ProtocolError("%s was already received: replay refused" % what)
