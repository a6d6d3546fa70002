"""Built TensorRT engines kept on the device, keyed by what makes an engine valid.

An engine is specific to the recipe it was built from (the ONNX file and the build settings), to
the GPU (its name and compute capability) and to the TensorRT release; a change in any of them
means a new build. Building takes seconds on a server GPU and minutes on a Jetson, so the first
job builds and later jobs of the same build reuse it. Each entry is ``<key>.engine`` plus
``<key>.json`` (the key's parts, build time, engine size, what the build said), written atomically
so that a killed build leaves no half-written engine.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Dict, Optional, Tuple


def default_dir() -> Path:
    """Where engines go when the agent does not say (the worker points the runtime at its state folder)."""
    return Path.home() / ".cache" / "edgeprof" / "trt-engines"


def cache_key(recipe_digest: str, gpu_name: str, compute_capability: Tuple[int, int], trt_version: str) -> str:
    parts = {
        "recipe": recipe_digest,
        "gpu": gpu_name,
        "compute_capability": "%d.%d" % compute_capability,
        "tensorrt": trt_version,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()


class EngineCache:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def paths(self, key: str) -> Tuple[Path, Path]:
        return self.root / ("%s.engine" % key), self.root / ("%s.json" % key)

    def get(self, key: str) -> Optional[Tuple[bytes, Dict[str, Any]]]:
        """The engine and its metadata, or None when absent or unreadable."""
        engine_path, meta_path = self.paths(key)
        try:
            meta = json.loads(meta_path.read_text())
            data = engine_path.read_bytes()
        except (OSError, ValueError):
            return None
        if meta.get("size_bytes") != len(data):
            return None  # a truncated engine: build again
        return data, meta

    def put(self, key: str, engine: bytes, meta: Dict[str, Any]) -> Dict[str, Any]:
        self.root.mkdir(parents=True, exist_ok=True)
        engine_path, meta_path = self.paths(key)
        meta = dict(meta, key=key, size_bytes=len(engine), created_at=time.time())
        _write_atomic(engine_path, engine)
        _write_atomic(meta_path, json.dumps(meta, sort_keys=True, indent=1).encode("utf-8"))
        return meta

    def drop(self, key: str) -> None:
        for path in self.paths(key):
            try:
                path.unlink()
            except OSError:
                pass


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(".%s.%d.tmp" % (path.name, os.getpid()))
    tmp.write_bytes(data)
    os.replace(str(tmp), str(path))
