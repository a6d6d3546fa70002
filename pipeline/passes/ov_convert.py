"""ONNX to OpenVINO IR with OpenVINO's own converter (``openvino.convert_model`` + ``save_model``).

Two exports: FP32 weights (:class:`OVExportFP32`) and FP16-compressed weights
(:class:`OVCompressFP16`). ``openvino.save_model`` compresses weights to FP16 *by default*
(``compress_to_fp16=True``), so an export that does not say otherwise would ship an "FP32" build
with FP16 weights; here the choice is always explicit and recorded.

FP16 compression is a storage format: the plugin decompresses the weights when it compiles the
model and computes in its inference precision (f32 or bf16 on a CPU, f16 on a GPU). The runtime
records that precision (``inference_precision`` in its settings); the artifact records how its
weights are stored.

The IR's two files are written to a scratch folder inside ``work_dir`` and moved into place only
when both exist, so a failed export leaves no half-written build.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pipeline.passes.base import BuildFiles, Pass, PassContext

if TYPE_CHECKING:
    import openvino

#: file names of an IR build inside its work folder
IR_XML = "model.xml"
IR_BIN = "model.bin"


class _OVExport(Pass):
    """ONNX in, IR out; subclasses set ``name``, ``summary``, ``provides`` and :attr:`compress_to_fp16`."""

    runtimes: ClassVar[tuple[str, ...]] = ("openvino",)
    input_kind: ClassVar[str] = "onnx"
    output_kind: ClassVar[str] = "openvino-ir"
    compress_to_fp16: ClassVar[bool] = False

    def apply(self, source: BuildFiles, work_dir: Path, ctx: PassContext) -> BuildFiles:
        if source.kind != self.input_kind:
            raise self.fail(f"takes {self.input_kind} artifacts, not {source.kind}")
        model = convert_onnx(self, source.path("model"))
        files = save_ir(self, model, Path(work_dir), compress_to_fp16=self.compress_to_fp16)
        settings = dict(source.settings)
        settings["openvino_ir"] = {
            "converter": "openvino.convert_model",
            "weights": "fp16 (compressed; decompressed at compile time)" if self.compress_to_fp16 else "fp32",
            "compress_to_fp16": self.compress_to_fp16,
            "openvino_version": openvino_version(),
        }
        return BuildFiles(self.output_kind, files, settings)


class OVExportFP32(_OVExport):
    """Convert an ONNX model to an OpenVINO IR with FP32 weights."""

    name: ClassVar[str] = "ov_export_fp32"
    summary: ClassVar[str] = "OpenVINO IR with FP32 weights (openvino.convert_model)"
    provides: ClassVar[str | None] = None
    compress_to_fp16: ClassVar[bool] = False


class OVCompressFP16(_OVExport):
    """Convert an ONNX model to an OpenVINO IR whose weights are stored as FP16."""

    name: ClassVar[str] = "ov_compress_fp16"
    summary: ClassVar[str] = "OpenVINO IR with FP16-compressed weights (openvino.save_model)"
    provides: ClassVar[str | None] = "fp16"
    compress_to_fp16: ClassVar[bool] = True


# --- helpers, shared with nncf_quantize ----------------------------------------------------------


def convert_onnx(pass_: Pass, model_path: Path) -> openvino.Model:
    """Read an ONNX model into OpenVINO; a file OpenVINO cannot convert is a PassError."""
    import openvino as ov

    model_path = Path(model_path)
    if not model_path.is_file():
        raise pass_.fail(f"input model {model_path} does not exist or is not a file")
    try:
        return ov.convert_model(str(model_path))
    except Exception as exc:  # OpenVINO raises bare RuntimeErrors, OVC its own error types
        raise pass_.fail(f"OpenVINO cannot convert {model_path.name}: {openvino_reason(exc)}") from exc


def save_ir(pass_: Pass, model: Any, work_dir: Path, *, compress_to_fp16: bool) -> dict[str, Path]:
    """Write ``model`` as ``work_dir/model.xml`` + ``model.bin``, both or neither."""
    import openvino as ov

    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".ir-", dir=work_dir) as scratch:
        xml = Path(scratch) / IR_XML
        try:
            ov.save_model(model, str(xml), compress_to_fp16=compress_to_fp16)
        except Exception as exc:
            raise pass_.fail(f"OpenVINO cannot write the IR: {openvino_reason(exc)}") from exc
        files = {"model": work_dir / IR_XML, "weights": work_dir / IR_BIN}
        os.replace(xml.with_suffix(".bin"), files["weights"])
        os.replace(xml, files["model"])
    return files


def openvino_version() -> str:
    import openvino as ov

    return str(ov.get_version()).split("-", 1)[0]


def openvino_reason(exc: BaseException) -> str:
    """An OpenVINO error's sentence without its source-location lines (the agent's translation)."""
    from agent.runtimes.ov_runtime import vendor_reason

    return vendor_reason(exc)
