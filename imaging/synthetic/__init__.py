"""Synthetic fluorescence fields with exact ground truth.

Myeloma-like cells (10–15 µm, round to ovoid, large eccentric nucleus, scant cytoplasm)
packed so that neighbours touch, imaged in three channels:

``hoechst``
    nuclear stain whose integrated intensity is proportional to DNA content (G1 = 1,
    G2 = 2, S in between), divided by 3–10 in side-population (SP) cells that efflux the dye
    (unless an inhibitor blocks the efflux).
``cell``
    membrane ring plus a weaker cytoplasm stain (CellMask-like), dim over the nucleus.
``mito``
    a known number of mitochondria per cell: puncta, tubules and branched networks,
    0.2–0.5 µm wide, never closer than ``mito_gap_um`` to each other; SP cells carry
    ``sp_mito_ratio`` times more than main-population (MP) cells.

Every channel is blurred with a Gaussian approximation of the widefield PSF (from the
emission wavelength and NA, anisotropic in z), sits on a background, and gets Poisson and
camera read noise, gain and offset; images are uint16 or uint8 (``bit_depth``), optionally
with saturated mitochondria (``mito_saturation``). Everything is rendered on a canvas larger
than the field and cropped, so cells cut by the field edge are physical.

The truth is exact by construction: each mitochondrion is one connected component
(8-connectivity in 2-D, 26 in 3-D) lying inside its cell's analysis region, so the
per-cell connected components of the truth mitochondria labels equal ``mito_count``.
The same seed gives byte-identical files.

The package is split along the steps of :func:`make_field`: ``params`` (the knobs and the
field record), ``geometry`` (cells and nuclei), ``mitochondria`` (their shapes and layout),
``render`` (stains, PSF, camera), ``assemble`` (one field and its truth tables) and
``writing`` (files, previews, sets and ``spmito synth``). Import from the package.
"""

from spmito.imaging.synthetic.assemble import make_field
from spmito.imaging.synthetic.mitochondria import MITO_KINDS
from spmito.imaging.synthetic.params import (
    CHANNEL_NAMES,
    EMISSION_UM,
    MITO_LAYOUT_WEIGHTS,
    SyntheticField,
    SynthParams,
)
from spmito.imaging.synthetic.writing import (
    SHEET_COLUMNS,
    preview_rgb,
    synth_command,
    write_field,
    write_preview,
    write_synthetic_set,
)

__all__ = [
    "CHANNEL_NAMES",
    "EMISSION_UM",
    "MITO_KINDS",
    "MITO_LAYOUT_WEIGHTS",
    "SHEET_COLUMNS",
    "SynthParams",
    "SyntheticField",
    "make_field",
    "preview_rgb",
    "synth_command",
    "write_field",
    "write_preview",
    "write_synthetic_set",
]
