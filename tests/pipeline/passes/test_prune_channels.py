"""pipeline.passes.prune_channels (and channel_groups): structured pruning that really shrinks the graph."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from pipeline.errors import PassError
from pipeline.graph_cost import graph_cost
from pipeline.passes import PassContext
from pipeline.passes.prune_channels import PruneChannels, kept_count

from .models import (
    MLP_FEATURES,
    RESIDUAL_INPUT_SHAPE,
    build_mlp,
    build_residual_cnn,
    random_inputs,
    run_ort,
    save,
    top1_agreement,
)

#: Removes exactly the dead quarter of every layer in build_residual_cnn, 8-channel branches included.
EXACT = {"ratio": 0.25, "min_channels": 2}


def _shapes(path: Path) -> dict[str, tuple[int, ...]]:
    return {i.name: tuple(i.dims) for i in onnx.load(str(path)).graph.initializer}


def _group_attr(path: Path, node_name: str) -> int:
    node = next(n for n in onnx.load(str(path)).graph.node if n.name == node_name)
    return next(a.i for a in node.attribute if a.name == "group")


def test_removing_dead_channels_shrinks_every_layer_and_keeps_the_outputs(tmp_path: Path) -> None:
    # setup
    source = build_residual_cnn(tmp_path / "residual.onnx")
    out = tmp_path / "pruned.onnx"
    x = random_inputs(RESIDUAL_INPUT_SHAPE, 4)

    # execute
    PruneChannels(EXACT).run(source, out, PassContext())

    # assert: residual group (stem + block.conv2, added) 16 -> 12 everywhere it flows
    shapes = _shapes(out)
    assert shapes["stem.w"] == (12, 3, 3, 3)
    assert shapes["block.conv1.w"] == (12, 12, 3, 3)  # its own group 16 -> 12, reading 12
    assert shapes["block.conv2.w"] == (12, 12, 3, 3)
    assert shapes["dw.w"] == (12, 1, 3, 3) and shapes["dw.b"] == (12,)
    assert _group_attr(out, "dw") == 12
    for bn in ("stem.bn", "block.bn1", "block.bn2", "dw.bn"):
        assert shapes[f"{bn}.scale"] == shapes[f"{bn}.var"] == (12,)
    # the Concat's two 8-channel branches keep 6 each; the Mul constant and expand see 12 at the right offsets
    assert shapes["branch1.w"] == (6, 12, 1, 1) and shapes["branch2.w"] == (6, 12, 3, 3)
    assert shapes["channel_scale"] == (1, 12, 1, 1)
    assert shapes["expand.w"] == (24, 12, 1, 1)
    assert shapes["head.w"] == (10, 24)  # the logits Gemm only loses input rows
    # the dead channels were the ones removed: same outputs (a wrong offset would scale the wrong channels)
    before, after = run_ort(source, {"input": x})[0], run_ort(out, {"input": x})[0]
    assert after.shape == before.shape == (4, 10)
    np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-5)
    kept_scale = numpy_helper.to_array(
        next(i for i in onnx.load(str(out)).graph.initializer if i.name == "channel_scale")
    )
    np.testing.assert_allclose(kept_scale.reshape(-1), np.delete(np.linspace(0.5, 2.0, 16), [0, 4, 9, 13]))


def _kept_rows(original: np.ndarray, pruned: np.ndarray) -> list[int]:
    """Which rows (axis 0) of ``original`` survive in ``pruned``, found by value on the columns both hold."""
    flat, rows = original.reshape(len(original), -1), pruned.reshape(len(pruned), -1)
    width = rows.shape[1] if rows.shape[1] == flat.shape[1] else None
    found = []
    for row in rows:
        matches = [i for i in range(len(flat)) if width is not None and np.array_equal(flat[i], row)]
        found.append(matches[0] if matches else -1)
    return found


def test_both_branches_of_a_residual_add_keep_the_same_channels(tmp_path: Path) -> None:
    # setup: the stem's weak channels (0, 4, 8, 12) differ from block.conv2's (2, 6, 10, 14)
    source = build_residual_cnn(tmp_path / "residual.onnx", dead_scale=1e-3, skip_dead_offset=2)
    out = tmp_path / "pruned.onnx"

    # execute
    PruneChannels(EXACT).run(source, out, PassContext())

    # assert: one keep-set for both (and for the depthwise Conv that reads their sum)
    before = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(source)).graph.initializer}
    after = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(out)).graph.initializer}
    stem = _kept_rows(before["stem.w"], after["stem.w"])
    assert len(stem) == 12 and -1 not in stem
    assert _kept_rows(before["dw.w"], after["dw.w"]) == stem
    conv1 = _kept_rows(before["block.conv1.w"][:, stem], after["block.conv1.w"])  # reads the stem's channels
    assert _kept_rows(before["block.conv2.w"][:, conv1], after["block.conv2.w"]) == stem  # reads conv1's
    assert set(range(16)) - set(stem) <= {0, 2, 4, 6, 8, 10, 12, 14}  # weak in one branch: half the importance
    assert run_ort(out, {"input": random_inputs(RESIDUAL_INPUT_SHAPE, 2)})[0].shape == (2, 10)


def test_a_model_with_a_fixed_batch_is_pruned_at_that_batch(tmp_path: Path) -> None:
    source = build_residual_cnn(tmp_path / "residual.onnx", batch=3)
    out = tmp_path / "pruned.onnx"
    x = random_inputs(RESIDUAL_INPUT_SHAPE, 3)

    PruneChannels(EXACT).run(source, out, PassContext())

    np.testing.assert_allclose(run_ort(out, {"input": x})[0], run_ort(source, {"input": x})[0], rtol=1e-4, atol=1e-5)


def test_pruned_graph_does_fewer_flops_on_smaller_tensors(tmp_path: Path) -> None:
    source = build_residual_cnn(tmp_path / "residual.onnx")
    out = tmp_path / "pruned.onnx"

    PruneChannels(EXACT).run(source, out, PassContext())

    before, after = graph_cost(source, batch=2), graph_cost(out, batch=2)
    assert after.flops < 0.7 * before.flops  # most layers lose a quarter of inputs and outputs: ~0.56x
    assert after.activation_bytes < 0.85 * before.activation_bytes
    assert after.total_weight_bytes < 0.7 * before.total_weight_bytes
    assert after.shapes_known and not after.uncounted_ops


def test_near_dead_channels_are_found_by_l1_norm_and_outputs_change_a_little(tmp_path: Path) -> None:
    source = build_residual_cnn(tmp_path / "residual.onnx", dead_scale=1e-3)
    out = tmp_path / "pruned.onnx"
    x = random_inputs(RESIDUAL_INPUT_SHAPE, 16)

    PruneChannels(EXACT).run(source, out, PassContext())

    before, after = run_ort(source, {"input": x})[0], run_ort(out, {"input": x})[0]
    assert after.shape == before.shape
    assert not np.array_equal(after, before)
    assert np.abs(after - before).max() < 0.02 * np.abs(before).max()
    assert top1_agreement(before, after) == 1.0


def test_mlp_hidden_features_are_pruned_through_gemm_and_matmul(tmp_path: Path) -> None:
    source = build_mlp(tmp_path / "mlp.onnx")
    out = tmp_path / "pruned.onnx"
    x = random_inputs((MLP_FEATURES,), 8)

    PruneChannels({"ratio": 0.25}).run(source, out, PassContext())

    shapes = _shapes(out)
    assert shapes["fc1.w"] == (48, MLP_FEATURES) and shapes["fc1.b"] == (48,)  # transB=1: [out, in]
    assert shapes["fc2.w"] == (48, 32)  # MatMul reader: rows are its inputs
    assert shapes["fc3.w"] == (32, 10)  # MatMul is not a prunable layer: its 32 outputs stay
    np.testing.assert_allclose(run_ort(out, {"x": x})[0], run_ort(source, {"x": x})[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("channels", "config", "kept"), [
    (16, {"ratio": 0.3}, 11),  # 11.2 -> 11
    (16, {"ratio": 0.3, "round_to": 8}, 8),  # 11.2 is nearer 8 than 16
    (64, {"ratio": 0.3, "round_to": 8}, 48),  # 44.8 -> 48
    (8, {"ratio": 0.5}, 8),  # min_channels 8
    (32, {"ratio": 0.9, "min_channels": 4}, 4),
    (4, {"ratio": 0.3, "round_to": 8, "min_channels": 1}, 4),  # never more than it has
])  # fmt: skip
def test_kept_count_rounds_to_the_nearest_multiple_within_the_bounds(
    channels: int, config: dict[str, object], kept: int
) -> None:
    assert kept_count(channels, PruneChannels(config).config) == kept


def test_round_to_keeps_channel_counts_multiples_of_8(tmp_path: Path) -> None:
    source = build_residual_cnn(tmp_path / "residual.onnx")
    out = tmp_path / "pruned.onnx"

    PruneChannels({"ratio": 0.4, "round_to": 8}).run(source, out, PassContext())

    shapes = _shapes(out)
    assert shapes["stem.w"][0] == 8 and shapes["expand.w"][0] == 16  # 9.6 -> 8, 19.2 -> 16
    assert shapes["branch1.w"][0] == 8  # 8 channels: min_channels keeps them whole
    assert run_ort(out, {"input": random_inputs(RESIDUAL_INPUT_SHAPE, 2)})[0].shape == (2, 10)


def _chain(
    path: Path, tail: list[onnx.NodeProto], outputs: list[onnx.ValueInfoProto], extra: Sequence[onnx.TensorProto] = ()
) -> Path:
    """input [1, 4, 8, 8] -> Conv 'a' (4->16) -> Relu ('r') -> ``tail``; graph outputs ``outputs``;
    initializers ``a.w``, ``b.w`` (16x16x1x1) and ``extra``."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.normal(size=(16, 4, 3, 3)).astype(np.float32), "a.w"),
        numpy_helper.from_array(rng.normal(size=(16, 16, 1, 1)).astype(np.float32), "b.w"),
        *extra,
    ]
    nodes = [
        helper.make_node("Conv", ["input", "a.w"], ["c"], name="a", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="a.relu"),
        *tail,
    ]
    graph = helper.make_graph(
        nodes, "chain", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4, 8, 8])], outputs, inits
    )
    return save(graph, path)


