"""Build: run each planned variant's pass chain, cache every step, check the result where it will run.

Each step's output is stored as a build (manifest + members) and cached by (input build, pass,
validated config, calibration data, tool versions), so re-running an unchanged spec rebuilds nothing.
A finished build is loaded and run once by the runtime that will run it on the device, where that
runtime is installed here (``checked`` says whether it was): checking an OpenVINO IR is OpenVINO's
job, not ONNX Runtime's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.errors import AgentError, RuntimeLoadError
from pipeline.errors import PassError
from pipeline.host_quality import HostQuality, score
from pipeline.passes import BuildFiles, PassContext, get_pass
from pipeline.plan import PassStep, VariantSpec
from pipeline.store import ArtifactStore, StoredBuild

#: Packages whose version changes what a pass writes: an upgrade must rebuild, not serve yesterday's
#: model under today's name.
_TOOLS = ("edgeprof", "onnx", "onnxruntime", "openvino", "nncf")


@dataclass(frozen=True)
class Built:
    spec: VariantSpec
    build: StoredBuild
    checked: str  # how the build was checked on the host, for the record
    host_quality: HostQuality | None = None  # its figure on the host's slice of the evaluation data


def calibration_digest(calibration: Mapping[str, np.ndarray] | None) -> str:
    h = hashlib.sha256()
    for name in sorted(calibration or {}):
        arr = np.ascontiguousarray(calibration[name])  # type: ignore[index]
        h.update(name.encode())
        h.update(str(arr.dtype).encode() + str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def tool_versions() -> dict[str, str]:
    found = {}
    for name in _TOOLS:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


class VariantBuilder:
    """Runs pass chains, stores every step's output, and checks finished builds with their runtime."""

    def __init__(self, store: ArtifactStore, ctx: PassContext) -> None:
        self.store = store
        self.ctx = ctx
        self._digest = calibration_digest(ctx.calibration) + calibration_digest(ctx.evaluation)
        self._tools = tool_versions()
        self._cache_dir = store.root / "pass-cache"
        self._cache_dir.mkdir(parents=True, exist_ok=True)

    def source(self, model_path: Path) -> StoredBuild:
        """The user's model as the first build of every chain."""
        return self.store.put_build("onnx", {"model": Path(model_path)}, names={"model": "model.onnx"})

    def build(self, spec: VariantSpec, source: StoredBuild, on_step: Callable[[str], None] | None = None) -> Built:
        """Apply ``spec.passes`` to ``source``; a failing pass raises PassError naming the variant."""
        current = source
        fresh = False
        for step in spec.passes:
            if on_step:
                on_step(step.name)
            current, ran = self.step(current, step)
            fresh = fresh or ran
        if current.kind != spec.artifact_kind:
            raise PassError(
                f"{spec.id}: the chain made a {current.kind} artifact, the plan expected {spec.artifact_kind}"
            )
        checked, quality = self._checked(spec, current, fresh)
        provenance = {
            "variant": spec.id,
            "passes": [{"name": s.name, "config": dict(s.config)} for s in spec.passes],
            "tools": self._tools,
        }
        names = {m.role: m.file_name for m in current.manifest.members}
        final = self.store.put_build(current.kind, current.files, current.manifest.settings, provenance, names)
        return Built(spec, final, checked, quality)

    def cached(self, spec: VariantSpec, source: StoredBuild) -> bool:
        """True when every step of ``spec`` is in the cache: building it costs only lookups."""
        current = source
        for step in spec.passes:
            found = self._cached_step(current, step)
            if found is None:
                return False
            current = found
        return True

    def _marker(self, source: StoredBuild, step: PassStep) -> Path:
        config = get_pass(step.name)(step.config).config.model_dump(mode="json")
        key_text = json.dumps([source.sha256, step.name, config, self._digest, self._tools], sort_keys=True)
        return self._cache_dir / f"{hashlib.sha256(key_text.encode()).hexdigest()}.json"

    def _cached_step(self, source: StoredBuild, step: PassStep) -> StoredBuild | None:
        marker = self._marker(source, step)
        if not marker.exists():
            return None
        return self.store.get_build(json.loads(marker.read_text())["build"])

    def step(self, source: StoredBuild, step: PassStep) -> tuple[StoredBuild, bool]:
        cached = self._cached_step(source, step)
        if cached is not None:
            return cached, False
        pass_obj = get_pass(step.name)(step.config)
        marker = self._marker(source, step)
        with tempfile.TemporaryDirectory(prefix=f"edgeprof-{step.name}-") as tmp:
            work = Path(tmp)
            inputs = _materialise(source, work / "in")
            out_dir = work / "out"
            out_dir.mkdir()
            ctx = PassContext(
                calibration=self.ctx.calibration,
                work_dir=work / "scratch",
                evaluation=self.ctx.evaluation,
                labels=self.ctx.labels,
                reference=self.ctx.reference,
                max_accuracy_loss=self.ctx.max_accuracy_loss,
                metric=self.ctx.metric,
            )
            result = pass_obj.apply(inputs, out_dir, ctx)
            stored = self.store.put_build(result.kind, dict(result.files), dict(result.settings))
        tmp_marker = marker.with_suffix(".tmp")
        tmp_marker.write_text(json.dumps({"build": stored.sha256, "pass": step.name}))
        os.replace(tmp_marker, marker)
        return stored, True

    def _checked(self, spec: VariantSpec, build: StoredBuild, fresh: bool) -> tuple[str, HostQuality | None]:
        """:meth:`_check`, remembered per (build, runtime, options, data, metric, tools): an unchanged spec
        is neither rebuilt nor re-scored."""
        key_text = json.dumps(
            [build.sha256, spec.runtime, dict(spec.runtime_options), self._digest, self.ctx.metric, self._tools],
            sort_keys=True,
            default=str,
        )
        marker = self._cache_dir / f"check-{hashlib.sha256(key_text.encode()).hexdigest()}.json"
        if not fresh and marker.exists():
            cached = json.loads(marker.read_text())
            quality = HostQuality(**cached["quality"]) if cached.get("quality") else None
            return cached["checked"] + " (when first built; cached since)", quality
        checked, quality = self._check(spec, build, fresh)
        record = {"checked": checked, "quality": dataclasses.asdict(quality) if quality else None}
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, marker)
        return checked, quality

    def _check(self, spec: VariantSpec, build: StoredBuild, fresh: bool) -> tuple[str, HostQuality | None]:
        """Load and run the build with ``spec.runtime`` on this machine, where it is installed: once
        (a fresh build), and on the evaluation slice (when there is one) for its host-side figure."""
        from agent.runtimes import LocalArtifact, get_runtime

        scoring = self.ctx.evaluation is not None and self.ctx.reference is not None
        if not fresh and not scoring:
            return "checked when first built (cached since)", None
        try:
            cls = get_runtime(spec.runtime)
            version = cls.version()
        except RuntimeLoadError as exc:
            return f"not checked on the host: {exc}", None
        quality = None
        with tempfile.TemporaryDirectory(prefix="edgeprof-check-") as tmp:
            files = _materialise(build, Path(tmp))
            runtime = cls(dict(spec.runtime_options))
            try:
                runtime.load(LocalArtifact(files.kind, dict(files.files), dict(files.settings)))
                runtime.infer(_probe_feeds(runtime.inputs, self.ctx.calibration))
                if scoring:
                    assert self.ctx.evaluation is not None and self.ctx.reference is not None
                    quality = score(
                        runtime, spec.runtime, self.ctx.evaluation, self.ctx.reference, self.ctx.labels, self.ctx.metric
                    )
            except AgentError as exc:
                raise PassError(f"{spec.id}: the build does not run in {spec.runtime} on the host: {exc}") from exc
            finally:
                runtime.close()
        return f"loaded and run with {spec.runtime} {version} on the host", quality


def _materialise(build: StoredBuild, folder: Path) -> BuildFiles:
    """Hard-link (or copy) the build's members into ``folder`` under their file names."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for member in build.manifest.members:
        target = folder / member.file_name
        if not target.exists():
            try:
                os.link(build.files[member.role], target)
            except OSError:
                import shutil

                shutil.copyfile(build.files[member.role], target)
        files[member.role] = target
    return BuildFiles(build.kind, files, dict(build.manifest.settings))


def _probe_feeds(inputs: list[Any], calibration: Mapping[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """One batch for a smoke run: the first calibration sample where it fits, else zeros (batch 1)."""
    feeds = {}
    for spec in inputs:
        dims = [d if isinstance(d, int) and d > 0 else None for d in spec.shape]
        batch = dims[0] or 1
        array = None if calibration is None else calibration.get(spec.name)
        if array is not None and array.ndim == len(dims) and len(array) >= batch:
            rest = all(w is None or w == h for w, h in zip(dims[1:], array.shape[1:], strict=True))
            if rest:
                feeds[spec.name] = np.ascontiguousarray(array[:batch]).astype(spec.dtype, copy=False)
                continue
        feeds[spec.name] = np.zeros([d or 1 for d in dims], dtype=spec.dtype)
    return feeds
