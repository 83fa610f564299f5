"""Size and render time of report.html: the run as it is, and its gallery scaled to N images.

    python benchmarks/bench_report.py DIR [--images 100]

DIR is a finished output folder (e.g. of ``spmito demo``). The scaled report repeats DIR's
images with worst-case overlays (noise, which JPEG cannot compress, capped like the real
ones by ``spmito.imaging.qc.OVERLAY_MAX_BYTES``), so its size is an upper bound for N fields. The
render time is Chromium's load event (headless, 1280×800), when chromium and chromedriver
are installed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from spmito.imaging.params import read_run_params
from spmito.imaging.qc import OVERLAY_MAX_BYTES
from spmito.imaging.report_content import build_report
from spmito.measure.analysis.overlays import save_rgb
from spmito.measure.analysis.population import Gate


def scaled_report(run_dir: Path, out_dir: Path, n_images: int) -> Path:
    """Write out_dir/report.html: run_dir's tables with a gallery of ``n_images`` rows."""
    shutil.copytree(run_dir, out_dir)
    images = pd.read_csv(out_dir / "images.csv", dtype={"image_id": str},
                         keep_default_na=False)
    rows = images.sample(n_images, replace=True, random_state=0).reset_index(drop=True)
    rows["image_id"] = [f"img{i:04d}" for i in range(n_images)]
    rng = np.random.default_rng(0)
    for index, row in rows.iterrows():
        path = out_dir / "figures" / f"overlay_{row['image_id']}.jpg"
        noise = rng.integers(0, 255, (240, 1200, 3), dtype=np.uint8)
        save_rgb(noise, path, max_bytes=OVERLAY_MAX_BYTES)
        rows.loc[index, "overlay"] = path.relative_to(out_dir).as_posix()
    tables = {name: pd.read_csv(out_dir / f"{name}.csv", low_memory=False)
              for name in ("cells", "wells", "stats", "replicates", "failures")}
    qc = pd.read_csv(out_dir / "qc.csv", dtype={"image_id": str}, keep_default_na=False)
    gates = [Gate.from_dict(g) for g in json.loads((out_dir / "gating.json").read_text())]
    figures = [(p, p.stem) for p in sorted((out_dir / "figures").glob("*.png"))]
    build_report(out_dir, read_run_params(out_dir), tables["cells"], tables["wells"],
                 tables["stats"], tables["replicates"], gates, figures, tables["failures"],
                 [], images=rows, qc=qc)
    return out_dir / "report.html"


def load_ms(report: Path) -> float | None:
    """Chromium's load event in ms (None without chromium/chromedriver)."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        return None
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,800"):
        options.add_argument(argument)
    browser = webdriver.Chrome(options=options,
                               service=webdriver.ChromeService(executable_path=driver))
    try:
        browser.get(report.resolve().as_uri())
        return browser.execute_script(
            "const n = performance.getEntriesByType('navigation')[0];"
            "return n.loadEventEnd - n.startTime;")
    finally:
        browser.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path, help="a finished output folder")
    parser.add_argument("--images", type=int, default=100, help="gallery size to scale to")
    args = parser.parse_args()
    report = args.dir / "report.html"
    print(f"{args.dir}: report {report.stat().st_size / 1e6:.2f} MB, "
          f"Chromium load {load_ms(report)} ms")
    with tempfile.TemporaryDirectory() as tmp:
        scaled = scaled_report(args.dir, Path(tmp) / "scaled", args.images)
        print(f"scaled to {args.images} images (worst-case overlays): "
              f"{scaled.stat().st_size / 1e6:.2f} MB, Chromium load {load_ms(scaled)} ms")


if __name__ == "__main__":
    main()