def test_a_layer_feeding_an_op_it_cannot_follow_is_left_whole_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # setup: 'a' feeds a Transpose (cannot follow) and Conv 'b'; 'b' feeds only the graph output
    source = _chain(
        tmp_path / "chain.onnx",
        [
            helper.make_node("Conv", ["r", "b.w"], ["y"], name="b"),
            helper.make_node("Transpose", ["r"], ["t"], name="swap", perm=[0, 2, 3, 1]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 8, 8]),
            helper.make_tensor_value_info("t", TensorProto.FLOAT, [1, 8, 8, 16]),
        ],
    )

    # execute
    with caplog.at_level(logging.INFO), pytest.raises(PassError, match="no channel could be removed") as info:
        PruneChannels().run(source, tmp_path / "out.onnx", PassContext())

    # assert
    assert "Transpose 'swap'" in str(info.value)
    assert "graph output 'y'" in str(info.value)
    assert not (tmp_path / "out.onnx").exists()


def test_residual_add_with_an_unprunable_branch_freezes_the_group_and_the_rest_is_pruned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # setup: 'a' is added to a tensor it does not control (the input tiled to 16 channels); 'b' is free
    source = _chain(
        tmp_path / "chain.onnx",
        [
            helper.make_node("Conv", ["r", "b.w"], ["b"], name="b"),
            helper.make_node("Relu", ["b"], ["br"], name="b.relu"),
            helper.make_node("Conv", ["br", "b.w"], ["y"], name="c"),
            helper.make_node("Tile", ["input", "reps"], ["tiled"], name="tile"),
            helper.make_node("Add", ["r", "tiled"], ["z"], name="skip"),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 8, 8]),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 16, 8, 8]),
        ],
        [numpy_helper.from_array(np.array([1, 4, 1, 1], np.int64), "reps")],
    )
    out = tmp_path / "out.onnx"

    # execute
    with caplog.at_level(logging.INFO, logger="pipeline.passes.prune_channels"):
        PruneChannels({"ratio": 0.5}).run(source, out, PassContext())

    # assert: 'b' shrank (16 -> 8), its reader 'c' reads 8; 'a' kept 16 and says why
    shapes = _shapes(out)
    assert shapes["a.w"] == (16, 4, 3, 3)
    # 'b' and 'c' shared one weight: each got its own sliced copy, and the original went unused
    assert "b.w" not in shapes
    assert sorted(v for k, v in shapes.items() if k.startswith("b.w.pruned")) == [(8, 16, 1, 1), (16, 8, 1, 1)]
    assert "'skip'" in caplog.text and "unpruned tensor" in caplog.text
    outputs = run_ort(out, {"input": random_inputs((4, 8, 8), 1)})
    assert [o.shape for o in outputs] == [(1, 16, 8, 8), (1, 16, 8, 8)]


