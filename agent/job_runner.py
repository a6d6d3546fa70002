"""Running one verified job: download its artifacts, run the benchmark child, bound it by the deadline.

The service owns the queue and the messages; this module only turns a job into a
``BenchmarkResult`` (a failed one with the cause when anything goes wrong), reporting each step
(``downloading``, ``running``) through a callback so the host can show where a job is.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from agent.artifacts import ArtifactCache
from agent.errors import ArtifactError, ProtocolError
from agent.progress_feed import PROGRESS_FILE, ProgressRelay
from agent.protocol import BenchmarkJob, BenchmarkResult, WorkerSpec, decode, encode
from agent.runtimes.base import LocalArtifact
from agent.worker import failed_result

log = logging.getLogger("edgeprof.agent")

#: ``report(job, state, detail)``: a step of the job, e.g. ("downloading", "").
StepReport = Callable[[BenchmarkJob, str, str], None]


class Interrupted(Exception):
    """The agent is shutting down while a job's child process runs."""


class JobRunner:
    """Runs one job at a time in a child process under ``state_dir/work``."""

    def __init__(
        self,
        state_dir: Path,
        cache: ArtifactCache,
        stop_event: threading.Event,
        power: Optional[str],
        target: str = "",
    ) -> None:
        self.state_dir = Path(state_dir)
        self.cache = cache
        self.stop_event = stop_event
        self.power = power
        self.target = target
        self.child: Optional[subprocess.Popen] = None

    def execute(self, job: BenchmarkJob, started: float, report: StepReport) -> BenchmarkResult:
        deadline = time.monotonic() + job.deadline_s
        stop = self.stop_event.is_set
        report(job, "downloading", "")
        with self.cache.job():
            try:
                build = self.cache.fetch_build(job.model, deadline=deadline, should_stop=stop)
                eval_path = (
                    self.cache.fetch(job.eval_data, deadline=deadline, should_stop=stop) if job.eval_data else None
                )
            except ArtifactError as exc:
                if self.stop_event.is_set():
                    raise Interrupted() from None
                return failed_result(job, str(exc), started)
            try:
                self.cache.evict()  # room for the next job; this one's files are kept
            except OSError as exc:
                log.warning("could not evict from the artifact cache: %s", exc)
            return self._run_in_work(job, started, build, eval_path, deadline, report)

    def _run_in_work(
        self,
        job: BenchmarkJob,
        started: float,
        build: LocalArtifact,
        eval_path: Optional[Path],
        deadline: float,
        report: StepReport,
    ) -> BenchmarkResult:
        work = self.state_dir / "work" / job.job_id
        state = "building" if build.kind == "tensorrt-recipe" else "running"
        report(job, state, "")
        # the child's phases as they start: the running state's detail, at most 2 a second
        relay = ProgressRelay(work / PROGRESS_FILE, lambda detail: report(job, "running", detail))
        try:
            return self.run_child(job, started, work, build, eval_path, deadline, relay)
        finally:
            shutil.rmtree(str(work), ignore_errors=True)  # the result goes to the outbox; keep no copies

    def run_child(
        self,
        job: BenchmarkJob,
        started: float,
        work: Path,
        build: LocalArtifact,
        eval_path: Optional[Path],
        deadline: float,
        relay: Optional[ProgressRelay] = None,
    ) -> BenchmarkResult:
        """Run the benchmark child in ``work`` until it writes its result or the deadline passes."""
        work.mkdir(parents=True, exist_ok=True)
        spec = work / "spec.json"
        out = work / "result.json"
        spec.write_bytes(
            encode(
                WorkerSpec(
                    job=job,
                    artifact_kind=build.kind,
                    artifact_files={role: str(p) for role, p in build.files.items()},
                    artifact_settings=build.settings,
                    eval_path=str(eval_path) if eval_path else None,
                    power=self.power,
                    target=self.target,
                    # the worker sees the deadline too, and returns what it measured before it
                    deadline_at=time.time() + (deadline - time.monotonic()),
                )
            )
        )
        stderr_path = work / "stderr.log"
        with open(str(stderr_path), "wb") as err:
            # Its own session: a Ctrl-C meant for the agent must not kill the benchmark behind the
            # agent's back (it would look like a crash); the agent stops it when it stops itself.
            self.child = subprocess.Popen(
                [sys.executable, "-m", "agent.worker", str(spec), str(out), str(os.getpid())],
                stdout=err,
                stderr=err,
                start_new_session=True,
            )
            try:
                rc = self.wait_child(max(1.0, deadline - time.monotonic()), relay)  # what the downloads left
            finally:
                self.child = None
        if rc is None:
            return failed_result(job, "job ran past its deadline of %.0f s and was killed" % job.deadline_s, started)
        if self.stop_event.is_set() and rc != 0:
            raise Interrupted()
        if rc != 0 or not out.exists():
            tail = stderr_path.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            return failed_result(job, "benchmark process exited with code %s: %s" % (rc, tail[0]), started)
        try:
            return decode(BenchmarkResult, out.read_bytes())
        except ProtocolError as exc:
            return failed_result(job, "benchmark process wrote an invalid result: %s" % exc, started)

    def wait_child(self, deadline_s: float, relay: Optional[ProgressRelay] = None) -> Optional[int]:
        """The child's exit code; None when it ran past ``deadline_s`` (it is then killed). Meanwhile
        ``relay`` passes on the child's progress."""
        child = self.child
        assert child is not None
        end = time.monotonic() + deadline_s
        while True:
            if relay is not None:
                relay.poll()
            rc = child.poll()
            if rc is not None:
                return rc
            if self.stop_event.is_set() or time.monotonic() > end:
                child.terminate()
                try:
                    child.wait(5)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
                return None if not self.stop_event.is_set() else -15
            time.sleep(0.05)
