"""Load benchmark: a fleet of simulated agents sends results in bursts into the host's real ingestion path.

AGENTS simulated agents (default 200) each hold one MQTT connection to a real Mosquitto on loopback
and their own Ed25519 key, enrolled in the host's keyring. They are not the agent process: each is
a paho client in one "fleet" process that signs what an agent signs (its retained ``online``
status, then its results) with its own key and publishes it on its own topics. A result goes out
alone the moment its job would finish, as the agent sends a fresh result; BURSTS times, every agent
sends RESULTS / BURSTS results at once (with 200 agents and 100 results, bursts of 4,000 messages).
What is not acknowledged within RESEND_S is resent in signed batches, as the agent resends its
outbox, until everything is acknowledged; then the next burst starts after GAP_S.

The host is the real :class:`~pipeline.dispatch.mqtt_host.MQTTHost` over a results database
(SQLite, WAL, synchronous=FULL) in this process: it verifies every message against the sender's
enrolled key, stores results in batches off the network thread and acknowledges after each commit.
The benchmark asserts zero lost and zero stored twice, and writes the ingestion rate per burst and
the host's peak memory (``resource.getrusage`` peak RSS; with ``--tracemalloc``, also the peak of
Python allocations, which slows the host) to ``scripts/bench/fleet_load.md``. Parts shared with
``ingestion.py`` (broker, keys, host, result shape) are imported from it.

    nice -n 19 .venv/bin/python scripts/bench/fleet_load.py [--agents 200 --results 100 --bursts 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from ingestion import Bench, _result, device_name  # noqa: E402  (the shared parts, not copies)

RESEND_S = 10.0
GAP_S = 1.0


def fleet_main(work: Path, url: str, agents: int, results: int, bursts: int) -> None:
    """The simulated agents (their own process): status, then bursts of single signed results."""
    import paho.mqtt.client as mqtt

    from agent.outbox import batches
    from agent.protocol import (
        AgentStatus,
        ResultAck,
        ResultBatch,
        ack_topic,
        batch_topic,
        decode,
        encode,
        result_topic,
        status_topic,
    )
    from agent.signing import load_private_key, sign

    port = int(url.rsplit(":", 1)[1])
    ids = [device_name(i) for i in range(agents)]
    keys = {d: load_private_key(work / "keys" / f"{d}.key") for d in ids}
    # signed before the clock starts, as an agent's result is signed when its job ends
    signed = {d: [sign(_result(d, n), keys[d]) for n in range(results)] for d in ids}
    unacked = {d: set() for d in ids}  # type: ignore[var-annotated]
    lock = threading.Lock()
    clients = {}
    for d in ids:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"load-{d}", protocol=mqtt.MQTTv311)

        def on_message(c, u, msg, d=d):  # type: ignore[no-untyped-def]
            ack = decode(ResultAck, msg.payload)
            with lock:
                unacked[d].difference_update(ack.result_ids)

        client.on_message = on_message
        client.connect("127.0.0.1", port)
        client.subscribe(ack_topic(d), qos=1)
        client.loop_start()
        status = sign(AgentStatus(d, "online", agent_version="0.1.0", ts=time.time()), keys[d])
        client.publish(status_topic(d), encode(status), qos=1, retain=True)
        clients[d] = client
    time.sleep(2.0)  # every subscription in place
    per_burst = results // bursts
    log = []
    for b in range(bursts):
        chunk = {d: signed[d][b * per_burst : (b + 1) * per_burst] for d in ids}
        with lock:
            for d in ids:
                unacked[d].update(r.result_id for r in chunk[d])
        started = time.time()
        for d in ids:
            for r in chunk[d]:
                clients[d].publish(result_topic(d), encode(r), qos=1)
        rounds = 1
        while True:
            end = time.monotonic() + RESEND_S
            while time.monotonic() < end:
                with lock:
                    left = sum(len(s) for s in unacked.values())
                if not left:
                    break
                time.sleep(0.02)
            if not left or rounds >= 10:
                break
            rounds += 1
            for d in ids:  # the outbox's resend: what is unacknowledged, in signed batches
                with lock:
                    todo = [r for r in chunk[d] if r.result_id in unacked[d]]
                by_id = {r.result_id: r for r in todo}
                for group in batches([(r.result_id, encode(r)) for r in todo]):
                    if len(group) == 1:
                        clients[d].publish(result_topic(d), group[0][1], qos=1)
                    else:
                        batch = ResultBatch(d, [by_id[rid] for rid, _ in group], time.time())
                        clients[d].publish(batch_topic(d), encode(sign(batch, keys[d])), qos=1)
        log.append({"started": started, "acked_at": time.time(), "rounds": rounds, "unacked": left})
        time.sleep(GAP_S)
    for client in clients.values():
        client.loop_stop()
        client.disconnect()
    (work / "fleet.json").write_text(json.dumps(log))


def peak_rss_mib() -> float:
    """This process's peak resident set (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(agents: int, results: int, bursts: int, trace: bool) -> dict:  # type: ignore[type-arg]
    bench = Bench(agents, results)
    samples = []  # (time, stored_count), sampled every 10 ms
    try:
        rss_before = peak_rss_mib()
        if trace:
            tracemalloc.start()
        cpu_before = time.process_time()
        load_before = os.getloadavg()[0]
        cmd = [sys.executable, __file__, "--fleet-process", str(bench.work), bench.url, str(agents), str(results)]
        child = subprocess.Popen(cmd + [str(bursts)])
        total = agents * results
        deadline = time.monotonic() + 1200
        while child.poll() is None and time.monotonic() < deadline:
            samples.append((time.time(), bench.host.stored_count))
            time.sleep(0.01)
        samples.append((time.time(), bench.host.stored_count))
        host_cpu_s = time.process_time() - cpu_before
        heap_peak = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
        if trace:
            tracemalloc.stop()
        if child.poll() is None:
            child.kill()
            raise SystemExit("the fleet did not finish within 20 minutes")
        if child.returncode != 0:
            raise SystemExit(f"the fleet process failed with exit code {child.returncode}")
        log = json.loads((bench.work / "fleet.json").read_text())
        time.sleep(1.0)
        rows, distinct = bench.stored()
        integrity = bench.db._db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        bench.close()
    per_burst = total // bursts
    drains = []
    for b, entry in enumerate(log):
        target = (b + 1) * per_burst
        done_at = next((t for t, n in samples if n >= target), float("nan"))
        drains.append(done_at - entry["started"])
    rates = [per_burst / d for d in drains]
    return {
        "agents": agents,
        "results": total,
        "bursts": bursts,
        "per_burst": per_burst,
        "stored": rows,
        "lost": total - distinct,
        "duplicates": rows - distinct,
        "integrity": integrity,
        "drain_s": [round(d, 2) for d in drains],
        "rate_min": min(rates),
        "rate_median": statistics.median(rates),
        "overall_rate": total / sum(drains),
        "rounds": [e["rounds"] for e in log],
        "unacked": sum(e["unacked"] for e in log),
        "host_cpu_s": host_cpu_s,
        "load": load_before,
        "rss_before_mib": rss_before,
        "rss_peak_mib": peak_rss_mib(),
        "heap_peak_mib": heap_peak,
    }


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--fleet-process":
        fleet_main(Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--results", type=int, default=100, help="results per agent (all bursts together)")
    parser.add_argument("--bursts", type=int, default=5)
    parser.add_argument("--tracemalloc", action="store_true", help="also trace the host's Python allocations")
    parser.add_argument("--out", type=Path, default=HERE / "fleet_load.md")
    args = parser.parse_args()
    if args.results % args.bursts:
        parser.error("--results must be a multiple of --bursts")
    r = run(args.agents, args.results, args.bursts, args.tracemalloc)
    ok = r["lost"] == 0 and r["duplicates"] == 0 and r["integrity"] == "ok" and r["unacked"] == 0
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout
    mosquitto = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True).stdout.splitlines()[0]
    heap = "not traced" if r["heap_peak_mib"] is None else f"{r['heap_peak_mib']:.0f} MiB"
    lines = [
        "# Fleet load: simulated agents sending results in bursts into the host (issue 10)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} at commit {commit.strip()} by "
        f"`nice -n 19 .venv/bin/python scripts/bench/fleet_load.py --agents {args.agents} --results {args.results} "
        f"--bursts {args.bursts}{' --tracemalloc' if args.tracemalloc else ''}`.",
        f"Machine: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), Python "
        f"{platform.python_version()}, {mosquitto}, on loopback; shared with other work: load average "
        f"{r['load']:.1f} (1 min) at the start, and the benchmark ran at nice 19, so the rates are lower "
        "bounds for this machine. The fleet process (all the agents' clients) runs on the same CPUs as the host.",
        "",
        "The agents are simulated: real MQTT clients, one connection and one Ed25519 key each, signing real "
        "results and a retained status; not the agent process (no outbox database, no benchmarks). "
        "Each burst, "
        f"every agent publishes {r['per_burst'] // r['agents']} results alone at once; what is not "
        f"acknowledged within {RESEND_S:.0f} s is resent in signed batches. The host is the real MQTTHost and "
        "results database. Drain time: from a burst's first publish to its last result committed. Results per "
        "host CPU-second is the figure other work on the machine does not change.",
        "",
        "| agents | results | bursts | stored | lost | stored twice | DB integrity | drain per burst (s) "
        "| results/s per burst (min / median) | results/s overall | send rounds per burst | host CPU (s) "
        "| results per host CPU-second | host peak RSS (MiB) | host Python heap peak |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| {r['agents']} | {r['results']:,} | {r['bursts']} x {r['per_burst']:,} | {r['stored']:,} | {r['lost']} "
        f"| {r['duplicates']} | {r['integrity']} | {', '.join(str(d) for d in r['drain_s'])} "
        f"| {r['rate_min']:,.0f} / {r['rate_median']:,.0f} | {r['overall_rate']:,.0f} "
        f"| {', '.join(str(n) for n in r['rounds'])} | {r['host_cpu_s']:.1f} "
        f"| {r['results'] / r['host_cpu_s']:,.0f} | {r['rss_peak_mib']:.0f} "
        f"(before the fleet: {r['rss_before_mib']:.0f}) | {heap} |",
        "",
        f"Result: **{'PASS' if ok else 'FAIL'}** (needs every result stored exactly once, every one "
        "acknowledged, and the results database intact). Peak RSS is `resource.getrusage` of the host process "
        "(benchmark driver included); single-result messages cost the host one signature check each, where "
        "`ingestion.md`'s backlog batches cost one per 100 results.",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
