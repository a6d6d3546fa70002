"""report.html in a real headless browser (Debian's Chromium through ChromeDriver and selenium): it
loads without console errors, the plots render with one point per record, the axis selects change
what is plotted, and nothing overflows or collapses at 900 and 1400 px. Screenshots at both widths
go to ``$EDGEPROF_TEST_ARTIFACTS`` (``.ci/run`` sets it) or the test's tmp dir.

Skips, saying why, where selenium, Chromium or ChromeDriver is absent.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.report import render_html

from ..decision_run import decision_run

pytestmark = pytest.mark.integration

WIDTHS = (1400, 900)
#: Text elements that must stay wider than this (px) once their text is longer than a few characters:
#: narrower is the "one character per line" the model card once printed.
MIN_TEXT_WIDTH_PX = 40


def _find(*names: str) -> str | None:
    return next((p for p in (shutil.which(n) for n in names) if p), None)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
    from selenium.webdriver.chrome.service import Service

    chromium = _find("chromium", "chromium-browser", "google-chrome")
    driver_path = _find("chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip(
            "Chromium or ChromeDriver is not installed (apt-get install chromium chromium-driver; .ci/run does)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def artifacts_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("EDGEPROF_TEST_ARTIFACTS") or tmp_path) / "report_browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def viewport(driver: Any, width: int, height: int = 1000) -> None:
    """An exact CSS viewport (the window's outer size is not), then time for plotly to re-lay out."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    time.sleep(0.6)


def wait_for_plots(driver: Any, count: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        drawn = driver.execute_script("return document.querySelectorAll('.plot .main-svg').length")
        if drawn and driver.execute_script(
            "return [...document.querySelectorAll('.plot')].every(p => p.querySelector('.main-svg'))"
        ):
            return
        time.sleep(0.2)
    raise AssertionError(f"the {count} plots did not render within {timeout_s} s")


FRONT_POINTS = "return document.querySelectorAll('#plot-front .scatterlayer .trace .point').length"
FRONT_X = "return document.getElementById('plot-front').data.flatMap(t => t.x)"
NARROW = """
return [...document.querySelectorAll('main dd, main td, main th, main p, main li, main .tile, main figcaption')]
  .filter(el => el.innerText.trim().length > 12 && el.getBoundingClientRect().width < arguments[0])
  .map(el => el.tagName + ': ' + el.innerText.trim().slice(0, 40) + ' (' + el.getBoundingClientRect().width + ' px)');
"""


def test_the_report_in_headless_chromium(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import Select

    run = decision_run(tmp_path)
    page = tmp_path / "report.html"
    page.write_text(render_html(run), encoding="utf-8")
    plots = page.read_text(encoding="utf-8").count('class="edgeprof-plot"')
    assert plots == 5  # front, latency, power, roofline, planner

    viewport(browser, WIDTHS[0])
    browser.get(page.as_uri())
    wait_for_plots(browser, plots)
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == [], errors

    # one point per record on the default axes (inf/J across, accuracy loss up)
    assert browser.execute_script(FRONT_POINTS) == len(run.records)
    ipj = sorted(r.inferences_per_joule for r in run.records)
    assert sorted(browser.execute_script(FRONT_X)) == pytest.approx(ipj)

    # hovering the recommended build shows its full record
    star = browser.find_element("css selector", "#plot-front .scatterlayer .trace:first-child .point")
    ActionChains(browser).move_to_element(star).perform()
    time.sleep(0.5)
    hover = browser.execute_script("const h = document.querySelector('#plot-front .hoverlayer'); return h.textContent")
    assert run.recommendation is not None and run.recommendation.id in hover
    assert "onnxruntime" in hover and "inf/J" in hover and "[measured]" in hover and "batch 8" in hover

    # choosing p99 latency across replots the same points at their p99 and retitles the axis
    Select(browser.find_element("id", "plot-front-x")).select_by_value("latency_p99_ms")
    time.sleep(0.5)
    assert sorted(browser.execute_script(FRONT_X)) == pytest.approx(sorted(r.latency_ms.p99 for r in run.records))
    title = browser.execute_script("return document.querySelector('#plot-front .xtitle').textContent")
    assert title.startswith("p99 latency, ms")
    assert browser.execute_script(FRONT_POINTS) == len(run.records)
    Select(browser.find_element("id", "plot-front-x")).select_by_value("inferences_per_joule")
    time.sleep(0.3)
    assert browser.get_log("browser") == []

    folder = artifacts_dir(tmp_path)
    for width in WIDTHS:
        viewport(browser, width)
        scroll, inner = browser.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]"
        )  # fmt: skip
        assert scroll <= inner, f"the page overflows at {width} px: {scroll} px wide"
        assert browser.execute_script(NARROW, MIN_TEXT_WIDTH_PX) == [], f"text squeezed at {width} px"
        card = browser.execute_script(
            "const h = [...document.querySelectorAll('.card h3')].find(h => h.textContent.startsWith('Model'));"
            "return h.parentElement.querySelector('dd').getBoundingClientRect().width"
        )
        assert card > 150, f"the model card's values are {card} px wide at {width} px"
        height = browser.execute_script("return document.documentElement.scrollHeight")
        viewport(browser, width, min(height, 12000))
        shot = folder / f"report-{width}px.png"
        assert browser.save_screenshot(str(shot))
        print(f"screenshot at {width} px: {shot}")
