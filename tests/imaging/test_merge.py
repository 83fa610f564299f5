"""``spmito merge-channels``: one file per channel made into the one file ``spmito run`` reads."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from spmito.imaging.cli import main
from spmito.imaging.errors import SpmitoInputError
from spmito.imaging.io import read_stack
from spmito.imaging.merge import merge_channel_files, merge_channel_sheet
from spmito.imaging.sheet import read_sample_sheet


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


def test_a_channel_sheet_merges_a_plate_and_writes_the_run_sheet(tmp_path):
    """Two fields merge; a row whose mito file is missing is listed and left out, the others
    go on; sheet columns are carried into the sample sheet spmito run reads."""
    rng = np.random.default_rng(1)
    (tmp_path / "raw").mkdir()
    for field in ("A01_s1", "A02_s1", "A03_s1"):
        for channel in ("w1", "w2"):
            if (field, channel) != ("A03_s1", "w2"):
                tifffile.imwrite(tmp_path / "raw" / f"{field}_{channel}.tif",
                                 rng.integers(0, 4000, (40, 48), dtype=np.uint16))
    sheet = tmp_path / "channels.csv"
    sheet.write_text("Hoechst,mito,well,role\n"
                     "raw/A01_s1_w1.tif,raw/A01_s1_w2.tif,A01,inhibitor_control\n"
                     "raw/A02_s1_w1.tif,raw/A02_s1_w2.tif,A02,test\n"
                     "raw/A03_s1_w1.tif,raw/A03_s1_w2.tif,A03,test\n", encoding="utf-8")
    out = tmp_path / "merged"
    assert main(["merge-channels", "--sheet", str(sheet), "--voxel-size", "0.2,0.2",
                 "--out", str(out)]) == 1  # one row failed
    table = read_sample_sheet(out / "sheet.csv")
    assert table["image_id"].tolist() == ["A01_s1_w1", "A02_s1_w1"]
    assert table["well"].tolist() == ["A01", "A02"]
    assert table["role"].tolist() == ["inhibitor_control", "test"]
    merged = read_stack(table["path"].iloc[1])
    assert merged.roles == {"hoechst": 0, "mito": 1}
    np.testing.assert_array_equal(np.asarray(merged.data)[1],
                                  tifffile.imread(tmp_path / "raw" / "A02_s1_w2.tif"))
    assert not (out / "A03_s1_w1.ome.tif").exists()


def test_a_sample_sheet_is_not_taken_for_a_channel_sheet(tmp_path):
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("path,well\nx.tif,A01\n", encoding="utf-8")
    with pytest.raises(SpmitoInputError, match="sample sheet already"):
        merge_channel_sheet(sheet, tmp_path / "out")
