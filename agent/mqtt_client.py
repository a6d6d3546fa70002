"""The paho-mqtt client both ends use: MQTT 3.1.1, credentials and TLS.

paho-mqtt 2.x needs ``CallbackAPIVersion`` as the first argument (design.md); every callback here is
of the VERSION2 shape ``(client, userdata, flags, reason_code, properties)``.

Credentials come from a file (``--broker-credentials``) or the environment
(``EDGEPROF_MQTT_USERNAME`` / ``EDGEPROF_MQTT_PASSWORD``), so that they appear neither in process
arguments nor in any database; a user:pass in the broker URL still works, at that cost. TLS takes a
CA file and, for brokers that authenticate clients by certificate, a client certificate and key.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from agent.errors import ProtocolError

USERNAME_ENV = "EDGEPROF_MQTT_USERNAME"
PASSWORD_ENV = "EDGEPROF_MQTT_PASSWORD"


@dataclasses.dataclass(frozen=True)
class BrokerSecurity:
    """How to authenticate to the broker and check it: credentials, CA file, client certificate."""

    username: Optional[str] = None
    password: Optional[str] = dataclasses.field(default=None, repr=False)
    ca_file: Optional[Path] = None
    cert_file: Optional[Path] = None
    key_file: Optional[Path] = None

    @property
    def tls(self) -> bool:
        return self.ca_file is not None or self.cert_file is not None

    def env(self) -> Dict[str, str]:
        """The credentials as environment variables, for a child process (never its arguments)."""
        out = {}
        if self.username:
            out[USERNAME_ENV] = self.username
        if self.password:
            out[PASSWORD_ENV] = self.password
        return out

    def args(self) -> list:
        """The TLS file options for a child ``edgeprof-agent run`` (paths only, never secrets)."""
        out = []
        for flag, value in (("--broker-ca", self.ca_file), ("--broker-cert", self.cert_file)):
            if value is not None:
                out += [flag, str(value)]
        if self.key_file is not None:
            out += ["--broker-key", str(self.key_file)]
        return out


def read_credentials_file(path: Path) -> Dict[str, str]:
    """``username=...`` and ``password=...`` lines (``#`` comments allowed); ProtocolError when unusable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ProtocolError("cannot read broker credentials file %s: %s" % (path, exc.strerror or exc)) from None
    found = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or key.strip() not in ("username", "password"):
            raise ProtocolError(
                "broker credentials file %s line %d: expected username=NAME or password=SECRET" % (path, n)
            )
        found[key.strip()] = value.strip()
    if "username" not in found:
        raise ProtocolError("broker credentials file %s has no username= line" % path)
    return found


def broker_security(
    broker: Mapping[str, Any],
    credentials_file: Optional[Path] = None,
    ca_file: Optional[Path] = None,
    cert_file: Optional[Path] = None,
    key_file: Optional[Path] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> BrokerSecurity:
    """Credentials from the file, else the environment, else the URL; TLS files checked to exist."""
    env = os.environ if environ is None else environ
    username, password = broker.get("username"), broker.get("password")
    if env.get(USERNAME_ENV):
        username, password = env.get(USERNAME_ENV), env.get(PASSWORD_ENV)
    if credentials_file is not None:
        creds = read_credentials_file(credentials_file)
        username, password = creds["username"], creds.get("password")
    for flag, value in (("--broker-ca", ca_file), ("--broker-cert", cert_file), ("--broker-key", key_file)):
        if value is not None and not Path(value).is_file():
            raise ProtocolError("%s %s: no such file" % (flag, value))
    if key_file is not None and cert_file is None:
        raise ProtocolError("--broker-key needs --broker-cert (the client certificate it belongs to)")
    return BrokerSecurity(username, password, ca_file, cert_file, key_file)


def make_client(
    broker: Dict[str, Any],
    client_id: str,
    clean_session: bool,
    max_reconnect_delay_s: int = 30,
    security: Optional[BrokerSecurity] = None,
) -> Any:
    """A configured, unconnected client for ``broker`` (as returned by ``parse_broker_url``)."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean_session,
        protocol=mqtt.MQTTv311,
    )
    security = security or broker_security(broker, environ={})
    if security.username:
        client.username_pw_set(security.username, security.password)
    if broker.get("tls") or security.tls:
        client.tls_set(
            ca_certs=str(security.ca_file) if security.ca_file else None,
            certfile=str(security.cert_file) if security.cert_file else None,
            keyfile=str(security.key_file) if security.key_file else None,
        )
    client.reconnect_delay_set(min_delay=1, max_delay=max_reconnect_delay_s)
    return client


def detach(client: Any) -> None:
    """Drop the client's callbacks: it breaks the client <-> bound-method cycle, so reference counting,
    not the cyclic GC, frees the client, whose ``__del__`` then closes paho's internal socket pair."""
    client.on_connect = client.on_disconnect = client.on_message = None
