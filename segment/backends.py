"""Segmentation backends and the physical-scale plumbing they share.

A backend turns a two-channel image that is already at the network's scale (objects about
:attr:`Backend.diameter_px` pixels wide) into a label image. Everything that depends on
microscopy units lives here, once, for every backend: converting the object diameter in µm
and the voxel size into a resampling of the image, running the backend on the resampled
image, and bringing the labels back onto the input grid (:mod:`spmito.segment.regrid`).

Only the Cellpose 3 backend exists today. A Cellpose-SAM (Cellpose 4) backend would subclass
:class:`Backend`, register itself in :data:`BACKENDS`, and be chosen with
``backend="cellpose-sam"``; nothing else changes.

Segmenting at the network's scale, rather than letting Cellpose resample internally and
follow flows on the full-resolution grid, is what makes 100-pixel cells fast on a CPU: a
512 x 512 field at 0.1 µm with 12 µm cells is segmented as a 128 x 128 image.
"""

from __future__ import annotations

import logging
import math
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import numpy as np
from skimage.segmentation import relabel_sequential

from spmito.segment.regrid import labels_on_input_grid
from spmito.segment.weights import (
    ModelRef,
    inference_settings,
    load_state_dict,
    network_diameter_px,
    network_layout,
    resolve_model,
)

#: How a 3-D stack is segmented: 2-D masks per plane stitched by overlap, or Cellpose's
#: 3-D flows from the XY, XZ and YZ views of an isotropically resampled stack.
MODES_3D = ("stitch", "do_3d")

#: Most bytes the resampled copy of an image (float32, every channel) may take.
RESAMPLE_BUDGET_BYTES = 2 << 30

#: Fewest pixels along y and x an image may have at the network's scale (a network object
#: is about 30 pixels wide: a narrower image cannot hold one).
MIN_NETWORK_PX = 8


#: Widest tile (pixels) the network runs on. Wider tiles cost more per pixel on a CPU
#: (2.1 µs per pixel up to 512, 3.6 µs at 768 and 1 040, 16-wide network, 2 threads).
MAX_TILE_PX = 512

#: Cellpose's tiler: tiles overlap by this fraction of their size on each side.
_TILE_OVERLAP = 0.1

#: Pixels the network is given at once: Cellpose's default batch of eight 224² tiles, kept
#: whatever the tile size so that larger tiles do not raise the peak memory.
_BATCH_PX = 8 * 224 * 224


class ImageScaleError(ValueError):
    """At the network's scale the image is too large for the memory budget or too small."""


@dataclass(frozen=True)
class Segmentation:
    """Labels and how they were made.

    Attributes
    ----------
    labels : ndarray of int32
        ``(Y, X)`` or ``(Z, Y, X)`` on the input grid; 0 is background.
    provenance : dict
        Backend, model (name, path, sha256), device and the parameters used, JSON-ready.
    """

    labels: np.ndarray
    provenance: dict


class Backend(ABC):
    """A loaded segmentation network.

    Attributes
    ----------
    name : str
        Backend name recorded in provenance.
    model : ModelRef
        The weights it runs.
    device : str
        Where it runs (``"cpu"``, ``"cuda:0"``, ...).
    diameter_px : float
        Object diameter (pixels) the network expects at its input.
    cellprob_threshold, flow_threshold : float
        Cell probability and flow error thresholds used when the caller gives none.
    """

    name: ClassVar[str]
    model: ModelRef
    device: str
    diameter_px: float
    cellprob_threshold: float = 0.0
    flow_threshold: float = 0.4

    @abstractmethod
    def predict(self, image: np.ndarray, *, do_3d: bool, flow_threshold: float,
                cellprob_threshold: float, stitch_threshold: float
                ) -> tuple[np.ndarray, np.ndarray]:
        """Labels of a ``(2, Y, X)`` or ``(Z, 2, Y, X)`` float image at the network's scale.

        For a 3-D image, ``do_3d`` selects 3-D flows; otherwise planes are stitched when
        ``stitch_threshold > 0``. Returns the labels and the cell probability (logit) they
        were cut from, both on the spatial grid of ``image``.
        """

    def versions(self) -> dict:
        """Versions of the libraries that produced the labels."""
        return {}


