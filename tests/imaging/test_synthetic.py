"""The synthetic ground truth is self-consistent, deterministic and physically sensible."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import tifffile
from PIL import Image
from scipy import ndimage as ndi

from spmito.imaging.cli import main
from spmito.imaging.io import read_labels
from spmito.imaging.synthetic import SynthParams, make_field, write_synthetic_set


@pytest.fixture(scope="module")
def field_2d():
    return make_field(SynthParams.for_ndim(2, size_px=384), seed=7)


@pytest.fixture(scope="module")
def field_3d():
    return make_field(SynthParams.for_ndim(3, size_px=200, n_z=44), seed=7)


def _components_per_cell(synthetic):
    """Connected components of the binary truth mito mask inside each truth cell."""
    structure = np.ones((3,) * synthetic.mito.ndim)
    counts = {}
    for cell_id in synthetic.truth["cell_id"]:
        inside = (synthetic.mito > 0) & (synthetic.cells == cell_id)
        counts[cell_id] = ndi.label(inside, structure=structure)[1]
    return counts


@pytest.mark.parametrize("which", ["field_2d", "field_3d"])
def test_truth_counts_equal_connected_components(which, request):
    synthetic = request.getfixturevalue(which)
    truth = synthetic.truth.set_index("cell_id")
    assert len(truth) >= 3 and truth["mito_count"].sum() > 50
    components = _components_per_cell(synthetic)
    assert components == truth["mito_count"].to_dict()


@pytest.mark.parametrize("which", ["field_2d", "field_3d"])
def test_every_mitochondrion_lies_inside_its_own_cell(which, request):
    synthetic = request.getfixturevalue(which)
    mito_ids = synthetic.mito[synthetic.mito > 0]
    host = synthetic.cells[synthetic.mito > 0]
    expected = synthetic.mito_truth.set_index("mito_id")["cell_id"]
    assert np.all(host > 0), "a mitochondrion voxel lies outside every cell"
    assert np.array_equal(host, expected.loc[mito_ids].to_numpy())
    sizes = np.bincount(synthetic.mito.ravel())[1:] * np.prod(synthetic.params.voxel_size_um)
    np.testing.assert_allclose(sizes, synthetic.mito_truth["size"], rtol=1e-9)


def test_3d_mitochondria_stay_out_of_the_nucleus(field_3d):
    assert not np.any((field_3d.mito > 0) & (field_3d.nuclei > 0))


def test_nuclei_sit_inside_their_cells(field_2d):
    inside = field_2d.nuclei > 0
    assert np.array_equal(field_2d.nuclei[inside], field_2d.cells[inside])
    interior = field_2d.truth[~field_2d.truth["touches_border"]]
    ratio = interior["nucleus_area_um2"] / interior["cell_area_um2"]
    assert ratio.between(0.2, 0.6).all()


def test_cells_are_myeloma_sized_and_some_touch(field_2d):
    interior = field_2d.truth[~field_2d.truth["touches_border"]]
    diameter = 2 * np.sqrt(interior["cell_area_um2"] / np.pi)
    assert diameter.between(8.5, 15.5).all()
    # touching neighbours: a cell pixel next to another cell's pixel
    cells = field_2d.cells
    shifted = cells[:, 1:] != cells[:, :-1]
    both = (cells[:, 1:] > 0) & (cells[:, :-1] > 0)
    assert np.count_nonzero(shifted & both) > 20


def test_integrated_hoechst_follows_dna_content_and_efflux():
    params = SynthParams.for_ndim(2, size_px=384, sp_fraction=0.3)
    synthetic = make_field(params, seed=3)
    hoechst = synthetic.channel("hoechst").astype(float) - params.camera_offset \
        - params.background_photons
    measured = ndi.sum_labels(hoechst, synthetic.nuclei, synthetic.truth["cell_id"])
    truth = synthetic.truth
    expected = truth["dna_content"] / truth["hoechst_dimming"]
    interior = ~truth["touches_border"].to_numpy()
    corr = np.corrcoef(measured[interior], expected[interior])[0, 1]
    assert corr > 0.95
    assert (truth["population"] == "SP").sum() >= 2
    assert truth.loc[truth["population"] == "SP", "hoechst_dimming"].between(3, 10).all()


def test_chromocentres_are_bright_foci_that_keep_the_integrated_hoechst():
    plain = SynthParams.for_ndim(2, size_px=384, sp_fraction=0.3)
    spotted = SynthParams.for_ndim(2, size_px=384, sp_fraction=0.3,
                                   chromocentre_spacing_um=1.5, chromocentre_contrast=8.0)
    fields = [make_field(params, seed=3) for params in (plain, spotted)]
    assert np.array_equal(fields[0].nuclei, fields[1].nuclei)

    def inside_nuclei(field):
        return field.channel("hoechst").astype(float)[field.nuclei > 0] \
            - plain.camera_offset - plain.background_photons

    # the foci make the nuclei speckled: their brightest pixels stand far above the median
    peak_over_median = [np.percentile(inside_nuclei(f), 99) / np.median(inside_nuclei(f))
                        for f in fields]
    assert peak_over_median[1] > 2 * peak_over_median[0]
    # but the DNA content per nucleus, which SP gating reads, is the same
    totals = [ndi.sum_labels(f.channel("hoechst").astype(float) - plain.camera_offset
                             - plain.background_photons, f.nuclei, f.truth["cell_id"])
              for f in fields]
    interior = ~fields[0].truth["touches_border"].to_numpy()
    assert np.allclose(totals[1][interior], totals[0][interior], rtol=0.05)


def test_sp_cells_carry_more_mitochondria_than_mp():
    params = SynthParams.for_ndim(2, size_px=384)
    sp = make_field(params.__class__(**{**params.__dict__, "population": "SP"}), seed=11)
    mp = make_field(params.__class__(**{**params.__dict__, "population": "MP"}), seed=11)
    ratio = sp.truth["mito_count"].mean() / mp.truth["mito_count"].mean()
    assert 1.2 < ratio < 1.8


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_synth_3d_writes_the_contract_and_is_deterministic(tmp_path):
    args = ["synth", "--ndim", "3", "--fields", "2", "--seed", "1", "--size-px", "128"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    for field in ("field_000", "field_001"):
        for relative in (f"{field}.ome.tif", f"{field}.truth/cells.ome.tif",
                         f"{field}.truth/nuclei.ome.tif", f"{field}.truth/mito.ome.tif",
                         f"{field}.truth/truth.csv"):
            a, b = tmp_path / "a" / relative, tmp_path / "b" / relative
            assert a.is_file(), relative
            assert _sha256(a) == _sha256(b), f"{relative} differs between identical seeds"
    assert _sha256(tmp_path / "a/field_000.ome.tif") != _sha256(tmp_path / "a/field_001.ome.tif")

    with tifffile.TiffFile(tmp_path / "a/field_000.ome.tif") as tif:
        assert tif.is_ome and tif.series[0].axes == "ZCYX"
        assert tif.series[0].dtype == np.uint16
        ome = tif.ome_metadata
    for text in ('Name="hoechst"', 'Name="cell"', 'Name="mito"', 'PhysicalSizeZ="0.3"',
                 'PhysicalSizeX="0.12"'):
        assert text in ome
    labels, voxel = read_labels(tmp_path / "a/field_000.truth/cells.ome.tif")
    assert labels.ndim == 3 and voxel == (0.3, 0.12, 0.12)
    truth = pd.read_csv(tmp_path / "a/field_000.truth/truth.csv")
    assert {"cell_id", "population", "mito_count", "mito_size"} <= set(truth.columns)
    assert set(np.unique(labels)) - {0} == set(truth["cell_id"])
    sheet = pd.read_csv(tmp_path / "a/sheet.csv")
    assert list(sheet["path"]) == ["field_000.ome.tif", "field_001.ome.tif"]


def test_preview_png_shows_the_field(tmp_path):
    params = SynthParams.for_ndim(2, size_px=256)
    write_synthetic_set(tmp_path, params, n_fields=1, seed=2)
    picture = np.asarray(Image.open(tmp_path / "field_000.preview.png"))
    assert picture.shape == (256, 256, 3)
    assert picture.std() > 20  # not blank
    assert picture[..., 2].max() > 200 and picture[..., 0].max() > 200  # nuclei and mito


def test_cli_synth_writes_chromocentred_nuclei_and_refuses_a_negative_spacing(tmp_path):
    args = ["synth", "--fields", "1", "--size-px", "160", "--chromocentres", "1.5",
            "--chromocentre-contrast", "6"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    written = json.loads((tmp_path / "synth_params.json").read_text())
    assert (written["chromocentre_spacing_um"], written["chromocentre_contrast"]) == (1.5, 6.0)
    with pytest.raises(ValueError, match="chromocentre_spacing_um"):
        SynthParams(chromocentre_spacing_um=-1.0)


def test_plate_mode_has_controls_replicates_and_blocked_efflux(tmp_path):
    params = SynthParams.for_ndim(2, size_px=256, sp_fraction=0.5)
    sheet = write_synthetic_set(tmp_path, params, n_fields=1, seed=4, mode="plate",
                                replicates=2, preview=False)
    assert list(sheet["role"]) == ["inhibitor_control", "test"] * 2
    assert list(sheet["replicate"]) == [1, 1, 2, 2]
    for _, row in sheet.iterrows():
        truth = pd.read_csv(tmp_path / f"{row['image_id']}.truth" / "truth.csv")
        effluxing = truth["efflux"].astype(bool)
        if row["role"] == "inhibitor_control":
            assert not effluxing.any()
        else:
            assert effluxing.equals(truth["population"] == "SP")


def test_sorted_mode_holds_one_population_per_image(tmp_path):
    params = SynthParams.for_ndim(2, size_px=256)
    sheet = write_synthetic_set(tmp_path, params, n_fields=1, seed=5, mode="sorted",
                                replicates=1, preview=False)
    assert list(sheet["population"]) == ["SP", "MP"]
    for _, row in sheet.iterrows():
        truth = pd.read_csv(tmp_path / f"{row['image_id']}.truth" / "truth.csv")
        assert set(truth["population"]) == {row["population"]}


def test_a_field_too_small_for_any_cell_is_empty_not_an_error():
    synthetic = make_field(SynthParams.for_ndim(3, size_px=64), seed=0)
    assert len(synthetic.truth) == 0 and synthetic.cells.max() == 0
    assert synthetic.image.shape == (48, 3, 64, 64)
