"""Sending the outbox: the results due go out alone or in signed batches, and the resend thread's
housekeeping (results no host acknowledged in time, the replay store) is done here.

A backlog goes in batches because one message and one signature check on the host per batch,
instead of per result, is what lets the host keep up when a fleet comes back.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from agent.errors import ProtocolError
from agent.outbox import AgentStore, batches
from agent.protocol import BenchmarkResult, ResultBatch, batch_topic, decode, encode, result_topic
from agent.signing import MAX_CLOCK_SKEW_S, SigningKey, sign

log = logging.getLogger("edgeprof.agent")


def publish_pending(
    client: Any, store: AgentStore, device_id: str, device_key: SigningKey, base_interval_s: float
) -> None:
    """Send the results due: one alone as it is (signed when it was stored), a backlog in batches
    signed with ``device_key``; each one the client took is marked sent."""
    for group in batches(store.pending_results(base_interval_s)):
        if len(group) == 1:
            info = client.publish(result_topic(device_id), group[0][1], qos=1)
        else:
            try:
                results = [decode(BenchmarkResult, payload) for _, payload in group]
            except ProtocolError as exc:  # written by another version: send them one by one
                log.warning("outbox results do not decode (%s): sent one by one", exc)
                for _, payload in group:
                    client.publish(result_topic(device_id), payload, qos=1)
                continue
            batch = sign(ResultBatch(device_id, results, time.time()), device_key)
            info = client.publish(batch_topic(device_id), encode(batch), qos=1)
        if info.rc == 0:
            for result_id, _ in group:
                store.mark_sent(result_id)


def drop_expired_results(store: AgentStore, result_retention_s: float) -> None:
    """Give up on results past their job's expiry plus the retention (a host that was killed is not
    waited for for ever), with a log line naming them."""
    dropped = store.drop_expired()
    if dropped:
        log.warning(
            "gave up on %d result(s) no host acknowledged within %.0f h of their job's expiry: %s",
            len(dropped),
            result_retention_s / 3600,
            ", ".join(dropped),
        )


def prune_replay_store(store: AgentStore) -> None:
    """Forget finished jobs past expiry plus the clock-skew tolerance (a replay is then refused as
    expired); the store holds only the ids that could still be replayed."""
    pruned = store.prune_jobs(MAX_CLOCK_SKEW_S)
    if pruned:
        log.info(
            "pruned %d finished job(s) past expiry + %.0f s from the replay store",
            pruned,
            MAX_CLOCK_SKEW_S,
            extra={"event": "replay_store_pruned"},
        )
