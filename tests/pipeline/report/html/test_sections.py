"""The page's sections (pipeline/report/html/sections.py)."""

from __future__ import annotations

import dataclasses

from pipeline.report.html.sections import charts, failed, measurements, notes, provenance, unfinished
from pipeline.summary import Failure, Unfinished

from ...sample_results import record, summary


def sample():
    return summary(
        [
            record("fp32", ipj=210, loss=0.0, p99=4.0, tput=2100, precision="fp32"),
            record("int8", ipj=430, loss=0.003, p99=2.3, tput=4210),
            record("int8-dynamic", ipj=54.5, loss=0.006, p99=7.5, tput=1200),
        ],
        sla=5.0,
    )


def test_the_measurements_table_marks_the_recommendation_the_front_and_sla_breaches():
    html = measurements(sample())
    assert html.index("int8/local-myhost/b8") < html.index("fp32/local-myhost/b8")  # sorted front first
    assert '<tr class="front rec" title="int8/local-myhost/b8">' in html
    assert '<td class="num bad">7.50</td>' in html
    assert "↳ not ranked: p99 7.5 ms exceeds the 5 ms SLA" in html
    assert '<span class="ver">1.32.0</span>' in html


def test_the_charts_section_has_the_axis_picker_and_three_figures():
    html = charts(sample())
    assert html.count('class="edgeprof-plot"') == 3
    assert '<select id="plot-front-x"' in html and '<select id="plot-front-y"' in html
    assert '<option value="inferences_per_joule" selected>' in html
    assert '<option value="accuracy_loss_abs" selected>' in html
    assert charts(summary([])) == ""


def test_provenance_lists_devices_model_and_power():
    html = provenance(sample())
    assert "generic-x86_64" in html and "onnxruntime 1.32.0" in html and "estimate" in html
    assert "<code>image</code> batch×1×32×32 float32" in html
    assert "yes: loss is top-1 against labels" in html
    empty = provenance(dataclasses.replace(sample(), devices={}))
    assert "none listed" in empty


def test_failures_and_unfinished_only_when_there_are_some():
    run = sample()
    assert failed(run) == "" and unfinished(run) == ""
    run = dataclasses.replace(
        run,
        failures=(Failure("v", "d", "boom"),),
        unfinished=(Unfinished("job-9", "fp16", "dev-b", "delivered", "no result within the deadline"),),
    )
    assert "Failed variants (1)" in failed(run) and '<td class="err">boom</td>' in failed(run)
    html = unfinished(run)
    assert "1 job issued for this run never reported: fp16 on dev-b (delivered)." in html
    assert "<td>job-9</td><td>fp16</td><td>dev-b</td><td>delivered</td><td>no result within the deadline</td>" in html


def test_notes_shared_by_all_records_say_all():
    run = summary([record("a", notes=["cpu governor is powersave"]), record("b", notes=["cpu governor is powersave"])])
    assert "cpu governor is powersave <span" in notes(run) and "(all)" in notes(run)


def test_the_trust_card_shows_what_each_measurement_rests_on() -> None:
    import dataclasses

    from agent.protocol import LayerTime, ThroughputAtSLA, Validity
    from pipeline.report.html.sections import trust_card

    best = ThroughputAtSLA(throughput_ips=900.0, batch_size=8, concurrency=1, p99_ms=4.0, sla_p99_ms=5.0)
    r = dataclasses.replace(
        record("ort-int8"), validity=Validity(window_s=2.0, queries=1500, cpus=2, foreign_load=0.01),
        layer_profile=(LayerTime("Conv", 0.5, 0.9, 4),), input_shapes={"image": [8, 1, 32, 32]},
        throughput_at_sla=best,
    )  # fmt: skip
    html = trust_card(summary([r, record("ort-fp32")]))
    assert "Measurement validity and profile" in html
    assert "1500 queries; p99 measured" in html.replace(",", "") and "Conv 90.0% (0.5 ms)" in html
    assert "image 8×1×32×32" in html
    assert "Throughput at the latency target: ort-int8 on local-myhost: 900 inf/s at batch 8" in html
    assert "no validity figures from this agent" in html  # the record without them says so
