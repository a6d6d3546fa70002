"""Why INT8 or a bigger batch helped or not, in words (pipeline/roofline_text.py)."""

from __future__ import annotations

import dataclasses

from pipeline.cost import CostOptions
from pipeline.derive import derive_figures, load_target_profiles
from pipeline.roofline import count_builds
from pipeline.roofline_text import batch_sentence, explain, precision_sentence

from .passes.models import build_tiny_cnn
from .planner.measured import measured


def test_sentences_from_real_counts_of_an_fp32_and_an_int8_build(tmp_path):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32 = build_tiny_cnn(tmp_path / "fp32.onnx")
    int8 = tmp_path / "int8.onnx"
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    counts = count_builds([("fp32", "onnx", fp32), ("int8", "onnx", int8)], fp32, [1, 8])
    records = [
        measured("fp32", 1, 1.0), measured("fp32", 8, 4.0),
        measured("int8", 1, 2.5, precision="int8-dynamic"), measured("int8", 8, 3.0, precision="int8-dynamic"),
    ]  # fmt: skip
    records = derive_figures(records, load_target_profiles(), counts, CostOptions())
    by_id = {r.id: r for r in records}
    slower = precision_sentence(by_id["int8/pi-01/b1"], by_id["fp32/pi-01/b1"])
    assert slower is not None and slower.startswith("int8-dynamic against FP32 at batch 1 on pi-01: weights 0.137 →")
    assert (
        "measured throughput fell to 0.4× (1,000 → 400 inf/s): int8-dynamic did not help although the bound rose"
        in slower
    )
    faster = precision_sentence(by_id["int8/pi-01/b8"], by_id["fp32/pi-01/b8"])
    assert faster is not None and "rose 1.3× (2,000 → 2,667 inf/s): int8-dynamic helped" in faster
    batch = batch_sentence(by_id["fp32/pi-01/b8"], by_id["fp32/pi-01/b1"])
    assert batch is not None and "the weights are read once per query, so intensity went" in batch
    assert "measured throughput rose 2× (1,000 → 2,000 inf/s): the bigger batch helped" in batch
    assert "memory-bound →" in batch
    lines = explain(records, by_id["int8/pi-01/b8"])
    assert lines == [faster, batch_sentence(by_id["int8/pi-01/b8"], by_id["int8/pi-01/b1"])]
    # Far below its bound, the runtime is named as the limit.
    assert "the runtime's per-query overheads, not the" in slower
    without = dataclasses.replace(by_id["fp32/pi-01/b1"], roofline=None)
    assert precision_sentence(by_id["int8/pi-01/b1"], without) is None
