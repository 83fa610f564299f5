"""How fine the sampling must be for mitochondria counts: the one cut-off of the project.

domain.md §3: counts from coarser images are counts of resolvable objects, not of
mitochondria. The lateral cut-off is about half the Rayleigh resolution of the standard
optics (0.61 x 0.6 µm / NA 1.3 = 0.28 µm; half is 0.14 µm), taken as domain.md's 0.13 µm;
the z step's is 0.3 µm. The QC check ``coarse_sampling`` and the segmentation's warning
(:func:`spmito.segment.mito.coarse_pixel_warning`, lateral only) use these functions.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Largest lateral pixel (µm) at which mito_count counts mitochondria.
MAX_COUNT_PIXEL_UM = 0.13
#: Largest z step (µm) at which mito_count counts mitochondria.
MAX_COUNT_Z_STEP_UM = 0.3


def pixel_too_coarse_to_count(voxel_size_um: Sequence[float]) -> bool:
    """Whether the lateral pixel of ``(y, x)`` or ``(z, y, x)`` µm exceeds the cut-off."""
    return max(float(v) for v in voxel_size_um[-2:]) > MAX_COUNT_PIXEL_UM


def too_coarse_to_count(voxel_size_um: Sequence[float]) -> bool:
    """Whether the pixel or (for ``(z, y, x)``) the z step is too coarse for counts."""
    z_too_coarse = len(voxel_size_um) == 3 and float(voxel_size_um[0]) > MAX_COUNT_Z_STEP_UM
    return pixel_too_coarse_to_count(voxel_size_um) or z_too_coarse
