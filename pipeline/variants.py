"""Which builds of the model to measure, and building them from passes with a cache.

A variant is a runtime plus a chain of passes. Each pass step is cached by (input hash, pass,
config, calibration hash), so re-running an unchanged spec rebuilds nothing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.passes import get_pass
from pipeline.passes.base import PassContext
from pipeline.store import ArtifactStore, StoredArtifact

PassStep = tuple[str, dict[str, Any]]

#: The precisions `optimize` builds when none are named, in report order.
DEFAULT_PRECISIONS = ("fp32", "int8-static", "int8-dynamic", "fp16")

_PRECISION_PASSES: dict[str, list[PassStep]] = {
    "fp32": [],
    "int8-static": [("quantize_static", {})],
    "int8-dynamic": [("quantize_dynamic", {})],
    "fp16": [("fp16", {})],
}
_RUNTIME_SHORT = {"onnxruntime": "ort", "openvino": "ov", "tensorrt": "trt"}


@dataclass(frozen=True)
class VariantSpec:
    id: str
    runtime: str
    precision: str
    passes: tuple[PassStep, ...] = field(default_factory=tuple)


def plan_variants(precisions: list[str], runtimes: list[str], target_opset: int = 17) -> list[VariantSpec]:
    """One variant per runtime and precision; every chain starts with an opset upgrade (design.md)."""
    unknown = [p for p in precisions if p not in _PRECISION_PASSES]
    if unknown:
        raise ValueError(f"unknown precision(s) {unknown}; known: {', '.join(_PRECISION_PASSES)}")
    bad_rt = [r for r in runtimes if r not in _RUNTIME_SHORT]
    if bad_rt:
        raise ValueError(f"unknown runtime(s) {bad_rt}; known: {', '.join(_RUNTIME_SHORT)}")
    plans = []
    for runtime in runtimes:
        for precision in precisions:
            steps = [("opset_upgrade", {"target_opset": target_opset}), *_PRECISION_PASSES[precision]]
            plans.append(VariantSpec(f"{_RUNTIME_SHORT[runtime]}-{precision}", runtime, precision, tuple(steps)))
    return plans


def calibration_digest(calibration: dict[str, np.ndarray] | None) -> str:
    h = hashlib.sha256()
    for name in sorted(calibration or {}):
        arr = np.ascontiguousarray(calibration[name])  # type: ignore[index]
        h.update(name.encode())
        h.update(str(arr.dtype).encode() + str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def _tool_versions() -> list[str]:
    import onnx
    import onnxruntime

    from pipeline import __version__

    return [__version__, onnx.__version__, onnxruntime.__version__]


class VariantBuilder:
    """Runs pass chains and puts every result into the artifact store."""

    def __init__(self, store: ArtifactStore, calibration: dict[str, np.ndarray] | None) -> None:
        self.store = store
        self.calibration = calibration
        self._calib_digest = calibration_digest(calibration)
        self._cache_dir = store.root / "pass-cache"
        self._cache_dir.mkdir(parents=True, exist_ok=True)

    def build(
        self, spec: VariantSpec, source: StoredArtifact, on_step: Callable[[str], None] | None = None
    ) -> StoredArtifact:
        """Apply ``spec.passes`` to ``source``; a failing pass raises PassError."""
        current = source
        for name, config in spec.passes:
            if on_step:
                on_step(name)
            current = self._step(current, name, config)
        return current

    def _step(self, source: StoredArtifact, name: str, config: dict[str, Any]) -> StoredArtifact:
        pass_obj = get_pass(name)(config)
        # the validated config (defaults filled in) and the tool versions: a changed default or an
        # upgraded quantizer must rebuild, not serve yesterday's model under today's name
        key_text = json.dumps(
            [source.sha256, name, pass_obj.config.model_dump(mode="json"), self._calib_digest, _tool_versions()],
            sort_keys=True,
        )
        key = hashlib.sha256(key_text.encode()).hexdigest()
        marker = self._cache_dir / f"{key}.json"
        if marker.exists():
            cached = json.loads(marker.read_text())
            path = self.store.get(cached["sha256"])
            if path is not None:
                return StoredArtifact(cached["sha256"], path, path.stat().st_size, "model/onnx")
        with tempfile.TemporaryDirectory(prefix=f"edgeprof-{name}-") as tmp:
            out = Path(tmp) / "model.onnx"
            pass_obj.run(source.path, out, PassContext(calibration=self.calibration, work_dir=Path(tmp)))
            stored = self.store.put(out, "model/onnx")
        tmp_marker = marker.with_suffix(".tmp")
        tmp_marker.write_text(json.dumps({"sha256": stored.sha256, "pass": name, "config": config}))
        shutil.move(tmp_marker, marker)
        return stored
