"""Training writes a small half-precision model with its recipe; a tiny model learns."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.eval_segmentation import CELL_DIAMETER_UM
from spmito.imaging.synthetic import SynthParams, make_field
from spmito.segment.backends import get_backend, segment_objects
from spmito.segment.evaluation import average_precision_50
from spmito.segment.training import TrainingSettings, _initial_network, train_model
from spmito.segment.training_data import (
    largest_section_diameter_px,
    median_diameter_px,
    stack_planes,
    with_dimmed_nuclei,
)


def _cells_pair(seed, **overrides):
    field = make_field(SynthParams.for_ndim(2, **overrides), seed)
    return np.stack([field.channel("cell"), field.channel("hoechst")]), field.cells, field


def test_fine_tuning_the_bundled_model_writes_half_precision_weights_and_a_recipe(tmp_path):
    torch = pytest.importorskip("torch")
    image, mask, _ = _cells_pair(21, size_px=384)
    out = tmp_path / "tuned.pt"
    epochs_seen = []
    result = train_model([image], [mask], out, base="bundled", device="cpu",
                         settings=TrainingSettings(epochs=1, batch_size=2, crop_px=96, seed=3),
                         progress=lambda epoch, n, loss, s: epochs_seen.append((epoch, n)))
    assert epochs_seen == [(1, 1)]
    state = torch.load(out, map_location="cpu", weights_only=True)
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    recipe = json.loads(out.with_suffix(".json").read_text())
    assert recipe["base"]["model"] == "bundled" and recipe["settings"]["seed"] == 3
    assert recipe["network_diameter_px"] == 30.0 and recipe["n_train"] == 1
    backend = get_backend(str(out), "cells", "cpu")
    assert backend.model.sha256 == result.sha256 and backend.diameter_px == 30.0


def test_a_widened_bundled_model_segments_as_the_original_until_it_is_trained():
    """Widening (to train a larger network from the bundled one) keeps what was learned:
    the wider network's flows and probabilities match the original's on a real field."""
    torch = pytest.importorskip("torch")
    image, _, _ = _cells_pair(22, size_px=160)
    batch = torch.from_numpy(np.ascontiguousarray(image[None], dtype=np.float32))
    batch = (batch - batch.mean()) / batch.std()
    outputs = []
    for layout in ((2, 16, 32, 64, 128), (2, 24, 48, 96, 192)):
        net, _, _ = _initial_network("bundled", "cells", layout, "cpu")
        assert tuple(net.nbase) == layout
        with torch.no_grad():
            outputs.append(net.eval()(batch)[0])
    original, widened = outputs
    assert original.abs().mean() > 0.1
    assert float((widened - original).abs().max()) < 1e-3 * float(original.abs().max())


def test_planes_of_a_stack_carry_the_cells_full_lateral_diameter():
    field = make_field(SynthParams.for_ndim(3, size_px=160, n_z=32), 4)
    image = np.stack([field.channel("cell"), field.channel("hoechst")])
    images, masks, diameters = stack_planes(image, field.cells, n_planes=3)
    assert len(images) == len(masks) == 3 and images[0].shape == (2, 160, 160)
    widest = largest_section_diameter_px(field.cells)
    assert diameters == [widest] * 3
    assert widest > max(median_diameter_px(mask) for mask in masks[::2])  # caps are smaller
    assert 8.0 / 0.12 < widest < 16.0 / 0.12


def test_dimmed_nuclei_fade_towards_the_level_around_them_and_leave_the_others():
    """Two nuclei on an uneven background (a brighter cytoplasm round the first): the
    dimmed one ends 5x closer to the level right around it, not to the image's darkest
    background, so it stays a faint nucleus and does not become a dark hole."""
    rows, cols = np.mgrid[:80, :120]
    labels = np.zeros((80, 120), int)
    labels[(rows - 40) ** 2 + (cols - 30) ** 2 < 12 ** 2] = 1
    labels[(rows - 40) ** 2 + (cols - 90) ** 2 < 12 ** 2] = 2
    cytoplasm = ((rows - 40) ** 2 + (cols - 30) ** 2 < 28 ** 2) & (labels == 0)
    image = np.where(labels > 0, 210.0, np.where(cytoplasm, 60.0, 10.0))
    chosen_first = None
    for seed in range(20):  # a draw that dims nucleus 1 (a share of one nucleus in two)
        dimmed = with_dimmed_nuclei(image, labels, np.random.default_rng(seed), share=0.5,
                                    dimming=(5.0, 5.0))
        if dimmed[40, 30] != image[40, 30]:
            chosen_first = dimmed
            break
    assert chosen_first is not None
    assert chosen_first[40, 30] == pytest.approx(60.0 + 150.0 / 5)
    assert chosen_first[40, 90] == 210.0 and chosen_first[5, 5] == 10.0
    assert (chosen_first[labels == 1] > 60.0).all()


def _otsu_components(image: np.ndarray) -> np.ndarray:
    from skimage import filters, measure

    smooth = filters.gaussian(image.astype(np.float32), 2.0)
    return measure.label(smooth > filters.threshold_otsu(smooth))


@pytest.mark.slow
def test_a_tiny_model_trained_from_scratch_beats_otsu_on_a_held_out_field(tmp_path):
    pairs = [_cells_pair(seed, size_px=768, pixel_size_um=0.2) for seed in (31, 32, 33)]
    result = train_model(
        [p[0] for p in pairs], [p[1] for p in pairs], tmp_path / "tiny.pt", device="cpu",
        settings=TrainingSettings(epochs=30, batch_size=4, crop_px=128, learning_rate=0.01,
                                  nbase=(2, 8, 16, 32, 64), seed=0))
    image, truth, field = _cells_pair(34, size_px=768, pixel_size_um=0.2)
    backend = get_backend(str(result.path), "cells", "cpu")
    learned = segment_objects(image, field.params.voxel_size_um, CELL_DIAMETER_UM, backend).labels
    baseline = _otsu_components(image[0])
    assert average_precision_50(truth, learned) > average_precision_50(truth, baseline) + 0.2
