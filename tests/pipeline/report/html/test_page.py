"""The HTML page (pipeline/report/html/page.py): well formed, offline (plotly.js inlined once, no other
script), escaped, and it says what to deploy."""

from __future__ import annotations

import dataclasses
import random
from html.parser import HTMLParser
from typing import Any

from pipeline.constraints import Constraints
from pipeline.cost import CostOptions
from pipeline.objectives import Objective
from pipeline.recommend import Recommendation
from pipeline.report import render_html
from pipeline.report.html.page import stylesheet
from pipeline.report.html.plot_html import BOOT_JS
from pipeline.report.html.plots_common import FRONT_COLOUR, plotly_js
from pipeline.summary import Failure, Unfinished

from ...sample_results import record, summary

HOSTILE = "<script>alert(1)</script>"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def sample(device: str = "local-myhost"):
    return summary(
        [
            record("fp32", device=device, ipj=210, loss=0.0, p99=4.0, tput=2100),
            record("int8-static", device=device, ipj=430.1, loss=0.003, p99=2.3, tput=4210.5),
            record("int8-dynamic", device=device, ipj=54.5, loss=0.006, p99=7.5, tput=1200),
            record("prune50", device=device, ipj=300, loss=0.05, p99=3.0, valid=False, notes=["too few samples"]),
        ],
        sla=5.0,
        device=device,
        failed=[Failure("int8-per-channel", device, "needs opset 13+")],
    )


