"""Serves the artifact store over HTTP so devices pull models by hash (MQTT carries only control).

GET /artifacts/<sha256> with Range support, so an interrupted download resumes. Nothing else is
served: paths are hashes looked up in the store, never file names joined onto a directory.
"""

from __future__ import annotations

import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pipeline.store import ArtifactStore

log = logging.getLogger("edgeprof.artifacts")
_PATH = re.compile(r"^/artifacts/([0-9a-f]{64})$")
_RANGE = re.compile(r"^bytes=(\d+)-$")


def _handler(store: ArtifactStore) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "edgeprof-artifacts"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
            log.debug("%s " + format, self.address_string(), *args)

        def do_HEAD(self) -> None:  # noqa: N802 - stdlib name
            self._respond(body=False)

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            self._respond(body=True)

        def _respond(self, body: bool) -> None:
            match = _PATH.match(self.path)
            path = store.get(match.group(1)) if match else None
            if path is None:
                self.send_error(404, "no such artifact")
                return
            size = path.stat().st_size
            start = 0
            m = _RANGE.match((self.headers.get("Range") or "").strip())
            # only "bytes=N-" (what a resuming agent sends) is honoured; any other Range is ignored and
            # the whole file is sent, as RFC 9110 allows
            if m:
                if int(m.group(1)) >= size:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.end_headers()
                    return
                start = int(m.group(1))
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
            else:
                self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size - start))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if not body:
                return
            with open(path, "rb") as fh:
                fh.seek(start)
                while chunk := fh.read(1 << 20):
                    try:
                        self.wfile.write(chunk)
                    except (BrokenPipeError, ConnectionResetError):
                        return

    return Handler


class ArtifactServer:
    """``start()`` serves in a thread; ``url_for(sha)`` is what goes into jobs."""

    def __init__(self, store: ArtifactStore, bind: str = "127.0.0.1", port: int = 0, advertise: str | None = None):
        self._httpd = ThreadingHTTPServer((bind, port), _handler(store))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.advertise = advertise or bind
        self._thread: threading.Thread | None = None

    def url_for(self, sha256: str) -> str:
        return f"http://{self.advertise}:{self.port}/artifacts/{sha256}"

    def start(self) -> ArtifactServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="artifact-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ArtifactServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
