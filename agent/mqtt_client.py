"""The paho-mqtt client both ends use: MQTT 3.1.1, credentials and TLS from the broker URL.

paho-mqtt 2.x needs ``CallbackAPIVersion`` as the first argument (design.md); every callback here is
of the VERSION2 shape ``(client, userdata, flags, reason_code, properties)``.
"""

from __future__ import annotations

from typing import Any, Dict


def make_client(
    broker: Dict[str, Any],
    client_id: str,
    clean_session: bool,
    max_reconnect_delay_s: int = 30,
) -> Any:
    """A configured, unconnected client for ``broker`` (as returned by ``parse_broker_url``)."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean_session,
        protocol=mqtt.MQTTv311,
    )
    if broker.get("username"):
        client.username_pw_set(broker["username"], broker.get("password"))
    if broker.get("tls"):
        client.tls_set()
    client.reconnect_delay_set(min_delay=1, max_delay=max_reconnect_delay_s)
    return client


def detach(client: Any) -> None:
    """Drop the client's callbacks: it breaks the client <-> bound-method cycle, so reference counting,
    not the cyclic GC, frees the client, whose ``__del__`` then closes paho's internal socket pair."""
    client.on_connect = client.on_disconnect = client.on_message = None
