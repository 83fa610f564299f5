"""``spmito train``: data from files or synthetic fields, a held-out score, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

import spmito.imaging.io
from spmito.imaging.cli import main
from spmito.imaging.synthetic import SynthParams, make_field, write_field
from spmito.imaging.train import TrainingPairs, held_out_sources, varied_synth_params


def _pairs(n_sources: int) -> TrainingPairs:
    pairs = TrainingPairs()
    for index in range(n_sources):
        pairs.add([np.zeros((2, 8, 8))] * 2, [np.ones((8, 8), int)] * 2, [4.0, 4.0],
                  f"source{index}")
    return pairs


def test_whole_sources_are_held_out_never_single_planes():
    pairs = _pairs(5)
    held = held_out_sources(pairs, 0.2, seed=0)
    assert len(held) == 1
    train, validation = pairs.split(held)
    assert len(validation.images) == 2 and len(train.images) == 8
    assert not set(train.sources) & set(validation.sources)
    assert held_out_sources(_pairs(1), 0.5, seed=0) == set()
    assert len(held_out_sources(_pairs(2), 0.9, seed=0)) == 1  # one is always kept


def test_synthetic_training_fields_vary_around_the_defaults():
    rng = np.random.default_rng(0)
    params = [varied_synth_params(rng, 2) for _ in range(50)]
    pixel_sizes = [p.pixel_size_um for p in params]
    assert 0.1 <= min(pixel_sizes) < 0.13 and 0.25 < max(pixel_sizes) <= 0.3
    assert all(50 <= p.size_px * p.pixel_size_um <= 100 for p in params)
    assert len({p.density for p in params}) == 50
    spotted = [p for p in params if p.chromocentre_spacing_um > 0]
    assert 15 <= len(spotted) <= 35
    assert min(p.chromocentre_contrast for p in spotted) < 3 < 8 < max(
        p.chromocentre_contrast for p in spotted)
    stack = varied_synth_params(rng, 3)
    assert stack.ndim == 3 and 13 < stack.n_z * stack.z_step_um < 16


def test_training_without_data_is_a_usage_error(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "m.pt")]) == 2
    assert "--synthetic" in capsys.readouterr().err


def test_a_missing_base_model_is_reported_before_any_data_is_read(tmp_path, capsys):
    code = main(["train", "--images", str(tmp_path / "not-read.tif"), "--masks",
                 str(tmp_path / "not-read-either.tif"), "--base", str(tmp_path / "nope.pt"),
                 "--out", str(tmp_path / "m.pt")])
    assert code == 2
    error = capsys.readouterr().err
    assert "nope.pt" in error and "not-read" not in error


@pytest.mark.skipif(not hasattr(spmito.imaging.io, "read_stack"),
                    reason="spmito.imaging.io.read_stack lands with the I/O branch")
def test_fine_tuning_on_files_reports_a_held_out_score(tmp_path, capsys):
    images, masks = [], []
    for seed in (1, 2):
        field = make_field(SynthParams.for_ndim(2, size_px=320), seed)
        images.append(str(write_field(field, tmp_path, f"f{seed}", preview=False)))
        masks.append(str(tmp_path / f"f{seed}.truth" / "cells.ome.tif"))
    out = tmp_path / "tuned.pt"
    code = main(["train", "--images", *images, "--masks", *masks, "--base", "bundled",
                 "--epochs", "1", "--learning-rate", "0.0005", "--out", str(out),
                 "--device", "cpu"])
    printed = capsys.readouterr().out
    assert code == 0 and out.is_file() and out.with_suffix(".json").is_file()
    assert "epoch    1/1" in printed
    score = float(printed.rsplit("validation AP@0.5 on 1 held-out image(s):", 1)[1].split()[0])
    assert score > 0.8  # the bundled model, barely changed, still segments
