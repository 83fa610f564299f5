"""Channel roles from names, and the --channels / --voxel-size parsers."""

from __future__ import annotations

import pytest

from spmito.imaging.channels import resolve_roles, role_of_channel_name, roles_from_channel_names
from spmito.imaging.errors import ChannelError, SpmitoInputError
from spmito.imaging.io import parse_channels, parse_voxel_size


@pytest.mark.parametrize("name,role", [
    ("Hoechst 33342", "hoechst"), ("DAPI", "hoechst"), ("hoechst_red", "hoechst_red"),
    ("Hoechst red emission", "hoechst_red"), ("MitoTrackerDeepRed", "mito"),
    ("TOM20-AF647", "mito"), ("mito", "mito"), ("CellMask Orange", "cell"),
    ("Phalloidin-AF488", "cell"), ("PI", "viability"), ("DRAQ7", "viability"),
    ("Cy5", None), ("ch0", None), ("green", None), ("pixels", None),
    ("DAPI + MitoTracker", None),
])
def test_role_of_channel_name(name, role):
    assert role_of_channel_name(name) == role


def test_a_role_claimed_twice_is_left_out():
    assert roles_from_channel_names(["DAPI", "Hoechst", "TOM20"]) == {"mito": 2}


def test_explicit_roles_by_index_exact_and_case_insensitive_name():
    names = ["DAPI", "CellMask", "MitoTracker"]
    assert resolve_roles(names, {"hoechst": 0, "cell": "CellMask", "mito": "mitotracker"}) \
        == {"hoechst": 0, "cell": 1, "mito": 2}


def test_parse_channels():
    assert parse_channels("hoechst=0,cell=1,mito=MitoTracker") == \
        {"hoechst": 0, "cell": 1, "mito": "MitoTracker"}
    assert parse_channels(" mito = TOM20 AF647 ") == {"mito": "TOM20 AF647"}


@pytest.mark.parametrize("text,expected", [("hoechst", "not role=channel"),
                                           ("hoechst=0,hoechst=1", "twice"),
                                           ("mitos=2", "unknown channel role"),
                                           ("hoechst=", "not role=channel")])
def test_parse_channels_errors(text, expected):
    with pytest.raises(SpmitoInputError, match=expected) as error:
        parse_channels(text)
    assert error.value.path is None


def test_unknown_role_is_a_channel_error():
    with pytest.raises(ChannelError, match="Roles are: hoechst, cell, mito"):
        resolve_roles(["a"], {"nucleus": 0}, "x.tif")


def test_parse_voxel_size():
    assert parse_voxel_size("0.3,0.1,0.1") == (0.3, 0.1, 0.1)
    assert parse_voxel_size(" 0.065 , 0.065") == (0.065, 0.065)
    assert parse_voxel_size("0.656") == (0.656, 0.656)  # square pixels of a 2-D image


@pytest.mark.parametrize("text", ["0", "0.1,0.1,0.1,0.1", "0.1,x", "0,0.1", "-1,1",
                                  "nan,1", ""])
def test_parse_voxel_size_errors(text):
    with pytest.raises(SpmitoInputError, match="^(cannot read )?--voxel-size"):
        parse_voxel_size(text)