class Cellpose3Backend(Backend):
    """Cellpose 3 (CPnet) networks, of any width.

    Cellpose's tiling, normalisation and flow dynamics around a network that spmito builds
    and loads itself.

    Parameters
    ----------
    net : cellpose.resnet_torch.CPnet
        The network, on ``device``, in eval mode.
    model : ModelRef
        Where its weights came from.
    diameter_px : float
        Object diameter the network is run at (pixels).
    device : torch.device
        Where it runs.
    cellprob_threshold, flow_threshold : float
        Cell probability and flow error thresholds used when the caller gives none.
    """

    name = "cellpose3"

    def __init__(self, net, model: ModelRef, diameter_px: float, device,
                 cellprob_threshold: float = 0.0, flow_threshold: float = 0.4) -> None:
        from cellpose.models import CellposeModel

        _quiet_cellpose()
        # A CellposeModel without weights (no file lookup, no download), given our network.
        runner = CellposeModel(pretrained_model=False, device=device, nchan=net.nbase[0])
        runner.net = net
        runner.net_ortho = None
        runner.diam_mean = runner.diam_labels = float(diameter_px)
        runner.pretrained_model = str(model.path)
        self._runner = runner
        self.model = model
        self.device = str(device)
        self.diameter_px = float(diameter_px)
        self.cellprob_threshold = float(cellprob_threshold)
        self.flow_threshold = float(flow_threshold)

    @classmethod
    def load(cls, model: ModelRef, device) -> Cellpose3Backend:
        """Build the network described by the weights file and load them.

        The diameter it runs at and its cell probability threshold come from the
        ``inference`` record of its recipe when there is one
        (:func:`spmito.segment.weights.inference_settings`), else from the weights (the training
        diameter) and Cellpose's default (0.0).
        """
        state = load_state_dict(model)
        net = build_network(network_layout(state), device,
                            mkldnn=device.type == "cpu" and _mkldnn_works())
        net.load_state_dict(state, strict=True)
        net.eval()
        settings = inference_settings(model)
        return cls(net, model,
                   float(settings.get("diameter_px", network_diameter_px(model, state))),
                   device, float(settings.get("cellprob_threshold", cls.cellprob_threshold)),
                   float(settings.get("flow_threshold", cls.flow_threshold)))

    def predict(self, image: np.ndarray, *, do_3d: bool, flow_threshold: float,
                cellprob_threshold: float, stitch_threshold: float
                ) -> tuple[np.ndarray, np.ndarray]:
        """See :meth:`Backend.predict`."""
        is_3d = image.ndim == 4
        channel_axis = 1 if is_3d else 0
        tile_px = network_tile_px(image.shape[-2:])
        with warnings.catch_warnings():
            # Cellpose's mask dynamics build sparse tensors without torch's optional checks
            warnings.filterwarnings("ignore", message="Sparse invariant checks")
            masks, flows, _ = self._runner.eval(
                image, channel_axis=channel_axis, z_axis=0 if is_3d else None,
                diameter=self.diameter_px, do_3D=do_3d and is_3d,
                stitch_threshold=stitch_threshold if is_3d and not do_3d else 0.0,
                flow_threshold=flow_threshold, cellprob_threshold=cellprob_threshold,
                anisotropy=None, resample=True, tile_overlap=_TILE_OVERLAP,
                bsize=tile_px, batch_size=max(1, _BATCH_PX // tile_px**2),
                normalize=cellpose_normalization(image, channel_axis))
        spatial = image.shape[:1] + image.shape[2:] if is_3d else image.shape[1:]
        return (np.asarray(masks, dtype=np.int32).reshape(spatial),
                np.asarray(flows[2], dtype=np.float32).reshape(spatial))

    def versions(self) -> dict:
        """See :meth:`Backend.versions`."""
        from importlib.metadata import version

        return {"cellpose": version("cellpose"), "torch": version("torch")}


def network_tile_px(shape_yx: tuple[int, ...], max_tile_px: int = MAX_TILE_PX) -> int:
    """Tile size with which Cellpose's tiler covers an image in the fewest pixels.

    Cellpose cuts an image into square tiles of 224 pixels by default, overlapping by a
    tenth on each side, whatever the image size: a 261 x 261 image (a 1024² field of 8 µm
    nuclei at 0.1 µm) becomes four tiles, 2.9 times its pixels. Here an image that fits
    in ``max_tile_px`` is one tile of its own (padded) size, and a larger one gets the
    tile size, a multiple of 16 up to ``max_tile_px``, whose tiles hold the fewest pixels
    under Cellpose's overlap rule.

    Parameters
    ----------
    shape_yx : tuple of int
        Height and width of the image at the network's scale (pixels).
    max_tile_px : int
        Widest tile allowed.

    Returns
    -------
    int
        Cellpose's ``bsize``.
    """
    from cellpose.transforms import get_pad_yx

    pads = get_pad_yx(*shape_yx)
    padded_px = (shape_yx[0] + pads[0] + pads[1], shape_yx[1] + pads[2] + pads[3])
    if max(padded_px) <= max_tile_px:
        return max(padded_px)
    return min(range(max_tile_px, 63, -16), key=lambda tile_px: _tiled_px(padded_px, tile_px))


def _tiled_px(padded_px: tuple[int, int], tile_px: int) -> int:
    """Pixels in the tiles Cellpose cuts a padded image of ``padded_px`` into."""
    total = 1
    for length in padded_px:
        n_tiles = 1 if length <= tile_px else math.ceil((1 + 2 * _TILE_OVERLAP) * length
                                                        / tile_px)
        total *= n_tiles * min(tile_px, length)
    return total


def _quiet_cellpose() -> None:
    """Keep Cellpose's own console output out of spmito's progress display.

    Stitching a stack draws a bar per stack (``cellpose.utils.stitch3D`` calls tqdm's
    ``trange``, which takes no switch) inside spmito's bar of images, and a plane without
    objects logs "no seeds found … no masks found", which is expected there. spmito reports
    progress and empty images itself.
    """
    from functools import partial

    import cellpose.utils
    from tqdm import trange

    cellpose.utils.trange = partial(trange, disable=True)
    logging.getLogger("cellpose.dynamics").setLevel(logging.ERROR)


def cellpose_normalization(image: np.ndarray, channel_axis: int) -> bool | dict:
    """Cellpose's ``normalize`` argument, safe where under 1 % of the pixels carry signal.

    Cellpose maps each channel's 1st and 99th percentiles to 0 and 1, and *zeroes* a channel
    whose two percentiles are equal. That happens when over 99 % of the pixels share one
    value: a cell cut out of its field (zeros around it), or a few cells on a background
    subtracted and clipped at 0. The objects then vanish. For such a channel
    the upper value is instead the 99th percentile of the pixels above that flat level, as
    if the objects filled the field; other images keep Cellpose's scaling unchanged.

    Parameters
    ----------
    image : ndarray
        The network's input, channels along ``channel_axis``.
    channel_axis : int
        Axis of the channels.

    Returns
    -------
    bool or dict
        ``True`` (Cellpose's scaling) or ``{"lowhigh": [[low, high], ...]}``.
    """
    ranges, flat_signal = [], False
    for channel in np.moveaxis(image, channel_axis, 0):
        values = channel.ravel()[::max(1, channel.size // _PERCENTILE_SAMPLES)]
        low, high = np.percentile(values, [1, 99])
        if (values <= low).mean() > _MOSTLY_FLAT and channel.max() > low:
            high = np.percentile(channel[channel > low], 99)
            flat_signal = True
        ranges.append([float(low), float(high) if high - low > _CELLPOSE_FLAT else low + 1.0])
    return {"lowhigh": ranges, "normalize": True} if flat_signal else True


#: Cellpose zeroes a channel whose 99th and 1st percentiles differ by no more than this.
_CELLPOSE_FLAT = 1e-3
#: Share of a channel's pixels at its lowest level above which it is taken as objects on a
#: flat background (scaled by the objects' own 99th percentile).
_MOSTLY_FLAT = 0.98
#: Pixels sampled (evenly) for the percentiles of a channel.
_PERCENTILE_SAMPLES = 1_000_000


def build_network(nbase: tuple[int, ...], device, mkldnn: bool = False):
    """An untrained Cellpose 3 network with level widths ``nbase`` on ``device``.

    ``mkldnn`` speeds up CPU inference (not training).
    """
    return _network_class()(list(nbase), 3, sz=3, mkldnn=mkldnn, max_pool=True,
                            diam_mean=30.0).to(device)


@lru_cache(maxsize=1)
def _network_class():
    """CPnet with its style vector zero-padded to the 256 values Cellpose's tiler expects.

    A network narrower than Cellpose's default (e.g. the bundled ones, 128 wide at the
    bottom) has a shorter style vector; it only feeds Cellpose's size model, which spmito
    does not use. Weights and state-dict keys are CPnet's.
    """
    import torch
    from cellpose.resnet_torch import CPnet

    class StylePaddedCPnet(CPnet):
        def forward(self, data):
            output, style, downsampled = super().forward(data)
            missing = 256 - style.shape[1]
            if missing > 0:
                style = torch.nn.functional.pad(style, (0, missing))
            return output, style, downsampled

    return StylePaddedCPnet


@lru_cache(maxsize=1)
def _mkldnn_works() -> bool:
    import torch

    return bool(torch.backends.mkldnn.is_available())


#: Backends by name.
BACKENDS: dict[str, type[Backend]] = {Cellpose3Backend.name: Cellpose3Backend}


def torch_device(device: str = "auto"):
    """The torch device for ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.

    ``"auto"`` picks CUDA, then Apple MPS, when torch sees one, else the CPU.

    Raises
    ------
    RuntimeError
        When the requested accelerator is not available.
    """
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    chosen = torch.device(device)
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} was requested but torch sees no CUDA GPU "
                           f"(torch {torch.__version__}); use device='cpu' or 'auto'")
    if chosen.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError(f"device {device!r} was requested but MPS is not available")
    return chosen


def get_backend(model: str = "bundled", kind: str = "cells", device: str = "auto",
                backend: str = "cellpose3") -> Backend:
    """A loaded backend, cached per process (the batch calls it per image and per worker).

    Parameters
    ----------
    model : str or path-like
        ``"bundled"``, a cached Cellpose model name or a weights file
        (:func:`spmito.segment.weights.resolve_model`).
    kind : {"cells", "nuclei"}
        What ``"bundled"`` means.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``, ...
    backend : str
        A name in :data:`BACKENDS`.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown segmentation backend {backend!r}; available: "
                         f"{', '.join(BACKENDS)} (a Cellpose-SAM backend needs cellpose>=4 "
                         "and is not part of this installation)")
    ref = resolve_model(model, kind)
    return _load_backend(backend, ref, str(torch_device(device)))


@lru_cache(maxsize=8)
def _load_backend(backend: str, ref: ModelRef, device: str) -> Backend:
    import torch

    logging.getLogger(__name__).info("loading %s model %s (%s) on %s", backend, ref.name,
                                     ref.path, device)
    return BACKENDS[backend].load(ref, torch.device(device))


# ------------------------------------------------------------------ physical scale


def network_zoom(voxel_size_um: tuple[float, ...], diameter_um: float, diameter_px: float,
                 resample_z: bool) -> tuple[float, ...]:
    """Zoom per spatial axis that makes objects of ``diameter_um`` ``diameter_px`` wide.

    Parameters
    ----------
    voxel_size_um : tuple of float
        ``(y, x)`` or ``(z, y, x)`` voxel size in µm.
    diameter_um : float
        Typical object diameter in µm.
    diameter_px : float
        Object diameter the network expects, in pixels.
    resample_z : bool
        Also resample z to the same (isotropic) scale; otherwise z is kept.
    """
    if diameter_um <= 0 or not np.isfinite(diameter_um):
        raise ValueError(f"diameter_um must be a positive number of µm, got {diameter_um}")
    if len(voxel_size_um) not in (2, 3) or min(voxel_size_um) <= 0:
        raise ValueError(f"voxel_size_um must be 2 or 3 positive sizes in µm, got {voxel_size_um}")
    target_um = diameter_um / diameter_px
    zoom = tuple(float(s) / target_um for s in voxel_size_um)
    if len(zoom) == 3 and not resample_z:
        zoom = (1.0, *zoom[1:])
    return zoom


def resampled_shape(spatial: tuple[int, ...], zoom: tuple[float, ...]) -> tuple[int, ...]:
    """The spatial shape after resampling by ``zoom``."""
    return tuple(max(1, round(n * z)) for n, z in zip(spatial, zoom, strict=True))


def resample_image(image: np.ndarray, zoom: tuple[float, ...],
                   max_bytes: int = RESAMPLE_BUDGET_BYTES) -> np.ndarray:
    """Resample a channel-first image ``(C, *spatial)`` by ``zoom`` per spatial axis.

    Linear interpolation, with a Gaussian anti-aliasing filter when shrinking.

    Raises
    ------
    ImageScaleError
        The resampled image would take more than ``max_bytes`` (float32).
    """
    from skimage.transform import resize

    spatial = image.shape[1:]
    shape = resampled_shape(spatial, zoom)
    needed = 4 * image.shape[0] * float(np.prod(shape, dtype=np.float64))
    if needed > max_bytes:
        raise ImageScaleError(
            f"at the network's scale the image would be {' x '.join(map(str, shape))} pixels "
            f"({needed / 2**30:.3g} GiB, more than the {max_bytes / 2**30:.3g} GiB allowed), "
            f"{' x '.join(f'{z:.3g}' for z in zoom)} times its {' x '.join(map(str, spatial))}")
    if shape == spatial:
        return image.astype(np.float32, copy=False)
    return np.stack([resize(channel.astype(np.float32, copy=False), shape, order=1,
                            anti_aliasing=any(z < 1 for z in zoom), preserve_range=True)
                     for channel in image]).astype(np.float32, copy=False)


def resize_labels(labels: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Nearest-neighbour resampling of a label image onto a grid of ``shape``."""
    if labels.shape == tuple(shape):
        return labels
    index = np.ix_(*[np.minimum(((np.arange(n) + 0.5) * m / n).astype(np.intp), m - 1)
                     for n, m in zip(shape, labels.shape, strict=True)])
    return labels[index]


def segment_objects(image: np.ndarray, voxel_size_um: tuple[float, ...], diameter_um: float,
                    backend: Backend, *, mode_3d: str = "stitch",
                    flow_threshold: float | None = None, cellprob_threshold: float | None = None,
                    stitch_threshold: float = 0.25
                    ) -> Segmentation:
    """Segment a channel-first image at physical scale with a loaded backend.

    Parameters
    ----------
    image : ndarray
        ``(2, Y, X)`` or ``(2, Z, Y, X)``: the channel to segment, then the helper channel
        (nuclei for cells; zeros when there is none).
    voxel_size_um : tuple of float
        ``(y, x)`` or ``(z, y, x)`` voxel size in µm.
    diameter_um : float
        Typical object diameter in µm.
    backend : Backend
        From :func:`get_backend`.
    mode_3d : {"stitch", "do_3d"}
        3-D only: stitch 2-D masks of each plane, or 3-D flows on an isotropic resampling.
    flow_threshold, cellprob_threshold : float
        Cellpose's flow error and cell probability thresholds; ``None`` takes the
        backend's (:attr:`Backend.flow_threshold`, :attr:`Backend.cellprob_threshold`: the
        model recipe's ``inference`` record, else Cellpose's defaults 0.4 and 0.0).
    stitch_threshold : float
        IoU above which masks of neighbouring planes are joined (``stitch`` mode).

    Returns
    -------
    Segmentation
    """
    if mode_3d not in MODES_3D:
        raise ValueError(f"mode_3d must be one of {MODES_3D}, got {mode_3d!r}")
    spatial = image.shape[1:]
    if len(spatial) != len(voxel_size_um):
        raise ValueError(f"image of spatial shape {spatial} needs {len(spatial)} voxel sizes, "
                         f"got voxel_size_um={tuple(voxel_size_um)}")
    do_3d = len(spatial) == 3 and mode_3d == "do_3d"
    if cellprob_threshold is None:
        cellprob_threshold = backend.cellprob_threshold
    if flow_threshold is None:
        flow_threshold = backend.flow_threshold
    zoom = network_zoom(tuple(voxel_size_um), diameter_um, backend.diameter_px, resample_z=do_3d)
    lateral = resampled_shape(spatial, zoom)[-2:]
    if min(lateral) < MIN_NETWORK_PX:
        raise ImageScaleError(
            f"the image ({' x '.join(map(str, spatial))} pixels of "
            f"{' x '.join(f'{s:.3g}' for s in voxel_size_um)} µm) is narrower than one object of "
            f"{diameter_um:g} µm: at the network's scale it is {lateral[0]} x {lateral[1]} "
            "pixels")
    small = resample_image(image, zoom)
    if small.ndim == 4:
        small = np.ascontiguousarray(small.transpose(1, 0, 2, 3))  # (Z, C, Y, X)
    labels, cellprob = backend.predict(small, do_3d=do_3d, flow_threshold=flow_threshold,
                                       cellprob_threshold=cellprob_threshold,
                                       stitch_threshold=stitch_threshold)
    labels = relabel_sequential(
        labels_on_input_grid(labels, cellprob, spatial, cellprob_threshold))[0]
    provenance = {
        "backend": backend.name, **backend.versions(), **backend.model.as_dict(),
        "device": backend.device, "diameter_um": float(diameter_um),
        "network_diameter_px": backend.diameter_px, "network_zoom": list(zoom),
        "flow_threshold": flow_threshold, "cellprob_threshold": cellprob_threshold,
    }
    if len(spatial) == 3:
        provenance["mode_3d"] = mode_3d
        if not do_3d:
            provenance["stitch_threshold"] = stitch_threshold
    return Segmentation(labels=labels, provenance=provenance)
