"""The bundled nucleus model on real nuclei it never saw in training.

- DSB 2018 (BBBC038): the acquisition groups held out by ``benchmarks/dsb2018_split.json``
  (scored with the expected diameter of each image, as a user who knows the size gives it);
  full-split figures come from ``benchmarks/dsb_nuclei.py``.
- ``stardist_nuclei/img2d.tif``: 125 hand-labelled nuclei, diameter estimated from an Otsu
  mask (no knowledge of the truth).
"""

from __future__ import annotations

import json

import pytest

from benchmarks.dsb_nuclei import ci_subset, image_ids, load_split, score_images
from benchmarks.eval_segmentation import score_real_nuclei

pytestmark = pytest.mark.real_data


@pytest.fixture(scope="module")
def validation_scores(real_data):
    split = load_split()
    return score_images(ci_subset(split), split=split)


def test_the_split_holds_out_whole_acquisition_groups_of_every_dsb_image(real_data):
    split = load_split()
    index = json.loads((real_data / "dsb2018_nuclei" / "index.json").read_text())
    assert sorted(split["images"]) == sorted(entry["id"] for entry in index)
    held = image_ids(split, "validation")
    assert 0.15 <= len(held) / len(index) <= 0.20
    train_groups = {split["images"][i] for i in image_ids(split, "train")}
    assert not train_groups & set(split["validation_groups"])


def test_held_out_dsb_groups_reach_ap50_of_0_65_pooled(validation_scores):
    # measured 0.750 with the shipped model, stage 4 (0.828 on the whole split); stage 3
    # 0.746 (0.820); stage 2 0.732; stage 1 0.688; the old model: 0.293
    pooled = validation_scores["pooled"]
    assert pooled.n_true > 500
    assert pooled.ap50 >= 0.65


def test_every_held_out_dsb_group_reaches_ap50_of_0_5(validation_scores):
    groups = validation_scores["groups"]
    assert set(groups) == set(load_split()["validation_groups"])
    assert {name: round(c.ap50, 3) for name, c in groups.items() if c.ap50 < 0.5} == {}


@pytest.mark.xfail(strict=True, reason=(
    "issue #15 aim half reached: every held-out group >= 0.6 (256x320 0.650) but 0.824 "
    "pooled on the whole split (0.750 on this subset, held down by the dense 260x347 "
    "group at 0.745) after 111 CPU epochs and 23 more of a widened network (stage 6); "
    "segment/models/MODEL_CARD.md"))
def test_held_out_dsb_groups_reach_the_issue_15_aim(validation_scores):
    assert validation_scores["pooled"].ap50 >= 0.85
    assert min(c.ap50 for c in validation_scores["groups"].values()) >= 0.6


def test_bundled_nucleus_model_on_real_bbbc038_nuclei(real_data):
    # measured 0.891 (117 found) with the shipped model (stage 3: 0.884, stage 2: 0.824);
    # the old synthetic-only model: 0.024 (3 found)
    score = score_real_nuclei(real_data / "stardist_nuclei")
    assert score["n_true"] == 125
    assert score["ap50_nuclei"] >= 0.80



def test_nuclei_cut_out_of_their_field_onto_zeros_are_found(real_data):
    """Real nuclei cut out of their field (zeros around them, as tools that crop single
    cells write them, or a background subtracted and clipped at 0): over 99 % of the pixels
    are 0, where Cellpose's own scaling zeroes the channel. Measured: 5 of the 6 whole
    nuclei of this crop matched (3 of 3 and 2 of 2 in other crops); before, none found."""
    import numpy as np
    import tifffile
    from scipy import ndimage as ndi

    from spmito.segment.evaluation import iou_matches
    from spmito.segment.nuclei import segment_nuclei

    image = tifffile.imread(real_data / "stardist_nuclei" / "img2d.tif").astype(np.float32)
    truth = tifffile.imread(real_data / "stardist_nuclei" / "mask2d.tif")
    crop = truth[:128, :128]
    at_edge = np.unique(np.concatenate([crop[[0, -1]].ravel(), crop[:, [0, -1]].ravel()]))
    whole = np.isin(crop, np.setdiff1d(np.unique(crop)[1:], at_edge))
    cut_out = ndi.binary_dilation(whole, iterations=3)
    field = np.zeros((1024, 1024), np.float32)
    field[448:576, 448:576] = np.where(
        cut_out, image[:128, :128] - np.median(image[truth == 0]), 0).clip(0)
    placed = np.zeros(field.shape, np.int32)
    placed[448:576, 448:576] = np.where(whole, crop, 0)
    assert (field == 0).mean() > 0.99 and len(np.unique(placed)) - 1 == 6
    found = segment_nuclei(field, (1.0, 1.0), 22.0, device="cpu").labels
    assert len(iou_matches(placed, found)) >= 5