class TagChecker(HTMLParser):
    """Records every problem with tag nesting, and every attribute that would load something."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.counts: dict[str, int] = {}
        self.loads: list[tuple[str, str, str]] = []
        self.text: list[str] = []
        self.scripts: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        self.counts[tag] = self.counts.get(tag, 0) + 1
        if tag == "script":
            self.scripts.append(dict(attrs))
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "action", "data", "poster") and value:
                self.loads.append((tag, name, value))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.counts[tag] = self.counts.get(tag, 0) + 1
        for name, value in attrs:
            if name in ("src", "href", "xlink:href") and value:
                self.loads.append((tag, name, value))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            if tag in self.stack:
                while self.stack and self.stack.pop() != tag:
                    pass
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def check(page: str) -> TagChecker:
    checker = TagChecker()
    checker.feed(page)
    checker.close()
    assert checker.problems == []
    assert checker.stack == []
    # The only scripts: plotly.js, the figures as inert JSON, and the page's own boot script.
    for attrs in checker.scripts:
        assert attrs in ({"id": "plotly-js"}, {"type": "application/json", "class": "edgeprof-plot"}, {}), attrs
    return checker


def plots(page: str) -> int:
    return page.count('<script type="application/json" class="edgeprof-plot">')


def without_plotly(page: str) -> str:
    """The page with plotly.js taken out (its code holds URLs it never loads for these charts)."""
    return page.replace(plotly_js(), "")


def test_well_formed_with_plots_and_table():
    page = render_html(sample())
    checker = check(page)
    assert page.startswith("<!DOCTYPE html>")
    assert plots(page) == 3  # front scatter, latency, power (no roofline or plan in this run)
    assert page.count(plotly_js()) == 1 and page.count(BOOT_JS) == 1
    assert checker.counts.get("table", 0) >= 2  # measurements, devices, failures
    assert checker.counts.get("html") == 1 and checker.counts.get("body") == 1


def test_offline_no_external_resources():
    page = render_html(sample())
    checker = check(page)
    assert checker.loads == []
    assert "link" not in checker.counts and all("src" not in attrs for attrs in checker.scripts)
    rest = without_plotly(page)
    assert "http://" not in rest and "https://" not in rest
    assert "@import" not in rest and "url(" not in rest


def test_the_stylesheet_is_package_data_inlined_in_the_page():
    css = stylesheet()
    assert ".headline{" in css and "tr.front td" in css
    assert css in render_html(sample())


def test_hostile_strings_are_escaped():
    run = sample(device=HOSTILE)
    records = list(run.records)
    records[0] = dataclasses.replace(records[0], notes=records[0].notes + (HOSTILE,))
    assert run.recommendation is not None
    run = dataclasses.replace(
        run,
        records=tuple(records),
        model={**run.model, "name": HOSTILE},
        failures=(Failure("int8-per-channel", HOSTILE, HOSTILE),),
        recommendation=Recommendation(run.recommendation.id, run.recommendation.reason + HOSTILE),
    )
    page = render_html(run)
    checker = check(page)
    assert HOSTILE not in page
    assert len(checker.scripts) == 2 + plots(page)  # plotly.js, boot, one JSON per figure: nothing injected
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert any(HOSTILE in t for t in checker.text)  # shown to the reader, as text


def test_shows_recommendation_and_reason():
    run = sample()
    page = render_html(run)
    text = " ".join(check(page).text)
    assert "Recommended build" in text
    assert run.recommendation is not None and run.recommendation.id == "int8-static/local-myhost/b8"
    assert "int8-static/local-myhost/b8" in text
    assert "430 inf/J" in text and "estimated power" in text
    # Headline comes before the charts and the table.
    assert page.index('id="recommended"') < page.index('class="plot"') < page.index('id="measurements"')


def test_front_highlighted_sla_line_and_units():
    page = render_html(sample())
    assert FRONT_COLOUR in page
    assert "SLA 5 ms" in page
    for unit in ("inferences per joule, inf/J", "accuracy loss, pp", "throughput (inf/s)", "p99 latency (ms)"):
        assert unit in page
    assert "int8-static/b8" in page  # front point label


def test_provenance_failures_and_footer():
    text = " ".join(check(render_html(sample())).text)
    assert "ESTIMATED, not measured" in text
    assert "abab" in text  # model sha256
    assert "calibration_data/digits/eval.npz" in text
    assert "needs opset 13+" in text
    assert "edgeprof 0.1.0" in text and "20261126-131500-ab12" in text and "results schema 2" in text
    assert "too few samples" in text


def test_unfinished_jobs_are_named():
    jobs = (
        Unfinished("job-1", "fp16", "local-myhost", "queued", "device went offline"),
        Unfinished("job-2", "int8-dynamic", "dev-b", "delivered", "no result within the 600 s deadline"),
        Unfinished("job-3", "prune50", "dev-b", "running", "no result within the 600 s deadline"),
    )
    page = render_html(dataclasses.replace(sample(), unfinished=jobs))
    text = " ".join(check(page).text)
    assert "Jobs that never reported (3)" in text
    assert "3 jobs issued for this run never reported: fp16 on local-myhost (queued)" in text
    for job in jobs:
        assert job.job_id in text and job.reason in text
    assert 'id="unfinished"' not in render_html(sample())


def test_single_record():
    page = render_html(summary([record("fp32")]))
    check(page)
    assert plots(page) == 3
    assert "fp32/local-myhost/b8" in page


def test_no_power():
    page = render_html(summary([record("fp32", power=False, tput=1000), record("int8", power=False, tput=2000)]))
    check(page)
    assert "no power figures" in page
    assert "int8/local-myhost/b8" in page


def test_no_labels():
    run = summary(
        [record("fp32", loss=None, agreement=1.0), record("int8", ipj=300, loss=None, agreement=0.99)],
        has_labels=False,
    )
    page = render_html(run)
    check(page)
    assert "fidelity loss" in page
    assert "no labels" in page


def test_no_recommendation_and_no_records():
    page = render_html(summary([record("a", p99=9.0)], sla=1.0))
    check(page)
    assert "No recommendation" in page
    page = render_html(summary([]))
    check(page)
    assert "No measurements" in page
    assert plots(page) == 0 and 'id="plotly-js"' not in page  # no chart, no 4.8 MB of plotly.js


def test_hundred_records():
    rng = random.Random(3)
    records = [
        record(
            f"v{i}",
            rng.choice([1, 8, 32]),
            device=rng.choice(["a", "b"]),
            ipj=rng.uniform(10, 3000),
            tput=rng.uniform(100, 20000),
            p99=rng.uniform(0.5, 80),
            loss=rng.uniform(0, 0.03),
            estimated=rng.random() < 0.5,
        )
        for i in range(100)
    ]
    page = render_html(summary(records, sla=20.0))
    check(page)
    assert plots(page) == 3
    assert page.count("<tr") >= 100
    assert "log scale" in page  # inf/J spans more than 30×


def _poison(value: Any) -> Any:
    """Every string in a run summary replaced by the hostile one (numbers, objectives, constraints and
    cost options kept: they are code or the user's validated flags, not data from the network)."""
    if isinstance(value, Objective | Constraints | CostOptions):
        return value  # code and the user's own validated options, not data from the network
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(
            value, **{f.name: _poison(getattr(value, f.name)) for f in dataclasses.fields(value)}
        )
    if isinstance(value, dict):
        return {_poison(k): _poison(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_poison(v) for v in value)
    if isinstance(value, str):
        return HOSTILE
    return value


def test_every_string_field_hostile():
    run = dataclasses.replace(
        sample(), unfinished=(Unfinished("job-1", "fp16", "local-myhost", "queued", "device went offline"),)
    )
    page = render_html(_poison(run))
    checker = check(page)
    assert HOSTILE not in page
    assert len(checker.scripts) == 2 + plots(page)
