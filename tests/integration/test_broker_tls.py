"""TLS to the broker with a CA file and client certificates: a real Mosquitto that requires a client
certificate, certificates made for the test with ``cryptography``; the host connects with
``--broker-ca``/``--broker-cert``/``--broker-key``, a client without a certificate does not."""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.mqtt_client import broker_security
from agent.protocol import parse_broker_url
from agent.signing import create_private_key
from pipeline.dispatch.keyring import Keyring
from pipeline.dispatch.mqtt_host import MQTTHost
from pipeline.errors import BrokerError
from pipeline.results_db import ResultsDB

pytestmark = [pytest.mark.integration, pytest.mark.mqtt]


def _write_key_and_cert(folder: Path, name: str, subject: str, issuer=None, ca: bool = False):  # type: ignore[no-untyped-def]
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_cert, issuer_key = issuer or (None, key)
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject_name)
        .issuer_name(issuer_cert.subject if issuer_cert else subject_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    cert = builder.sign(issuer_key, hashes.SHA256())
    (folder / f"{name}.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (folder / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    for suffix in ("key", "crt"):
        os.chmod(folder / f"{name}.{suffix}", 0o644)  # Mosquitto reads them as its own user
    return cert, key


@pytest.fixture()
def tls_broker() -> Iterator[tuple[str, Path]]:
    if shutil.which("mosquitto") is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto; .ci/run installs it)")
    from pipeline.broker import free_port
    from tests.conftest import _wait_port

    work = Path(tempfile.mkdtemp(prefix="edgeprof-tls-"))
    os.chmod(work, 0o777)
    ca = _write_key_and_cert(work, "ca", "edgeprof test CA", ca=True)
    _write_key_and_cert(work, "server", "localhost", issuer=ca)
    _write_key_and_cert(work, "client", "edgeprof-host", issuer=ca)
    port = free_port()
    (work / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\ncafile {work}/ca.crt\ncertfile {work}/server.crt\n"
        f"keyfile {work}/server.key\nrequire_certificate true\npersistence false\nlog_dest stderr\n"
    )
    os.chmod(work / "mosquitto.conf", 0o644)
    with open(work / "mosquitto.log", "wb") as log:
        proc = subprocess.Popen(["mosquitto", "-c", str(work / "mosquitto.conf")], stdout=log, stderr=log)
    try:
        if not _wait_port("127.0.0.1", port):
            raise RuntimeError("mosquitto did not start: " + (work / "mosquitto.log").read_text())
        yield f"mqtts://127.0.0.1:{port}", work
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


def test_the_host_connects_with_a_ca_and_a_client_certificate_and_not_without(tls_broker, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, certs = tls_broker
    db = ResultsDB(tmp_path / "r.db")
    key = create_private_key(tmp_path / "host.key")
    security = broker_security(
        parse_broker_url(url), ca_file=certs / "ca.crt", cert_file=certs / "client.crt", key_file=certs / "client.key"
    )
    host = MQTTHost(url, db, key, Keyring(None), security)
    try:
        host.connect(timeout_s=10)  # raises BrokerError if the handshake failed
    finally:
        host.close()
    no_cert = MQTTHost(url, db, key, Keyring(None), broker_security(parse_broker_url(url), ca_file=certs / "ca.crt"))
    with pytest.raises(BrokerError):
        no_cert.connect(timeout_s=3)
    no_cert.close()
    db.close()


def test_monitor_publishes_over_tls_with_the_run_commands_options_and_the_host_fetches_it(
    tls_broker, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    import json
    import sys

    from typer.testing import CliRunner

    from pipeline.cli import app as host_app

    url, certs = tls_broker
    tls = ["--broker-ca", str(certs / "ca.crt"), "--broker-cert", str(certs / "client.crt")]
    tls += ["--broker-key", str(certs / "client.key")]
    state = tmp_path / "state"
    create_private_key(state / "device.key")
    Keyring(tmp_path / "ring").enrol("tls-dev", state / "device.key.pub")
    base = [sys.executable, "-m", "agent.cli", "monitor", "--duration", "0.4s", "--interval", "200ms", "--broker", url]
    base += ["--device-id", "tls-dev", "--state-dir", str(state)]
    repo = Path(__file__).resolve().parents[2]
    env = {"PYTHONPATH": str(repo), "HOME": str(tmp_path)}
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # an idle machine's figure can be 0
    try:
        run = subprocess.run(
            base + tls + ["--pid", str(busy.pid)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
    finally:
        busy.kill()
        busy.wait()
    assert run.returncode == 0 and "acknowledged by the broker" in run.stdout, run.stdout + run.stderr
    out = tmp_path / "m.json"
    args = [
        "monitor-summary",
        "--broker",
        url,
        "--device",
        "tls-dev",
        "--out",
        str(out),
        "--keyring",
        str(tmp_path / "ring"),
    ]
    result = CliRunner().invoke(host_app, args + tls)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["samples"] == 2
    # without the client certificate the handshake fails: the summary stays in a file, exit 1
    no_cert = subprocess.run(
        base + tls[:2] + ["--publish-timeout", "5"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert no_cert.returncode == 1 and "not published" in no_cert.stderr, no_cert.stdout + no_cert.stderr
    assert len(list(tmp_path.glob("edgeprof-monitor-tls-dev-*.json"))) == 1
