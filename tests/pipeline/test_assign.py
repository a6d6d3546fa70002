"""pipeline.assign: which build goes to which device, and why a pair is skipped."""

from __future__ import annotations

from agent.protocol import AgentStatus
from pipeline.assign import assign, profile_power_mode_names
from pipeline.build import Built
from pipeline.plan import plan_variants


def built(power_modes: tuple[str, ...]) -> list[Built]:
    plan = plan_variants(["fp16"], ["tensorrt"], power_modes=power_modes)
    return [Built(spec, None, "not checked") for spec in plan.variants]  # type: ignore[arg-type]


def device(device_id: str, target: str) -> AgentStatus:
    return AgentStatus(device_id=device_id, state="online", runtimes={"tensorrt": "10.3.0"}, target=target)


def test_a_power_mode_goes_only_to_devices_whose_profile_has_it() -> None:
    devices = {"orin": device("orin", "jetson-orin-nano-8gb"), "l4": device("l4", "nvidia-l4")}

    pairs, skipped = assign(built(("current", "MAXN_SUPER", "7w")), devices, None, profile_power_mode_names())

    assert sorted((b.spec.id, d) for b, d in pairs) == [
        ("trt-fp16", "l4"),
        ("trt-fp16", "orin"),
        ("trt-fp16-mode-7w", "orin"),  # mode names match whatever their case
        ("trt-fp16-mode-MAXN_SUPER", "orin"),
    ]
    reasons = {(s.variant, s.device_id): s.reason for s in skipped}
    assert set(reasons) == {("trt-fp16-mode-MAXN_SUPER", "l4"), ("trt-fp16-mode-7w", "l4")}
    assert "nvidia-l4 has no power mode 7w (its modes: default)" in reasons[("trt-fp16-mode-7w", "l4")]
    assert "add 'current' to --power-modes" in reasons[("trt-fp16-mode-7w", "l4")]


def test_without_mode_names_nothing_is_restricted() -> None:
    pairs, skipped = assign(built(("15W",)), {"x": device("x", "")})

    assert [(b.spec.id, d) for b, d in pairs] == [("trt-fp16-mode-15W", "x")] and skipped == []


def test_every_shipped_jetson_profile_names_its_modes() -> None:
    modes = profile_power_mode_names()

    jetsons = [p for p in modes if p.startswith("jetson-")]
    assert jetsons and all(modes[p] for p in jetsons)
    assert "MAXN_SUPER" in modes["jetson-orin-nano-8gb"] and "15W" in modes["jetson-orin-nano-8gb"]
