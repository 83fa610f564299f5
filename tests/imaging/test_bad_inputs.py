"""Issue #11: every bad input of the hostile-user fuzzing gets spmito's own error.

One reproducer per signature (the builders of ``bad_inputs.py``), the sheet and batch
signatures, and the pipeline's scale and role checks.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from spmito.imaging.batch import ImageTask, process_image, tasks_from_sheet
from spmito.imaging.errors import (
    ChannelError,
    CorruptFileError,
    ImageTooLargeError,
    SampleSheetError,
    SpmitoInputError,
)
from spmito.imaging.io import read_stack
from spmito.imaging.params import RunParams
from spmito.imaging.sheet import MAX_IMAGE_ID_BYTES, read_sample_sheet, safe_image_id
from spmito.imaging.stack import Stack
from tests.imaging.bad_inputs import (
    BAD_IMAGES,
    CHANNELS,
    good_field,
    write_good_ome,
)

#: Reproducers whose damage leaves the pixels intact: read, with the right pixels.
READ_CORRECTLY = {"06_ome_empty_channels"}


def _file_name(name: str) -> str:
    return f"{name}.ome.tif" if "ome" in name else f"{name}.tif"


def _read_every_channel(path, lazy):
    stack = read_stack(path, lazy=lazy)
    return [stack.with_roles({"probe": i}).channel("probe", validate=False)
            for i in range(stack.n_channels)]


@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
@pytest.mark.parametrize("name", sorted(set(BAD_IMAGES) - READ_CORRECTLY))
def test_bad_image_gets_spmitos_error_naming_the_file(tmp_path, name, lazy):
    path = BAD_IMAGES[name](tmp_path / _file_name(name))
    with pytest.raises(SpmitoInputError) as error:
        _read_every_channel(path, lazy)
    assert error.value.path == str(path)
    assert error.value.fix, "the message must say what to do"


@pytest.mark.parametrize("name", sorted(READ_CORRECTLY))
def test_harmless_damage_reads_the_right_pixels(tmp_path, name):
    path = BAD_IMAGES[name](tmp_path / _file_name(name))
    channels = _read_every_channel(path, lazy=False)
    np.testing.assert_array_equal(np.stack(channels), good_field(0))


def test_metadata_damage_messages_say_what_is_wrong(tmp_path):
    def message(name):
        path = BAD_IMAGES[name](tmp_path / _file_name(name))
        with pytest.raises(SpmitoInputError) as error:
            read_stack(path)
        return str(error.value)

    assert "declares a DTD or entities" in message("09_ome_billion_laughs")
    assert "declares a DTD or entities" in message("09_ome_xxe")
    assert "nests elements more than 64 deep" in message("09_ome_nested_10000_deep")
    assert "declares 1.45e+10 MiB of pixels" in message("05_ome_size_z_2_pow_40")
    assert "complex numbers" in message("18_complex_pixels")
    assert "true/false values" in message("18_bool_pixels")
    assert "implausible voxel size y 2.3e-10 µm (OME)" in message("18_voxel_2e-10_um")
    assert "inside the TIFF header" in message("18_strip_offsets_0")
    assert "circular reference" in message("18_ifd_loop")
    assert "--allow-external-files" in message("17_ome_tiffdata_parent_path")


def test_lazy_decoder_error_is_raised_when_the_channel_is_read(tmp_path):
    path = BAD_IMAGES["11_lazy_corrupt_zlib"](tmp_path / "lazy.ome.tif")
    stack = read_stack(path, lazy=True)  # opening reads headers only
    with pytest.raises(CorruptFileError, match="reading the hoechst channel failed.*DeflateError"):
        stack.channel("hoechst")


def test_external_tiffdata_is_read_and_listed_when_allowed(tmp_path):
    path = BAD_IMAGES["17_ome_tiffdata_absolute_path"](tmp_path / "external.ome.tif")
    other = tmp_path / "other_source.ome.tif"
    stack = read_stack(path, allow_external_files=True)
    assert stack.metadata["files"] == [str(path), str(other)]
    np.testing.assert_array_equal(stack.data, tifffile.imread(other))


def test_unusual_voxel_size_is_read_when_allowed(tmp_path):
    path = BAD_IMAGES["18_voxel_4e13_um"](tmp_path / "huge.ome.tif")
    assert read_stack(path, allow_unusual_voxel_size=True).voxel_size_um == (4.3e13, 4.3e13)
    with pytest.raises(SpmitoInputError, match="value given is probably wrong"):
        read_stack(write_good_ome(tmp_path / "good.ome.tif"), voxel_size_um=(0.001, 0.001))


def test_pixels_that_decode_to_another_shape_are_refused(tmp_path, monkeypatch):
    # signature 7: tifffile returned an array whose shape is not the series' shape
    path = write_good_ome(tmp_path / "good.ome.tif")
    monkeypatch.setattr(tifffile.TiffPageSeries, "asarray",
                        lambda self, *args, **kwargs: np.zeros((2, 48), np.uint16))
    with pytest.raises(CorruptFileError, match=r"decode to shape \(2, 48\).*declares"):
        read_stack(path)


def test_file_name_too_long(tmp_path):
    path = tmp_path / ("x" * 300 + ".tif")
    with pytest.raises(CorruptFileError, match="File name too long") as error:
        read_stack(path)
    assert error.value.path == str(path)


# ------------------------------------------------------------------------- sheets


def _sheet(tmp_path, text):
    write_good_ome(tmp_path / "a.ome.tif")
    write_good_ome(tmp_path / "b.ome.tif", seed=1)
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(text, encoding="utf-8")
    return sheet


def test_trailing_comma_is_harmless_and_an_extra_field_fails_its_row(tmp_path):
    sheet = _sheet(tmp_path, "path,image_id\na.ome.tif,a,\nb.ome.tif,b,oops\n")
    with pytest.raises(SampleSheetError, match="row 3.*3 fields but the header names 2"):
        read_sample_sheet(sheet)
    frame = read_sample_sheet(sheet, bad_rows="keep")
    assert frame["image_id"].tolist() == ["a", "b"]
    assert list(frame.attrs["row_errors"]) == ["b"]


@pytest.mark.parametrize("value,shown", [("NaN", "empty"), ("", "empty"), ("abc", "'abc'"),
                                         ("1.5", "'1.5'")])
def test_replicate_must_be_a_whole_number(tmp_path, value, shown):
    sheet = _sheet(tmp_path, f"path,replicate\na.ome.tif,1\nb.ome.tif,{value}\n")
    with pytest.raises(SampleSheetError, match=f"row 3, column 'replicate': the replicate is "
                                                f"{shown}, not a whole number"):
        read_sample_sheet(sheet)


def test_bad_rows_fail_alone_with_unique_safe_ids(tmp_path):
    long_id = "L" * 300
    sheet = _sheet(tmp_path, "path,image_id,role\n"
                             "a.ome.tif,a,test\n"
                             f"b.ome.tif,{long_id},test\n"
                             "missing.tif,,test\n"
                             "b.ome.tif,a,test\n"
                             "b.ome.tif,c,treated\n"
                             f"{'d' * 300}/x.tif,,test\n")
    frame = read_sample_sheet(sheet, bad_rows="keep")
    tasks = tasks_from_sheet(frame)
    ids = [task.image_id for task in tasks]
    assert ids[0] == "a" and ids[2] == "missing" and ids[3] == "a-2" and ids[4] == "c"
    assert len(set(ids)) == len(ids) and all(safe_image_id(i) == i for i in ids)
    assert len(ids[1].encode()) <= MAX_IMAGE_ID_BYTES
    problems = {task.image_id: str(task.problem) for task in tasks if task.problem}
    assert set(problems) == set(ids[1:])
    assert "cannot name a folder" in problems[ids[1]]
    assert "'missing.tif' does not exist" in problems["missing"]
    assert "already the image_id of row 2" in problems["a-2"]
    assert "'treated' is not one of" in problems["c"]
    assert "File name too long" in problems[ids[5]]
    status = process_image(tasks[2], RunParams(), tmp_path / "out")
    assert (status.status, status.error) == ("failed", "SampleSheetError")
    assert not (tmp_path / "out").exists()


def test_sheet_not_utf8_or_binary_is_the_sheets_error(tmp_path):
    sheet = tmp_path / "sheet.csv"
    sheet.write_bytes(b"path\n\xff\xfe\x00a.tif\n")
    with pytest.raises(SampleSheetError, match="not UTF-8"):
        read_sample_sheet(sheet)
    sheet.write_bytes(b"path\na\x00.tif\n")
    with pytest.raises(SampleSheetError, match="NUL bytes"):
        read_sample_sheet(sheet)


def test_missing_input_file_is_a_per_image_failure(tmp_path):
    status = process_image(ImageTask("gone", str(tmp_path / "gone.tif")), RunParams(),
                           tmp_path / "out")
    assert status.status == "failed" and status.error == "CorruptFileError"
    assert "gone.tif: the file does not exist" in status.message


# ----------------------------------------------------------------------- pipeline


def _stack(shape_yx, voxel_um, names=CHANNELS):
    rng = np.random.default_rng(0)
    data = rng.integers(100, 4000, (len(names), *shape_yx), dtype=np.uint16)
    from spmito.imaging.channels import roles_from_channel_names

    return Stack(data, "CYX", names, roles_from_channel_names(names), voxel_um)


@pytest.mark.parametrize("names,role", [(("ch0", "ch1", "ch2"), "hoechst"),
                                        (("red", "green", "blue"), "hoechst"),
                                        (("hoechst", "cell", "other"), "mito")])
def test_stack_without_hoechst_or_mito_role_is_refused_before_segmentation(names, role):
    from spmito.imaging.pipeline import analyse_stack

    with pytest.raises(ChannelError, match=f"no channel has the role '{role}'"):
        analyse_stack(_stack((64, 64), (0.2, 0.2), names), RunParams(device="cpu"))


def test_out_of_memory_on_a_lazy_read_is_spmitos_error(tmp_path):
    class Unaffordable:
        shape = (3, 48, 48)

        def __getitem__(self, index):
            raise MemoryError("Unable to allocate 512 GiB")

    stack = Stack(Unaffordable(), "CYX", CHANNELS, {"mito": 2}, (0.2, 0.2),
                  source=tmp_path / "big.tif")
    with pytest.raises(ImageTooLargeError, match="reading the mito channel needs more memory"):
        stack.channel("mito")


@pytest.mark.parametrize("shape,voxel,problem", [
    ((3, 3), (0.2, 0.2), "narrower than one object"),
    ((64, 64), (0.0001, 0.0001), "narrower than one object"),
    ((512, 512), (30.0, 30.0), "GiB, more than the 2 GiB allowed"),
])
def test_image_too_small_or_too_large_at_the_network_scale(shape, voxel, problem):
    from spmito.imaging.pipeline import analyse_stack

    with pytest.raises(SpmitoInputError, match=problem) as error:
        analyse_stack(_stack(shape, voxel), RunParams(device="cpu"))
    assert "--cell-diameter" in error.value.fix


def test_resampling_budget_is_checked_before_allocating():
    from spmito.segment.backends import ImageScaleError, resample_image

    image = np.zeros((2, 512, 512), np.float32)
    with pytest.raises(ImageScaleError, match="38400 x 38400 pixels"):
        resample_image(image, (75.0, 75.0))
    assert resample_image(image, (0.5, 0.5), max_bytes=2 * 256 * 256 * 4).shape == (2, 256, 256)

