"""napari sample data: synthetic 2-D and 3-D fields of myeloma-like cells (no Qt)."""

from __future__ import annotations

from spmito.imaging.channels import roles_from_channel_names
from spmito.imaging.stack import Stack
from spmito.imaging.synthetic import CHANNEL_NAMES, SynthParams, make_field
from spmito.plugins.layers import LayerDataTuple, image_layers

SAMPLE_SEED = 0


def synthetic_stack(ndim: int, seed: int = SAMPLE_SEED, **overrides) -> Stack:
    """A synthetic field (:func:`spmito.imaging.synthetic.make_field`) as a Stack with roles."""
    synthetic = make_field(SynthParams.for_ndim(ndim, **overrides), seed)
    return Stack(synthetic.image, synthetic.axes, CHANNEL_NAMES,
                 roles_from_channel_names(CHANNEL_NAMES), synthetic.params.voxel_size_um)


def synthetic_field_2d() -> list[LayerDataTuple]:
    """A 2-D field, 512 x 512 pixels of 0.1 µm: hoechst, cell and mito channels."""
    return image_layers(synthetic_stack(2), "synthetic 2-D")


def synthetic_field_3d() -> list[LayerDataTuple]:
    """A 3-D stack, 48 planes of 320 x 320 pixels (0.3 x 0.12 x 0.12 µm)."""
    return image_layers(synthetic_stack(3), "synthetic 3-D")
