"""Every report figure renders to a non-blank PNG without pyplot."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
from matplotlib import image

from spmito.measure.analysis import figures, overlays
from spmito.measure.analysis.population import Gate
from spmito.measure.analysis.simulate import simulate_cells
from spmito.measure.analysis.stats import compare_populations, well_table
from tests.measure._helpers import assign_quietly


def _assert_png_shows_something(path, min_width_px=600):
    pixels = image.imread(path)
    height, width = pixels.shape[:2]
    assert width >= min_width_px and height >= 400
    grey = pixels[..., :3].mean(axis=2)
    assert (grey < 0.9).mean() > 0.01  # ink on more than 1 % of the canvas
    assert grey.std() > 0.05


@pytest.fixture(scope="module")
def tables(gated):
    out, gates = gated
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return out, gates, well_table(out, gates), compare_populations(out)


def test_gating_histogram(tmp_path, tables):
    out, gates, _, _ = tables
    pooled = [g for g in gates if g.gate_id.endswith("control_quantile")][0]
    figure = figures.gating_histogram(out, pooled)
    texts = " ".join(t.get_text() for t in figure.legends[0].get_texts())
    assert "SP" in texts and "95 % CI" in texts and "gate t =" in texts
    _assert_png_shows_something(figures.save_figure(figure, tmp_path / "gating.png"))


@pytest.fixture(scope="module")
def dual_cells():
    return simulate_cells(n_replicates=1, cells_per_well=800, dual_emission=True, seed=3)


@pytest.mark.parametrize("method", ["mixture", "dual_emission", "manual"])
def test_gating_histogram_for_other_gates(tmp_path, dual_cells, method):
    cells = dual_cells
    gate = Gate("manual", vertices=[[-3, -3], [-0.4, -3], [-0.4, -0.4], [-3, -0.4]])
    out, gates = assign_quietly(cells, method=method, gate=gate if method == "manual" else None,
                                n_bootstrap=20)
    path = figures.save_figure(figures.gating_histogram(out, gates[0]), tmp_path / "g.png")
    _assert_png_shows_something(path)


def test_superplot(tmp_path, tables):
    out, _, _, stats = tables
    figure = figures.superplot(out, "mito_area_um2", stats=stats)
    assert "SP/MP" in figure.axes[0].get_title(loc="left")
    _assert_png_shows_something(figures.save_figure(figure, tmp_path / "superplot.png"))


def test_well_sp_plot(tmp_path, tables):
    _, _, wells, _ = tables
    figure = figures.well_sp_plot(wells)
    assert len(figure.axes) == 2
    _assert_png_shows_something(figures.save_figure(figure, tmp_path / "wells.png"))


def test_ecdf_plot(tmp_path, tables):
    out, _, _, _ = tables
    path = figures.save_figure(figures.ecdf_plot(out, "mito_count"), tmp_path / "ecdf.png")
    _assert_png_shows_something(path)


def test_figures_leave_no_pyplot_state(tables):
    out, gates, wells, stats = tables
    figures.superplot(out, "mito_area_um2", stats=stats)
    figures.well_sp_plot(wells)
    if "matplotlib.pyplot" in sys.modules:  # another test may have imported it
        assert sys.modules["matplotlib.pyplot"].get_fignums() == []
    assert np.isfinite(wells["sp_percent"]).all()


def _field(shape=(300, 500)):
    """Two square cells with a nucleus each and one mitochondrion in the first."""
    cells = np.zeros(shape, np.int32)
    cells[50:150, 50:150], cells[150:260, 300:420] = 1, 2
    nuclei = np.zeros(shape, np.int32)
    nuclei[80:120, 80:120], nuclei[190:220, 340:380] = 1, 2
    mito = np.zeros(shape, np.int32)
    mito[60:64, 60:70] = 1
    rng = np.random.default_rng(0)
    planes = {role: rng.normal(100, 5, shape).astype(np.float32)
              for role in ("hoechst", "cell", "mito")}
    planes["mito"][mito > 0] += 400
    return planes, cells, nuclei, mito


def test_overlay_mosaic_shows_each_segmentation_on_its_channel():
    planes, cells, nuclei, mito = _field()
    mosaic, titles = overlays.overlay_mosaic(planes, cells, nuclei, mito, panel_px=100)
    assert titles == ["composite, cells and nuclei", "mitochondria found", "detail 100 px",
                      "hoechst", "cell"]
    assert mosaic.dtype == np.uint8 and mosaic.shape[0] == 100  # detail panel: 100 px high
    panel_width = 100 + 4  # 500 px field downsampled 5×, 4 px gap
    rgb = [mosaic[:, i * panel_width:(i + 1) * panel_width] for i in range(5)]

    def count(panel, colour):
        return int((panel == np.asarray(colour)).all(axis=2).sum())

    assert count(rgb[0], overlays.CELL_RGB) > 0 and count(rgb[0], overlays.NUCLEUS_RGB) > 0
    magenta = (rgb[1][..., 0] > 150) & (rgb[1][..., 1] < 100) & (rgb[1][..., 2] > 100)
    assert 1 <= magenta.sum() <= 6  # the one 4×10 px object, seen after 5× block maximum
    assert count(rgb[3], overlays.NUCLEUS_RGB) > 0 and count(rgb[3], overlays.CELL_RGB) == 0
    assert count(rgb[4], overlays.CELL_RGB) > 0 and count(rgb[4], overlays.NUCLEUS_RGB) == 0


def test_overlay_mosaic_of_a_stack_has_a_projection_and_a_plane_row():
    planes, cells, nuclei, mito = _field((120, 200))
    stack = [np.stack([a] * 5) for a in (cells, nuclei, mito)]
    mosaic, _ = overlays.overlay_mosaic({k: np.stack([v] * 5) for k, v in planes.items()},
                                       *stack, panel_px=100)
    flat, _ = overlays.overlay_mosaic(planes, cells, nuclei, mito, panel_px=100)
    assert mosaic.shape[0] == 2 * flat.shape[0] + 4


def test_save_rgb_keeps_a_byte_cap(tmp_path):
    noise = np.random.default_rng(1).integers(0, 255, (600, 1200, 3), dtype=np.uint8)
    path = overlays.save_rgb(noise, tmp_path / "o.jpg", max_bytes=60_000)
    assert path.stat().st_size <= 60_000
    assert image.imread(path).shape[1] < 1200  # shrunk: noise does not compress
