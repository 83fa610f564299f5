"""Training and fine-tuning Cellpose 3 networks: arrays in, a model file out.

Each training image is resampled so that its objects are as wide as the network expects
(the same resampling :func:`spmito.segment.backends.segment_objects` applies at inference), turned
into Cellpose flows, and served as random rotated, rescaled, flipped crops with intensity
augmentations (noise, blur, gamma, a missing helper channel). The loss is Cellpose's: mean
squared error on the flows (x5) plus binary cross-entropy on the cell probability.

The model is written as a half-precision PyTorch state dict (loadable with
``torch.load(weights_only=True)``, and by Cellpose when the network has Cellpose's default
width) with a JSON record of how it was trained beside it (``MODEL.json``).
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from spmito.segment.backends import (
    Cellpose3Backend,
    build_network,
    resample_image,
    resize_labels,
    segment_objects,
    torch_device,
)
from spmito.segment.training_data import median_diameter_px, two_channels
from spmito.segment.weights import (
    ModelRef,
    file_sha256,
    load_state_dict,
    network_diameter_px,
    network_layout,
    resolve_model,
)

#: Level widths of a network trained from scratch: a quarter of Cellpose's default
#: (32, 64, 128, 256) in parameters, ~4x faster on a CPU, 3.3 MB in half precision.
SMALL_NETWORK = (2, 16, 32, 64, 128)

#: Object diameter (pixels) a network trained from scratch works at, as Cellpose's models.
NETWORK_DIAMETER_PX = 30.0

#: ``progress(epoch, n_epochs, loss, seconds)`` after each epoch (epochs count from 1).
ProgressCallback = Callable[[int, int, float, float], None]


@dataclass(frozen=True)
class TrainingResult:
    """What a training run produced.

    Attributes
    ----------
    path : Path
        The model file.
    sha256 : str
        Its SHA-256.
    recipe : dict
        Everything recorded in the JSON beside the model (parameters, data description,
        losses, time, validation score).
    validation_ap50 : float or None
        Mean average precision at IoU 0.5 over the validation images (None without them).
    """

    path: Path
    sha256: str
    recipe: dict
    validation_ap50: float | None


@dataclass(frozen=True)
class TrainingSettings:
    """Optimisation settings of :func:`train_model`.

    Attributes
    ----------
    epochs : int
        Passes over the training images (at least ``batch_size`` crops per epoch).
    learning_rate : float
        Peak AdamW learning rate (linear warm-up over the first 5 % of epochs, then a
        cosine decay to zero). ~0.005 from scratch, ~0.001 to fine-tune.
    weight_decay : float
        AdamW weight decay.
    batch_size : int
        Crops per optimisation step.
    crop_px : int
        Side of the square training crops (pixels at the network's scale).
    scale_range : float
        Random rescaling of crops by a factor in ``1 ± scale_range / 2``.
    seed : int
        Seed of every random choice (crops, augmentations, initial weights).
    nbase : tuple of int
        Input channels and level widths of a network trained from scratch. When
        fine-tuning, the base model's layout is kept, unless ``nbase`` is wider: the base
        is then widened to it (:func:`widened_state`).
    diameter_px : float, optional
        Object diameter (pixels) the network learns to work at; default: the base model's,
        or :data:`NETWORK_DIAMETER_PX` from scratch.
    smallest_object_px : float, optional
        Resolution augmentation: in 30 % of crops the objects are shown as if they had been
        recorded only this many to ``diameter_px`` pixels across (log-uniform; the crop is
        down-sampled to that resolution and back), as small objects look after the
        up-sampling of inference. Default: none.
    time_budget_s : float, optional
        Wall-clock budget: the learning-rate schedule runs on whichever is further along,
        epochs or time, and training stops when either is spent. For long runs on shared
        machines; the epochs actually run are in the recipe.
    recalibrate_batch_norm : bool
        After training, re-estimate the batch-norm statistics on the whole, un-augmented
        training images (see :func:`recalibrate_batch_norm`).
    """

    epochs: int = 100
    learning_rate: float = 0.005
    weight_decay: float = 1e-5
    batch_size: int = 8
    crop_px: int = 224
    scale_range: float = 0.5
    seed: int = 0
    nbase: tuple[int, ...] = SMALL_NETWORK
    diameter_px: float | None = None
    smallest_object_px: float | None = None
    time_budget_s: float | None = None
    recalibrate_batch_norm: bool = False


@dataclass
class _Examples:
    images: list[np.ndarray] = field(default_factory=list)  # (2, Y, X) normalised
    flows: list[np.ndarray] = field(default_factory=list)  # (3, Y, X) prob, dy, dx


def _prepare(images: Sequence[np.ndarray], masks: Sequence[np.ndarray],
             diameters_px: Sequence[float], network_px: float) -> _Examples:
    """Resample to the network's scale, normalise, and compute Cellpose flows."""
    from cellpose import dynamics, transforms

    examples = _Examples()
    for image, mask, diameter in zip(images, masks, diameters_px, strict=True):
        zoom = (network_px / diameter,) * 2
        small = resample_image(two_channels(image), zoom)
        examples.images.append(transforms.normalize_img(small, axis=0))
        labels = resize_labels(np.asarray(mask), small.shape[1:])
        flows = dynamics.labels_to_flows([labels], device=torch_device("cpu"))[0]
        examples.flows.append(flows[1:].astype(np.float32))
    return examples


def _augment_intensity(batch: np.ndarray, rng: np.random.Generator, drop_helper: bool,
                       lowest_resolution: float | None = None) -> np.ndarray:
    """Resolution loss, contrast, gamma, blur and noise per crop; helper blanked at times.

    The helper channel is blanked in a quarter of crops when ``drop_helper``.
    ``lowest_resolution`` (< 1): the smallest down-sampling factor of the resolution loss.
    """
    from scipy.ndimage import gaussian_filter

    out = batch.copy()
    for crop in out:
        if lowest_resolution is not None and rng.random() < 0.3:
            factor = float(np.exp(rng.uniform(np.log(lowest_resolution), 0.0)))
            crop[:] = _lose_resolution(crop, factor)
        for channel in crop:
            if rng.random() < 0.3:
                channel[:] = channel * rng.uniform(0.5, 1.5) + rng.uniform(-0.1, 0.1)
            if rng.random() < 0.5:
                channel[:] = np.sign(channel) * np.abs(channel) ** rng.uniform(0.6, 1.6)
            if rng.random() < 0.3:
                channel[:] = gaussian_filter(channel, rng.uniform(0.3, 1.2))
            if rng.random() < 0.5:
                channel += rng.normal(0.0, rng.uniform(0.0, 0.08), channel.shape)
        if drop_helper and rng.random() < 0.25:
            crop[1] = 0.0
    return out


def _lose_resolution(crop: np.ndarray, factor: float) -> np.ndarray:
    """A ``(C, Y, X)`` crop down-sampled by ``factor`` (< 1) and up-sampled back."""
    small = resample_image(crop, (factor, factor))
    back = tuple(n / m for n, m in zip(crop.shape[1:], small.shape[1:], strict=True))
    return resample_image(small, back)


def _loss(prediction, target):
    """Cellpose's loss: MSE on 5x flows (halved) + BCE on the cell probability."""
    import torch

    flows = 5.0 * target[:, 1:]
    flow_loss = torch.nn.functional.mse_loss(prediction[:, :2], flows) / 2.0
    prob_loss = torch.nn.functional.binary_cross_entropy_with_logits(
        prediction[:, 2], (target[:, 0] > 0.5).float())
    return flow_loss + prob_loss


def _learning_rate(done: float, settings: TrainingSettings) -> float:
    """Linear warm-up over the first 5 % of epochs, then a cosine decay to zero.

    ``done``: the fraction of training done, in [0, 1].
    """
    ramp = min(1.0, (done * settings.epochs + 1) / max(1, round(0.05 * settings.epochs)))
    return settings.learning_rate * ramp * 0.5 * (1 + math.cos(math.pi * min(done, 1.0)))


def _initial_network(base: str | None, kind: str, layout: tuple[int, ...], device):
    """A fresh network of ``layout``, or one loaded from ``base``, with its diameter.

    A base narrower than ``layout`` is widened to it (:func:`widened_state`); any other
    base keeps its own layout.
    """
    if base is None:
        return build_network(layout, device), NETWORK_DIAMETER_PX, None
    ref = resolve_model(base, kind)
    state = load_state_dict(ref)
    base_layout = network_layout(state)
    if _is_wider(layout, base_layout):
        net = build_network(layout, device)
        state = widened_state(state, net.state_dict())
    else:
        net = build_network(base_layout, device)
    net.load_state_dict(state, strict=True)
    return net, network_diameter_px(ref, state), ref


def _is_wider(layout: tuple[int, ...], base_layout: tuple[int, ...]) -> bool:
    return (len(layout) == len(base_layout) and layout[0] == base_layout[0]
            and tuple(layout) != tuple(base_layout)
            and all(w >= b for w, b in zip(layout, base_layout, strict=True)))


#: Scale of the fresh initial weights that feed the channels a widened network adds.
_NEW_CHANNEL_WEIGHT_SCALE = 0.1


def widened_state(state: dict, fresh_wide_state: dict) -> dict:
    """The weights of a trained CPnet carried into a wider one that computes the same.

    Every tensor of the trained network fills the leading block of the wider network's
    tensor. The weights *from* an added channel are zero, so the added channels do not
    change the output at first, and training starts where the trained network stood; the
    weights *into* an added channel are the fresh network's, scaled by
    :data:`_NEW_CHANNEL_WEIGHT_SCALE`, so that they are not symmetric and learn. Added
    batch-norm channels start as the identity. The one departure from the trained
    network's output is the style vector's length, to which the small added channels
    contribute a little.

    Parameters
    ----------
    state : dict
        State dict of the trained network.
    fresh_wide_state : dict
        State dict of a freshly initialised network of the wider layout.

    Returns
    -------
    dict
        State dict for the wider network.
    """
    wide = {}
    for key, fresh in fresh_wide_state.items():
        trained = state[key]
        if trained.shape == fresh.shape:
            wide[key] = trained.clone()
            continue
        grown = _added_channel_start(key, fresh)
        lead = tuple(slice(0, n) for n in trained.shape)
        grown[lead] = trained
        if grown.ndim >= 2:
            grown[: trained.shape[0], trained.shape[1]:] = 0.0
        wide[key] = grown
    return wide


def _added_channel_start(key: str, fresh):
    """Initial values of a widened tensor before the trained block is copied in."""
    if fresh.ndim >= 2:
        return fresh.clone() * _NEW_CHANNEL_WEIGHT_SCALE
    if key.endswith("running_var") or key.endswith(".weight"):  # batch-norm scale
        return fresh.new_ones(fresh.shape)
    return fresh.new_zeros(fresh.shape)  # biases, batch-norm shifts and running means


def train_model(images: Sequence[np.ndarray], masks: Sequence[np.ndarray],
                out_path: str | os.PathLike, *, kind: str = "cells",
                diameters_px: Sequence[float] | None = None, base: str | None = None,
                settings: TrainingSettings = TrainingSettings(),
                validation_images: Sequence[np.ndarray] = (),
                validation_masks: Sequence[np.ndarray] = (),
                validation_diameters_px: Sequence[float] | None = None,
                device: str = "auto", progress: ProgressCallback | None = None,
                data_description: dict | None = None,
                checkpoint_path: str | os.PathLike | None = None) -> TrainingResult:
    """Train a Cellpose 3 network (from scratch or from ``base``) and write it.

    Parameters
    ----------
    images : sequence of ndarray
        2-D training images ``(Y, X)`` or ``(C, Y, X)`` with C = 1 or 2: the channel to
        segment, then the helper channel (the nuclear stain for cells).
    masks : sequence of ndarray
        Label images, one per image (0 = background).
    out_path : path-like
        Model file to write (a ``.json`` recipe is written beside it).
    kind : {"cells", "nuclei"}
        What the model segments; only used to resolve ``base="bundled"`` and recorded.
    diameters_px : sequence of float, optional
        Typical object diameter of each image in pixels. Default: the median of its mask;
        give it for planes of 3-D stacks, whose sections are smaller than the objects.
    base : str, optional
        Model to fine-tune (``"bundled"``, a cached Cellpose name, a file); ``None``
        trains a small network from scratch.
    settings : TrainingSettings
        Epochs, learning rate, batch, crop size, seed.
    validation_images, validation_masks : sequence of ndarray
        Held-out pairs scored at the end (AP at IoU 0.5).
    validation_diameters_px : sequence of float, optional
        As ``diameters_px``, for the validation images.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``.
    progress : callable, optional
        ``progress(epoch, n_epochs, loss, seconds)`` after each epoch.
    data_description : dict, optional
        Where the data came from (recorded in the recipe).
    checkpoint_path : path-like, optional
        Where to write the model (half precision, no recipe) after every epoch, so that an
        interrupted run leaves a usable model.

    Returns
    -------
    TrainingResult
    """
    import torch

    if len(images) != len(masks) or not len(images):
        raise ValueError(f"need one mask per image and at least one pair; got {len(images)} "
                         f"images and {len(masks)} masks")
    started = time.time()
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    chosen = torch_device(device)
    net, network_px, base_ref = _initial_network(base, kind, settings.nbase, chosen)
    network_px = settings.diameter_px or network_px
    net.diam_mean.data[:] = network_px
    net.diam_labels.data[:] = network_px
    diameters = _diameters(masks, diameters_px)
    examples = _prepare(images, masks, diameters, network_px)
    losses = _fit(net, examples, settings, rng, chosen, drop_helper=kind == "cells",
                  progress=progress, started=started,
                  checkpoint=None if checkpoint_path is None else Path(checkpoint_path))
    if settings.recalibrate_batch_norm:
        recalibrate_batch_norm(net, examples.images, chosen)
    out_path = Path(out_path)
    _save_half(net, out_path)
    ref = ModelRef(os.fspath(out_path), out_path.stem, out_path, file_sha256(out_path))
    ap50 = None
    if len(validation_images):
        backend = Cellpose3Backend(net.eval(), ref, network_px, chosen)
        ap50 = validation_ap50(backend, validation_images, validation_masks,
                               validation_diameters_px)
    recipe = {
        "kind": kind, "network_layout": list(network_layout(net.state_dict())),
        "network_diameter_px": network_px,
        "base": None if base_ref is None else base_ref.as_dict(),
        "settings": asdict(settings), "epochs_run": len(losses), "n_train": len(images),
        "n_validation": len(validation_images),
        "train_diameter_px_median": float(np.median(diameters)),
        "data": data_description or {}, "loss_per_epoch": [round(v, 5) for v in losses],
        "validation_ap50": ap50, "seconds": round(time.time() - started, 1),
        "device": str(chosen), "host_cpu_count": os.cpu_count(),
        "python": platform.python_version(), **_versions(),
    }
    _write_json(out_path.with_suffix(".json"), recipe)
    return TrainingResult(out_path, ref.sha256, recipe, ap50)


def _diameters(masks: Sequence[np.ndarray], given: Sequence[float] | None) -> list[float]:
    if given is None:
        return [median_diameter_px(mask) for mask in masks]
    if len(given) != len(masks):
        raise ValueError(f"{len(given)} diameters for {len(masks)} masks")
    return [float(d) for d in given]


def _fit(net, examples: _Examples, settings: TrainingSettings, rng: np.random.Generator,
         device, *, drop_helper: bool, progress: ProgressCallback | None, started: float,
         checkpoint: Path | None = None) -> list[float]:
    """The optimisation loop; returns the mean loss of each epoch."""
    import torch
    from cellpose.transforms import random_rotate_and_resize

    optimizer = torch.optim.AdamW(net.parameters(), lr=settings.learning_rate,
                                  weight_decay=settings.weight_decay)
    n_images = len(examples.images)
    per_epoch = max(settings.batch_size, n_images)
    lowest_resolution = (None if settings.smallest_object_px is None else
                         settings.smallest_object_px / float(net.diam_mean.reshape(-1)[0]))
    losses = []
    net.train()
    for epoch in range(settings.epochs):
        if _fraction_done(epoch, settings, started) >= 1.0:
            break
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(_fraction_done(epoch, settings, started), settings)
        # Cellpose's crop sampler draws from NumPy's global generator: seed it per epoch
        np.random.seed(settings.seed * 100_003 + epoch)  # noqa: NPY002
        order = np.concatenate([rng.permutation(n_images)
                                for _ in range(math.ceil(per_epoch / n_images))])[:per_epoch]
        total = 0.0
        for start in range(0, per_epoch, settings.batch_size):
            chosen = order[start:start + settings.batch_size]
            crops, targets = random_rotate_and_resize(
                [examples.images[i] for i in chosen], Y=[examples.flows[i] for i in chosen],
                scale_range=settings.scale_range, xy=(settings.crop_px, settings.crop_px))[:2]
            crops = _augment_intensity(crops, rng, drop_helper, lowest_resolution)
            prediction = net(torch.from_numpy(crops).to(device))[0]
            loss = _loss(prediction, torch.from_numpy(targets).to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(chosen)
        losses.append(total / per_epoch)
        if checkpoint is not None:
            _save_half(net, checkpoint)
        if progress is not None:
            progress(epoch + 1, settings.epochs, losses[-1], time.time() - started)
    net.eval()
    return losses


def _fraction_done(epoch: int, settings: TrainingSettings, started: float) -> float:
    """How far training is, by epochs or by the time budget, whichever is further."""
    by_epochs = epoch / settings.epochs
    if settings.time_budget_s is None:
        return by_epochs
    return max(by_epochs, (time.time() - started) / settings.time_budget_s)


def recalibrate_batch_norm(net, images: Sequence[np.ndarray], device,
                           max_images: int = 200) -> None:
    """Re-estimate a network's batch-norm statistics on whole images, as inference sees them.

    Training updates the running statistics from small batches of augmented crops; on
    varied data (sparse and dense fields, strong augmentation) they can drift far from the
    statistics of a whole, plain image, and the cell probability of a network in eval mode
    then stays below threshold although the network in training mode separates the objects.
    Here the statistics are the plain average over up to ``max_images`` images (evenly
    spread), each cropped to a multiple of 16 pixels.

    Parameters
    ----------
    net : cellpose.resnet_torch.CPnet
        Modified in place; left in eval mode.
    images : sequence of ndarray
        ``(2, Y, X)`` images already at the network's scale and normalised.
    device : torch.device
        Where the network is.
    max_images : int
        At most this many images are used.
    """
    import torch

    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for module in norms:
        module.reset_running_stats()
        module.momentum = None  # cumulative average
    chosen = np.unique(np.linspace(0, len(images) - 1, min(max_images, len(images)))
                       .round().astype(int))
    net.train()
    with torch.no_grad():
        for index in chosen:
            image = images[index]
            height, width = (max(16, n // 16 * 16) for n in image.shape[1:])
            net(torch.from_numpy(np.ascontiguousarray(image[None, :, :height, :width]))
                .float().to(device))
    for module, momentum in zip(norms, momenta, strict=True):
        module.momentum = momentum
    net.eval()


def recalibrate_model_file(model_path: str | os.PathLike, images: Sequence[np.ndarray],
                           diameters_px: Sequence[float], out_path: str | os.PathLike,
                           device: str = "cpu") -> Path:
    """:func:`recalibrate_batch_norm` for a saved model; writes it (half precision).

    Parameters
    ----------
    model_path : path-like
        Weights written by :func:`train_model` (or a checkpoint of it).
    images : sequence of ndarray
        Its training images, as given to :func:`train_model`.
    diameters_px : sequence of float
        Their object diameters in pixels.
    out_path : path-like
        Where to write the recalibrated weights.
    device : str
        ``"cpu"``, ``"cuda"`` or ``"auto"``.

    Returns
    -------
    Path
    """
    from cellpose import transforms

    chosen = torch_device(device)
    net, network_px, _ = _initial_network(os.fspath(model_path), "nuclei", SMALL_NETWORK,
                                          chosen)
    prepared = [transforms.normalize_img(resample_image(two_channels(image),
                                                        (network_px / diameter,) * 2), axis=0)
                for image, diameter in zip(images, diameters_px, strict=True)]
    recalibrate_batch_norm(net, prepared, chosen)
    _save_half(net, Path(out_path))
    return Path(out_path)


def validation_ap50(backend, images: Sequence[np.ndarray], masks: Sequence[np.ndarray],
                    diameters_px: Sequence[float] | None = None) -> float:
    """Mean average precision at IoU 0.5 of a backend on 2-D image/mask pairs.

    Parameters
    ----------
    backend : spmito.segment.backends.Backend
        A loaded backend.
    images, masks : sequence of ndarray
        As in :func:`train_model`.
    diameters_px : sequence of float, optional
        Object diameter per image (pixels); default: the median of its mask.

    Returns
    -------
    float
    """
    from cellpose.metrics import average_precision

    diameters = _diameters(masks, diameters_px)
    predicted = [segment_objects(two_channels(image), (1.0, 1.0), diameter, backend).labels
                 for image, diameter in zip(images, diameters, strict=True)]
    ap = average_precision([np.asarray(m).astype(np.int32) for m in masks], predicted,
                           threshold=[0.5])[0]
    return float(np.mean(ap[:, 0]))


def _save_half(net, path: Path) -> None:
    """Write the weights in half precision (integer buffers kept), atomically."""
    import torch

    state = {key: value.detach().cpu().half() if value.is_floating_point()
             else value.detach().cpu() for key, value in net.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    os.replace(partial, path)


def _write_json(path: Path, record: dict) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(partial, path)


def _versions() -> dict:
    from importlib.metadata import version

    return {"cellpose": version("cellpose"), "torch": version("torch"),
            "numpy": np.__version__}
