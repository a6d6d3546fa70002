"""The embedded demo broker: amqtt, in-process, on 127.0.0.1 only.

amqtt speaks MQTT 3.1.1 and, unconfigured, binds 0.0.0.0 with anonymous access; here it binds the
loopback address on a free port, so anonymous access reaches nobody beyond this machine. Real
deployments use Mosquitto (design.md); point ``--broker`` at it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from typing import Any

from pipeline.errors import BrokerError


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class EmbeddedBroker:
    """Start with ``start()`` (or as a context manager); ``url`` is then mqtt://127.0.0.1:PORT."""

    host = "127.0.0.1"

    def __init__(self, port: int = 0) -> None:
        self.port = port or free_port(self.host)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker: Any = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def _config(self) -> dict[str, Any]:
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            # Anonymous access is acceptable only because the listener is bound to loopback.
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            from amqtt.broker import Broker

            async def boot() -> None:
                self._broker = Broker(self._config())
                await self._broker.start()

            loop.run_until_complete(boot())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._started.set()
            loop.close()
            return
        self._started.set()
        loop.run_forever()
        loop.close()

    def start(self, timeout_s: float = 15.0) -> EmbeddedBroker:
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self._thread = threading.Thread(target=self._run, name="embedded-broker", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout_s):
            raise BrokerError(f"the embedded MQTT broker did not start within {timeout_s:.0f} s")
        if self._error is not None:
            raise BrokerError(
                f"the embedded MQTT broker could not start on {self.host}:{self.port}: {self._error}"
            ) from self._error
        return self

    def stop(self) -> None:
        loop, broker = self._loop, self._broker
        if loop is None or broker is None or not loop.is_running():
            return
        future = asyncio.run_coroutine_threadsafe(broker.shutdown(), loop)
        try:
            future.result(10)
        except Exception:  # noqa: S110 - shutting down; nothing left to protect
            logging.getLogger("edgeprof").debug("embedded broker shutdown raised", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def check_reachable(broker_url: str, timeout_s: float = 5.0) -> None:
    """BrokerError unless a TCP connection to the broker's host and port opens: checked before the
    output folder is touched, so an unreachable broker leaves nothing behind."""
    from agent.errors import ProtocolError
    from agent.protocol import parse_broker_url

    try:
        broker = parse_broker_url(broker_url)
    except ProtocolError as exc:
        raise BrokerError(str(exc)) from None
    where = f"{broker['host']}:{broker['port']}"
    try:
        socket.create_connection((broker["host"], broker["port"]), timeout=timeout_s).close()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise BrokerError(
            f"cannot reach the MQTT broker at {where}: {reason}. Start the broker, or check --broker "
            "(omit it to use the embedded one)"
        ) from None
