"""The host's identity and the devices it trusts: its key pair and one public key per enrolled device.

Enrolment (``edgeprof fleet enrol DEVICE_ID PUBKEY_FILE``) copies a device's public key into the
keyring folder as ``<device_id>.pub``; results, status, job states and refusals from a device are
believed only when that key verifies them. A device's key is never replaced silently: enrolling a
different key for a known id is refused unless the caller says ``replace``.
"""

from __future__ import annotations

import threading
from pathlib import Path

from agent.errors import ProtocolError
from agent.protocol import check_device_id
from agent.signing import SigningKey, VerifyKey, load_private_key, load_public_key, write_public_key
from pipeline.errors import InputError

CONFIG_DIR = Path.home() / ".config" / "edgeprof"
DEFAULT_HOST_KEY = CONFIG_DIR / "host.key"
DEFAULT_KEYRING = CONFIG_DIR / "devices"


def load_host_key(path: Path, create: bool) -> SigningKey:
    """The host's private key; InputError naming the file and the fix when it is missing or bad."""
    try:
        return load_private_key(path, create=create)
    except ProtocolError as exc:
        raise InputError(str(exc)) from None


class Keyring:
    """Enrolled device public keys from ``folder`` (re-read on a miss, so a device enrolled while a
    run waits is picked up), plus keys added in memory (the local agent of a run)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = Path(folder) if folder is not None else None
        self._keys: dict[str, VerifyKey] = {}
        self._lock = threading.Lock()

    def path_for(self, device_id: str) -> Path:
        if self.folder is None:
            raise InputError("this run has no keyring folder to enrol devices into")
        return self.folder / f"{check_device_id(device_id)}.pub"

    def get(self, device_id: str) -> VerifyKey | None:
        with self._lock:
            key = self._keys.get(device_id)
        if key is not None or self.folder is None:
            return key
        path = self.folder / f"{device_id}.pub"
        if not path.exists():
            return None
        key = load_public_key(path)
        with self._lock:
            self._keys[device_id] = key
        return key

    def add(self, device_id: str, key: VerifyKey) -> None:
        """Trust ``key`` for ``device_id`` for this process only (refused if another key is known)."""
        known = self.get(device_id)
        if known is not None and known != key:
            raise InputError(
                f"{device_id} is enrolled with key {known.fingerprint}, not {key.fingerprint}: kept; "
                f"`edgeprof fleet enrol {device_id} FILE --replace` replaces it"
            )
        with self._lock:
            self._keys[device_id] = key

    def enrol(self, device_id: str, public_key_file: Path, replace: bool = False) -> VerifyKey:
        """Copy the device's public key into the folder; InputError if unusable or a different key
        is enrolled for that id and ``replace`` is false."""
        try:
            key = load_public_key(public_key_file)
            target = self.path_for(device_id)
            if replace and target.exists() and load_public_key(target) != key:
                target.unlink()
            write_public_key(key, target)
        except ProtocolError as exc:
            message = str(exc)
            if "already holds another public key" in message:
                message += f"; pass --replace if {device_id} really has a new key"
            raise InputError(message) from None
        with self._lock:
            self._keys[device_id] = key
        return key

    def enrolled(self) -> dict[str, VerifyKey]:
        """Every device id with a key, from the folder and memory."""
        if self.folder is not None and self.folder.is_dir():
            for path in sorted(self.folder.glob("*.pub")):
                try:
                    self.get(path.stem)
                except ProtocolError:
                    continue
        with self._lock:
            return dict(self._keys)
