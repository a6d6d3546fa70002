"""A small pass and a small runtime registered from the test suite: adding either is one file plus
one registry line, and both must then appear in the plan and in ``--help``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from agent.runtimes.ort_runtime import ORTRuntime
from pipeline.passes.base import Pass, PassContext, atomic_output, load_model, save_model


class HalfwayRuntime(ORTRuntime):
    """ONNX Runtime under another name that runs one precision only: enough to be planned for."""

    name = "halfway"
    short_name = "hw"
    precisions = ("fp32", "int7-test")
    summary = "a test runtime registered by the test suite"


class Int7Test(Pass):
    """Copies the model: it only has to declare what it provides and for whom."""

    name: ClassVar[str] = "int7_test"
    summary: ClassVar[str] = "test pass: pretends to quantise to int7"
    provides: ClassVar[str | None] = "int7-test"
    runtimes: ClassVar[tuple[str, ...]] = ("halfway",)

    def run(self, model_path: Path, out_path: Path, ctx: PassContext) -> None:
        model = load_model(self, model_path)
        with atomic_output(out_path) as tmp:
            save_model(self, model, tmp)


def register(runtimes: Any, passes: Any) -> None:
    runtimes.register("halfway", "tests.pipeline.plugins.tiny:HalfwayRuntime")
    passes.register("int7_test", "tests.pipeline.plugins.tiny:Int7Test")


def unregister(runtimes: Any, passes: Any) -> None:
    runtimes.unregister("halfway")
    passes.unregister("int7_test")