def test_speckled_mouse_nuclei_of_the_mito_hacker_cells_are_found(real_data):
    """Nine mouse cells cut out onto zeros, DAPI dense with chromocentres that outshine the
    nucleoplasm 3-5x. Stage 3 of the nucleus model found 5 of 9; stage 4, trained with
    synthetic chromocentres, finds all 9, whole (checked on the overlay), at 10 and 12 µm."""
    import numpy as np
    import tifffile

    from spmito.segment.nuclei import segment_nuclei

    files = sorted((real_data / "mitohacker_cells").glob("*.tif"))
    assert len(files) == 9
    found = []
    for path in files:
        dapi = tifffile.imread(path)[..., 2].astype(np.float32)
        labels = segment_nuclei(dapi, (0.1, 0.1), 10.0, device="cpu").labels
        found.append(int(labels.max()) == 1 and (labels > 0).sum() > 0.5 * (dapi > 0).sum())
    assert sum(found) >= 8


def test_nuclei_ten_and_twenty_times_dimmer_than_their_neighbours_are_found(real_data):
    """Side-population nuclei pump Hoechst out: 3-10x dimmer than the others. Seven U2OS
    nuclei of BBBC022 dimmed (over their blur halo, towards the background). The network,
    trained on such nuclei (stages 5 and 6), finds all 7 at 10x by itself (stage 4 found 2
    of 8), and stage 6 all 7 at 20x too (stage 5: 6, the second look of ``segment_nuclei``
    added the seventh). The second look, with the found nuclei hidden, loses none of them.
    The undimmed field keeps its 26 nuclei."""
    import numpy as np
    from scipy import ndimage as ndi

    from benchmarks.eval_real_cells import bbbc022_field, field_nuclei
    from spmito.segment.nuclei import segment_nuclei

    field = bbbc022_field(real_data)
    nuclei = field_nuclei(field)
    assert nuclei.max() == 26
    dimmed_ids = np.random.default_rng(0).choice(np.unique(nuclei)[1:], 8, replace=False)
    dimmed_ids = dimmed_ids[[(nuclei == i).sum() > 200 for i in dimmed_ids]]  # not the micronucleus
    assert len(dimmed_ids) == 7
    region = ndi.binary_dilation(np.isin(nuclei, dimmed_ids), iterations=6)

    def n_found(factor: float, second_look: bool) -> tuple[int, int]:
        hoechst = field.hoechst.astype(np.float32)
        background = np.percentile(hoechst, 5)
        hoechst[region] = background + (hoechst[region] - background) / factor
        found = segment_nuclei(hoechst.astype(field.hoechst.dtype), field.voxel_size_um,
                               field.nucleus_diameter_um, device="cpu",
                               second_look=second_look)
        recovered = sum(np.bincount(found.labels[nuclei == i]).argmax() > 0 for i in dimmed_ids)
        return recovered, found.provenance.get("dim_nuclei_added", 0)

    assert n_found(10.0, second_look=False)[0] == 7
    alone, _ = n_found(20.0, second_look=False)
    with_second_look, _ = n_found(20.0, second_look=True)
    assert alone >= 6 and with_second_look >= alone


@pytest.mark.parametrize(("name", "true_um", "tolerance"), [
    ("img2d", 22.0, 0.3),      # hand-drawn median 22 px (pixels as µm)
    ("bbbc022", 17.0, 0.2),    # U2OS, about 17 µm at 0.656 µm
])
def test_the_nucleus_diameter_is_estimated_from_the_hoechst_channel(real_data, name, true_um,
                                                                    tolerance):
    """Measured: img2d 22.4, BBBC022 18.7. (A lone large textured nucleus falls apart into
    its bright parts: BPAE's 15.6 µm comes out at 3.9 µm; the docstring says so.)"""
    import tifffile

    from spmito.segment.nuclei import estimate_nucleus_diameter_um

    image, voxel = {
        "img2d": lambda: (tifffile.imread(real_data / "stardist_nuclei" / "img2d.tif"),
                          (1.0, 1.0)),
        "bbbc022": lambda: (tifffile.imread(
            real_data / "bbbc022_u2os" / "IXMtest_A02_s9_crop.tif")[0], (0.656, 0.656)),
    }[name]()
    assert estimate_nucleus_diameter_um(image, voxel) == pytest.approx(true_um, rel=tolerance)


def test_a_flat_hoechst_channel_has_no_diameter_to_estimate():
    import numpy as np

    from spmito.segment.nuclei import estimate_nucleus_diameter_um

    with pytest.raises(ValueError, match="give the nucleus diameter"):
        estimate_nucleus_diameter_um(np.full((64, 64), 7.0, np.float32), (0.1, 0.1))
