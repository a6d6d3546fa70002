"""Screenshots of a run's report.html at 1400 and 900 px in headless Chromium, for people to look at.

    python scripts/bench/report_screenshots.py RUN_DIR NAME [-- edgeprof report options]

Re-renders ``RUN_DIR/report.html`` with ``edgeprof report RUN_DIR OPTIONS`` when options follow ``--``
(a workload for the planner, ``--targets-dir`` for cost and roofline figures), then saves the full
page at each width as ``scripts/bench/report_screenshots/NAME-<width>px.png`` and prints what the
headline says. Needs selenium, Chromium and ChromeDriver (Debian: chromium chromium-driver).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

HERE = Path(__file__).resolve().parent / "report_screenshots"
WIDTHS = (1400, 900)
#: A full page is cut at this height (px): past it are provenance and notes, read in the page itself.
MAX_HEIGHT = 5200


def _shrink(png: Path) -> None:
    """256 colours are plenty for a report (and a fifth of the bytes in git)."""
    from PIL import Image

    with Image.open(png) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(png, optimize=True)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    run_dir, name, report_args = Path(argv[0]), argv[1], argv[3:] if argv[2:3] == ["--"] else argv[2:]
    if report_args:
        edgeprof = Path(sys.executable).with_name("edgeprof")
        subprocess.run([str(edgeprof), "report", str(run_dir), *report_args], check=True, stdout=subprocess.DEVNULL)
    page = run_dir / "report.html"
    if not page.is_file():
        print(f"{page} does not exist: run edgeprof optimize or demo with --out {run_dir} first", file=sys.stderr)
        return 1
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        print("needs chromium and chromedriver on PATH (apt-get install chromium chromium-driver)", file=sys.stderr)
        return 1
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    HERE.mkdir(exist_ok=True)
    try:
        for width in WIDTHS:
            metrics = {"width": width, "height": 1000, "deviceScaleFactor": 1, "mobile": False}
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
            driver.get(page.resolve().as_uri())
            time.sleep(2.0)  # plotly draws after load
            errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            scroll = driver.execute_script("return document.documentElement.scrollWidth")
            height = min(driver.execute_script("return document.documentElement.scrollHeight"), MAX_HEIGHT)
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "height": height})
            time.sleep(1.0)
            shot = HERE / f"{name}-{width}px.png"
            driver.save_screenshot(str(shot))
            _shrink(shot)
            print(f"{shot} ({width}x{height} px; page {scroll} px wide; console errors: {errors or 'none'})")
        print(driver.execute_script("return document.getElementById('recommended').innerText"))
        plan = driver.execute_script("const p = document.querySelector('#plan li'); return p ? p.innerText : null")
        print("planner:", plan or "no workload given (no planner section)")
    finally:
        driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
