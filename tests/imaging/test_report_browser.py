"""report.html in a real browser (headless Debian Chromium at 1280×800, via selenium).

Checks what a reader meets: no page wider than the window, no table row taller than
120 px, every image loaded, the headline numbers visible without scrolling, and a page that
renders in under 2 s. Screenshots go to test-artifacts/ for a person to look at. Runs on
the report of the shared synthetic plate run and on a run over a real high-content field.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from spmito.imaging.batch import run_batch
from spmito.imaging.params import resolve_params
from spmito.imaging.sheet import sheet_from_paths

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WIDTH_PX, HEIGHT_PX = 1280, 800
MAX_ROW_PX = 120
MAX_RENDER_S = 2.0
MAX_DEMO_REPORT_BYTES = 3_000_000

#: Layout facts of the open page, measured in the browser.
_MEASURE = """
const rows = Array.from(document.querySelectorAll('tr'))
  .map(r => [r.getBoundingClientRect().height, r.textContent.trim().slice(0, 60)])
  .filter(r => r[0] > arguments[0]);
const images = Array.from(document.querySelectorAll('img[src]'));
const head = document.getElementById('headline').getBoundingClientRect();
const values = Array.from(document.querySelectorAll('#headline .value'));
const navigation = performance.getEntriesByType('navigation')[0];
const sectionTop = id => { const e = document.getElementById(id);
  return e ? e.getBoundingClientRect().top + window.scrollY : -1; };
return {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
        innerHeight: window.innerHeight, tallRows: rows,
        brokenImages: images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt),
        nImages: images.length, headlineTop: head.top, headlineBottom: head.bottom,
        headlineText: values.map(v => v.textContent),
        hiddenValues: values.filter(v => v.getBoundingClientRect().bottom > window.innerHeight
                                      || v.offsetParent === null).length,
        loadMs: navigation.loadEventEnd - navigation.startTime,
        pageHeight: document.documentElement.scrollHeight,
        sections: Object.fromEntries(['qc', 'gating', 'sp', 'sp-vs-mp', 'images', 'methods']
                                     .map(id => [id, sectionTop(id)]))};
"""


def _browser_paths() -> tuple[str, str] | None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (chromium, driver) if chromium and driver else None


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium with a 1280×800 viewport; skips without chromium/chromedriver."""
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
    paths = _browser_paths()
    if paths is None:
        pytest.skip("Debian packages chromium and chromium-driver are not installed "
                    "(scripts/install-system-deps.sh installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--hide-scrollbars",
                     f"--window-size={WIDTH_PX},{HEIGHT_PX}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=paths[1]))
    try:
        # the viewport, not the window, is what a reader sees: size the window to fit it
        inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
        size = driver.get_window_size()
        driver.set_window_size(size["width"] + WIDTH_PX - inner[0],
                               size["height"] + HEIGHT_PX - inner[1])
        yield driver
    finally:
        driver.quit()


def open_and_measure(driver, report: Path, name: str) -> dict:
    """Open ``report``, measure its layout, save screenshots as test-artifacts/<name>_*.png."""
    started = time.perf_counter()
    driver.get(report.resolve().as_uri())
    facts = driver.execute_script(_MEASURE, MAX_ROW_PX)
    facts["wallS"] = time.perf_counter() - started
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}_top.png"))
    for section in ("qc", "sp-vs-mp", "images"):
        driver.execute_script(
            f"const e = document.getElementById('{section}'); if (e) e.scrollIntoView();")
        driver.save_screenshot(str(ARTIFACTS / f"{name}_{section}.png"))
    return facts


def assert_reads_well(facts: dict) -> None:
    """The acceptance of issue #10 on one opened report."""
    assert (facts["innerWidth"], facts["innerHeight"]) == (WIDTH_PX, HEIGHT_PX)
    assert facts["scrollWidth"] <= facts["innerWidth"], facts
    assert facts["tallRows"] == [], facts["tallRows"]
    assert facts["nImages"] > 0 and facts["brokenImages"] == [], facts["brokenImages"]
    assert 0 <= facts["headlineTop"] and facts["headlineBottom"] <= facts["innerHeight"], facts
    assert facts["hiddenValues"] == 0 and len(facts["headlineText"]) >= 3, facts
    assert facts["loadMs"] < 1000 * MAX_RENDER_S, facts


@pytest.mark.slow
def test_demo_plate_report_reads_well_at_1280_px(browser, synthetic_plate_run):
    report = synthetic_plate_run.out / "report.html"
    assert report.stat().st_size < MAX_DEMO_REPORT_BYTES
    facts = open_and_measure(browser, report, "demo_report")
    print(f"demo report: {report.stat().st_size / 1e6:.2f} MB, loaded in "
          f"{facts['loadMs']:.0f} ms, page {facts['pageHeight']} px, sections at "
          f"{facts['sections']}, headline {facts['headlineText']}")
    assert_reads_well(facts)
    # the headline leads with the answer: SP %, ΔSP % and the primary endpoint's fold change
    assert facts["headlineText"][0].endswith("%") and "points" in facts["headlineText"][1]
    assert facts["headlineText"][2].endswith("×")
    # 12 fields, one overlay each, each opening full size
    overlays = browser.find_elements("css selector", "#gallery img.thumb")
    assert len(overlays) == len(synthetic_plate_run.sheet)
    overlays[0].click()
    lightbox = browser.find_element("id", "lightbox")
    assert lightbox.is_displayed()
    assert browser.execute_script("return document.querySelector('#lightbox img').naturalWidth"
                                  ) > 500
    browser.save_screenshot(str(ARTIFACTS / "demo_report_overlay.png"))


@pytest.fixture(scope="module")
def real_run(real_data, tmp_path_factory):
    """A run over a real Cell Painting field (BBBC022 U2OS: Hoechst, ConA, SYTO 14); the
    SYTO 14 channel stands in for mitochondria, so the QC is expected to warn."""
    field = real_data / "bbbc022_u2os" / "IXMtest_A02_s9_crop.tif"
    out = tmp_path_factory.mktemp("real") / "out"
    params = resolve_params({"channels": "hoechst=0,cell=1,mito=2", "voxel_size": "0.656,0.656",
                             "cell_diameter": 30.0, "nucleus_diameter": 15.0})
    outcome = run_batch(sheet_from_paths([field]), out, params, progress=False)
    assert outcome.exit_code == 0, outcome
    return out


@pytest.mark.real_data
def test_real_image_report_reads_well_at_1280_px(browser, real_run):
    facts = open_and_measure(browser, real_run / "report.html", "real_report")
    print(f"real report: loaded in {facts['loadMs']:.0f} ms, headline {facts['headlineText']}")
    assert_reads_well(facts)
    gallery = browser.find_elements("css selector", "#gallery tbody tr")
    assert len(gallery) == 1