def test_mnist_reshape_is_followed_and_the_model_still_classifies(
    mnist_model: Path, mnist_eval: np.ndarray, tmp_path: Path
) -> None:
    out = tmp_path / "pruned.onnx"

    PruneChannels({"ratio": 0.3}).run(mnist_model, out, PassContext())

    shapes = _shapes(out)
    assert shapes["conv2.weight"][0] == 45  # 64 -> 44.8 -> 45
    assert shapes["fc1.weight"] == (90, 45 * 7 * 7)  # the Reshape's [-1, 3136] became [-1, 2205]
    before, after = run_ort(mnist_model, {"input": mnist_eval})[0], run_ort(out, {"input": mnist_eval})[0]
    assert after.shape == before.shape
    assert top1_agreement(before, after) >= 0.5  # no fine-tuning: measured, not assumed (the sweep does)
    assert graph_cost(out).flops < 0.6 * graph_cost(mnist_model).flops


def test_output_drops_the_stale_flops_metadata_and_keeps_the_rest(tmp_path: Path) -> None:
    source = build_residual_cnn(tmp_path / "residual.onnx")
    model = onnx.load(str(source))
    helper.set_model_props(model, {"edgeprof.flops_per_inference": "123", "edgeprof.dataset": "x"})
    onnx.save(model, str(source))

    PruneChannels(EXACT).run(source, tmp_path / "out.onnx", PassContext())

    props = {p.key: p.value for p in onnx.load(str(tmp_path / "out.onnx")).metadata_props}
    assert props == {"edgeprof.dataset": "x"}


def test_a_quantized_model_is_refused_with_the_fix(tmp_path: Path) -> None:
    # setup: weights behind DequantizeLinear, as a QDQ build has them
    conv = helper.make_node("Conv", ["r", "b.w"], ["y"], name="b")
    source = _chain(
        tmp_path / "chain.onnx", [conv], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 8, 8])]
    )
    model = onnx.load(str(source))
    for init in list(model.graph.initializer):
        init.name = f"{init.name}.q"
        init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.int8), init.name))
    model.graph.initializer.append(numpy_helper.from_array(np.float32(0.1), "scale"))
    dequantize = [helper.make_node("DequantizeLinear", [f"{w}.q", "scale"], [w]) for w in ("a.w", "b.w")]
    nodes = dequantize + list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.save(model, str(source))

    with pytest.raises(PassError, match="DequantizeLinear nodes: prune before quantizing"):
        PruneChannels().run(source, tmp_path / "out.onnx", PassContext())


@pytest.mark.parametrize(
    "config", [{"ratio": 0.0}, {"ratio": 1.0}, {"op_types": ["MatMul"]}, {"round_to": 0}, {"min_channels": 0}]
)
def test_bad_config_is_a_value_error(config: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        PruneChannels(config)
