"""``spmito merge-channels``: one file per channel made into the one file ``spmito run`` reads."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from spmito.imaging.cli import main
from spmito.imaging.errors import SpmitoInputError
from spmito.imaging.io import read_stack
from spmito.imaging.merge import merge_channel_files


def test_the_real_bpae_channel_files_become_one_file_with_roles_and_voxel_size(real_data,
                                                                             tmp_path):
    folder = real_data / "bpae_cell"
    files = {"hoechst": folder / "BPAE_nuclei.tif", "cell": folder / "BPAE_actin.tif",
             "mito": folder / "BPAE_mito.tif"}
    out = tmp_path / "bpae.ome.tif"
    assert main(["merge-channels", *(f"{role}={path}" for role, path in files.items()),
                 "--voxel-size", "0.08,0.08", "--out", str(out)]) == 0
    merged = read_stack(out)  # no --channels, no --voxel-size: both are in the file now
    assert merged.roles == {"hoechst": 0, "cell": 1, "mito": 2}
    assert merged.voxel_size_um == pytest.approx((0.08, 0.08))
    for index, path in enumerate(files.values()):
        np.testing.assert_array_equal(np.asarray(merged.data)[index], tifffile.imread(path))


def test_3d_channel_files_stack_along_c(tmp_path):
    rng = np.random.default_rng(0)
    planes = {role: rng.integers(0, 4000, (5, 32, 40), dtype=np.uint16)
              for role in ("hoechst", "mito")}
    for role, data in planes.items():
        tifffile.imwrite(tmp_path / f"{role}.tif", data)
    out = merge_channel_files({role: tmp_path / f"{role}.tif" for role in planes},
                              tmp_path / "field.ome.tif", voxel_size_um=(0.3, 0.1, 0.1),
                              axes="ZYX")
    merged = read_stack(out)
    assert merged.axes == "ZCYX" and merged.roles == {"hoechst": 0, "mito": 1}
    assert merged.voxel_size_um == pytest.approx((0.3, 0.1, 0.1))
    np.testing.assert_array_equal(np.asarray(merged.data)[:, 1], planes["mito"])


def test_files_of_different_fields_or_with_several_channels_are_refused(tmp_path):
    tifffile.imwrite(tmp_path / "w1.tif", np.zeros((32, 40), np.uint16))
    tifffile.imwrite(tmp_path / "w2.tif", np.zeros((32, 48), np.uint16))
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((32, 40, 3), np.uint8), photometric="rgb")
    out = tmp_path / "field.ome.tif"
    with pytest.raises(SpmitoInputError, match="32 x 48 pixels") as caught:
        merge_channel_files({"hoechst": tmp_path / "w1.tif", "mito": tmp_path / "w2.tif"},
                            out, voxel_size_um=(0.1, 0.1))
    assert "w2.tif" in str(caught.value)
    with pytest.raises(SpmitoInputError, match="holds 3 channels"):
        merge_channel_files({"hoechst": tmp_path / "w1.tif", "mito": tmp_path / "rgb.tif"},
                            out, voxel_size_um=(0.1, 0.1))
    with pytest.raises(SpmitoInputError, match="unknown channel role"):
        merge_channel_files({"dna": tmp_path / "w1.tif"}, out, voxel_size_um=(0.1, 0.1))
    assert not out.exists()  # nothing half-written
    assert main(["merge-channels", str(tmp_path / "w1.tif"), "--out", str(out)]) == 2
