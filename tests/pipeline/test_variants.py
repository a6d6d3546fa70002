"""Variant planning and building: chains start with the opset upgrade; an unchanged spec rebuilds nothing."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from pipeline.demo_model import DEMO_CALIB_PATH, DEMO_MODEL_PATH
from pipeline.store import ArtifactStore
from pipeline.variants import VariantBuilder, plan_variants


def test_plan_names_and_chains() -> None:
    plans = plan_variants(["fp32", "int8-static"], ["onnxruntime"])
    assert [p.id for p in plans] == ["ort-fp32", "ort-int8-static"]
    assert all(p.passes[0][0] == "opset_upgrade" for p in plans)
    assert [name for name, _ in plans[1].passes] == ["opset_upgrade", "quantize_static"]
    with pytest.raises(ValueError, match="unknown precision"):
        plan_variants(["int3"], ["onnxruntime"])


def test_rebuild_of_an_unchanged_spec_is_cached(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    store = ArtifactStore(tmp_path / "store")
    with np.load(DEMO_CALIB_PATH) as npz:
        calib = {"image": npz["image"][:16]}
    spec = plan_variants(["int8-static"], ["onnxruntime"])[0]
    source = store.put(DEMO_MODEL_PATH, "model/onnx")
    first = VariantBuilder(store, calib).build(spec, source)
    assert any(n.op_type == "QuantizeLinear" for n in onnx.load(str(first.path)).graph.node)

    import pipeline.passes.quantize_static as qs

    def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the pass ran again for an unchanged spec")

    monkeypatch.setattr(qs.QuantizeStatic, "run", boom)
    again = VariantBuilder(store, calib).build(spec, source)
    assert again.sha256 == first.sha256

    # other calibration data is another spec: it must rebuild (and so hit the patched pass)
    with pytest.raises(AssertionError, match="ran again"):
        VariantBuilder(store, {"image": calib["image"][:8]}).build(spec, source)
