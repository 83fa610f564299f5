"""Parameters of a synthetic field (:class:`SynthParams`) and the field it yields."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

CHANNEL_NAMES = ("hoechst", "cell", "mito")

#: Emission wavelengths (µm) used for the PSF of each channel.
EMISSION_UM = {"hoechst": 0.461, "cell": 0.520, "mito": 0.600}

#: Relative frequencies of (puncta, tubules, networks) per ``SynthParams.mito_layout``;
#: None: ``SynthParams.mito_kind_weights``.
MITO_LAYOUT_WEIGHTS = {"mixed": None, "fragmented": (0.8, 0.2, 0.0),
                       "networked": (0.05, 0.35, 0.6)}


@dataclass(frozen=True)
class SynthParams:
    """Knobs of a synthetic field. Lengths in µm; defaults give a moderate difficulty.

    Parameters
    ----------
    ndim : {2, 3}
        2-D (YX) field or 3-D (ZYX) stack.
    size_px : int
        Field width and height in pixels.
    n_z : int
        Number of planes (3-D only).
    pixel_size_um : float
        Lateral pixel size.
    z_step_um : float
        Plane spacing (3-D only).
    cell_diameter_um : (float, float)
        Range of cell diameters.
    cell_aspect : (float, float)
        Range of long/short axis ratios (1 = round).
    density : float
        Target fraction of the field covered by cells.
    nucleus_fraction : (float, float)
        Range of nucleus radius / cell radius.
    sp_fraction : float
        Probability that a cell is SP (unsorted populations).
    population : {"unsorted", "SP", "MP"}
        Sorted fields hold one population only.
    efflux_blocked : bool
        An efflux inhibitor (e.g. verapamil) is present: SP cells keep their Hoechst.
    sp_hoechst_dimming : (float, float)
        Range (log-uniform) of the factor by which SP cells are dimmer in Hoechst.
    g2_fraction, s_fraction : float
        Fractions of cells in G2 (DNA = 2) and S phase (DNA uniform in 1–2).
    hoechst_cv : float
        Cell-to-cell staining variability (log-normal sigma).
    chromocentre_spacing_um : float
        Mean distance between chromocentres, the bright DNA foci of mouse and other
        nuclei (one per ``spacing**ndim`` µm² or µm³ of nucleus); 0: none, a smooth
        texture only.
    chromocentre_contrast : float
        Peak of a chromocentre over the nucleoplasm around it (relative).
    mito_count_mp : float
        Mean number of mitochondria per MP cell.
    sp_mito_ratio : float
        Mean count of SP cells / MP cells.
    mito_kind_weights : (float, float, float)
        Relative frequencies of puncta, tubules and branched networks.
    mito_width_um : (float, float)
        Range of tubule widths.
    mito_gap_um : float
        Smallest distance between two mitochondria (raised to a voxel diagonal when
        smaller, so that two objects never touch on the grid).
    numerical_aperture : float
        Objective NA (sets the PSF width).
    snr : float
        Median mitochondrial signal above background over the background noise std.
    background_photons : float
        Background level per pixel (photons) in each channel.
    read_noise : float
        Camera read noise (electrons, gain 1).
    camera_offset : int
        Camera offset (ADU).
    vignetting : float
        Fractional illumination fall-off at the field corner (0 = flat field).
    mito_layout : {"mixed", "fragmented", "networked"}
        ``"mixed"`` draws the kinds with ``mito_kind_weights``; ``"fragmented"`` gives mostly
        puncta and short rods, ``"networked"`` mostly branched networks and long tubules
        (``MITO_LAYOUT_WEIGHTS``).
    mito_wavelength_um : float
        Emission wavelength of the mito channel; with ``numerical_aperture`` it sets the PSF.
    mito_haze : float
        Diffuse cytosolic mito-channel signal, relative to a mitochondrion's brightness.
    mito_saturation : float
        Fraction of the mitochondria's pixels clipped at the camera's top (0: none).
    camera_gain : float
        ADU per photo-electron.
    bit_depth : {8, 16}
        Image dtype (uint8 or uint16); values are clipped to its range.
    """

    ndim: int = 2
    size_px: int = 512
    n_z: int = 48
    pixel_size_um: float = 0.1
    z_step_um: float = 0.3
    cell_diameter_um: tuple[float, float] = (10.0, 15.0)
    cell_aspect: tuple[float, float] = (1.0, 1.3)
    density: float = 0.6
    nucleus_fraction: tuple[float, float] = (0.55, 0.68)
    sp_fraction: float = 0.05
    population: str = "unsorted"
    efflux_blocked: bool = False
    sp_hoechst_dimming: tuple[float, float] = (3.0, 10.0)
    g2_fraction: float = 0.2
    s_fraction: float = 0.15
    hoechst_cv: float = 0.08
    chromocentre_spacing_um: float = 0.0
    chromocentre_contrast: float = 2.0
    mito_count_mp: float = 15.0
    sp_mito_ratio: float = 1.5
    mito_kind_weights: tuple[float, float, float] = (0.35, 0.5, 0.15)
    mito_width_um: tuple[float, float] = (0.2, 0.5)
    mito_gap_um: float = 0.35
    numerical_aperture: float = 1.3
    snr: float = 8.0
    background_photons: float = 30.0
    read_noise: float = 2.0
    camera_offset: int = 100
    vignetting: float = 0.0
    mito_layout: str = "mixed"
    mito_wavelength_um: float = EMISSION_UM["mito"]
    mito_haze: float = 0.04
    mito_saturation: float = 0.0
    camera_gain: float = 1.0
    bit_depth: int = 16

    def __post_init__(self) -> None:
        if self.mito_layout not in MITO_LAYOUT_WEIGHTS:
            raise ValueError(f"mito_layout must be one of {', '.join(MITO_LAYOUT_WEIGHTS)}, "
                             f"got {self.mito_layout!r}")
        if self.bit_depth not in (8, 16):
            raise ValueError(f"bit_depth must be 8 or 16, got {self.bit_depth}")
        if self.chromocentre_spacing_um < 0 or self.chromocentre_contrast <= 0:
            raise ValueError("chromocentre_spacing_um must be >= 0 (0: none) and "
                             "chromocentre_contrast > 0, got "
                             f"{self.chromocentre_spacing_um} and {self.chromocentre_contrast}")
        if not 0.0 <= self.mito_saturation < 1.0:
            raise ValueError(f"mito_saturation must be in [0, 1), got {self.mito_saturation}")

    @classmethod
    def for_ndim(cls, ndim: int, **overrides) -> SynthParams:
        """Defaults suited to 2-D or 3-D fields, with ``overrides`` applied."""
        base = cls() if ndim == 2 else cls(
            ndim=3, size_px=320, pixel_size_um=0.12, mito_count_mp=30.0,
        )
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def voxel_size_um(self) -> tuple[float, ...]:
        """Voxel size ``(y, x)`` or ``(z, y, x)`` in µm."""
        lateral = (self.pixel_size_um, self.pixel_size_um)
        return (self.z_step_um, *lateral) if self.ndim == 3 else lateral


@dataclass
class SyntheticField:
    """One synthetic image with its ground truth.

    Attributes
    ----------
    image : ndarray of uint16 (uint8 with ``bit_depth=8``)
        ``(C, Y, X)`` or ``(Z, C, Y, X)`` with channels ``CHANNEL_NAMES``.
    cells, nuclei, mito : ndarray
        Truth label images; a nucleus has the id of its cell.
    truth : DataFrame
        One row per cell (see :func:`make_field`).
    mito_truth : DataFrame
        One row per mitochondrion.
    params : SynthParams
        The parameters used.
    """

    image: np.ndarray
    cells: np.ndarray
    nuclei: np.ndarray
    mito: np.ndarray
    truth: pd.DataFrame
    mito_truth: pd.DataFrame
    params: SynthParams = field(default_factory=SynthParams)

    @property
    def axes(self) -> str:
        """Axes of :attr:`image`."""
        return "ZCYX" if self.params.ndim == 3 else "CYX"

    def channel(self, name: str) -> np.ndarray:
        """One channel of :attr:`image`, ``(Z,)Y,X``."""
        return np.take(self.image, CHANNEL_NAMES.index(name), axis=self.axes.index("C"))
