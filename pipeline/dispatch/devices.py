"""Dispatch to devices named on the command line: agents already running elsewhere."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.dispatch.base import Dispatcher
from pipeline.dispatch.mqtt_host import MQTTHost


class NamedDevices(Dispatcher):
    """Jobs go to the devices ``ids`` (each must be an agent connected to the same broker)."""

    def __init__(self, host: MQTTHost, ids: Sequence[str]) -> None:
        super().__init__(host)
        self._ids = list(dict.fromkeys(ids))

    def device_ids(self) -> list[str]:
        return list(self._ids)
