"""Finding and loading segmentation model weights, offline and without unpickling code.

A model is named in one of three ways:

``"bundled"``
    the small Cellpose model that ships with spmito for the requested kind (cells or
    nuclei), in ``segment/models/``;
a Cellpose pretrained name (``"cyto3"``, ``"nuclei"``, ...)
    looked up in Cellpose's model cache (``CELLPOSE_LOCAL_MODELS_PATH`` or
    ``~/.cellpose/models``) and never downloaded: a name that is not cached raises
    :class:`ModelNotFoundError` saying how to fetch it;
a file path
    Cellpose 3 weights (a PyTorch state dict, e.g. written by ``spmito train`` or by
    Cellpose's own training).

Cellpose itself downloads missing weights and silently falls back to its default model on a
misspelt name; spmito resolves every name to an existing file first and hands Cellpose only
that file. Weights are read with ``torch.load(weights_only=True)``, which refuses to execute
pickled code.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

#: Folder of the bundled models (package data).
BUNDLED_DIR = Path(__file__).resolve().parent / "models"

#: What ``model="bundled"`` means for each kind of object.
BUNDLED_MODELS = {"cells": BUNDLED_DIR / "spmito_cells.pt",
                  "nuclei": BUNDLED_DIR / "spmito_nuclei.pt"}

#: Object diameter (pixels at the network's input) of Cellpose's pretrained models.
_PRETRAINED_DIAMETER_PX = {"nuclei": 17.0}
_DEFAULT_PRETRAINED_DIAMETER_PX = 30.0


class ModelNotFoundError(FileNotFoundError):
    """A model name or path that does not resolve to a weights file on this machine."""


class ModelFormatError(ValueError):
    """A weights file that the Cellpose 3 backend cannot load."""


@dataclass(frozen=True)
class ModelRef:
    """A resolved model: which file, and how it was asked for.

    Attributes
    ----------
    requested : str
        The name or path as given (``"bundled"``, ``"cyto3"``, ``"/models/mine.pt"``).
    name : str
        A short name for reports: the file stem, or the pretrained name.
    path : Path
        The weights file.
    sha256 : str
        SHA-256 of the weights file.
    pretrained : bool
        A Cellpose pretrained model (its diameter is fixed by name, not read from the file).
    """

    requested: str
    name: str
    path: Path
    sha256: str
    pretrained: bool = False

    def as_dict(self) -> dict:
        """The reference as plain JSON-ready values."""
        return {"model": self.requested, "model_name": self.name, "model_path": str(self.path),
                "model_sha256": self.sha256}


def cellpose_cache_dir() -> Path:
    """Folder where Cellpose keeps downloaded pretrained models.

    ``CELLPOSE_LOCAL_MODELS_PATH`` when set, else ``~/.cellpose/models`` (read at each call,
    so a changed environment is honoured).
    """
    configured = os.environ.get("CELLPOSE_LOCAL_MODELS_PATH")
    return Path(configured) if configured else Path.home() / ".cellpose" / "models"


def _pretrained_file_name(name: str) -> str:
    """The cache file name Cellpose 3 uses for a pretrained model name."""
    return f"{name}torch_0" if name in ("cyto", "cyto2", "nuclei") else name


def _pretrained_names() -> list[str]:
    from cellpose.models import MODEL_NAMES

    return list(dict.fromkeys(MODEL_NAMES))


def resolve_model(model: str | os.PathLike = "bundled", kind: str = "cells") -> ModelRef:
    """Resolve a model name or path to an existing weights file, never downloading.

    Parameters
    ----------
    model : str or path-like
        ``"bundled"``, a Cellpose pretrained name, or a weights file.
    kind : {"cells", "nuclei"}
        Which bundled model ``"bundled"`` means.

    Returns
    -------
    ModelRef

    Raises
    ------
    ModelNotFoundError
        A path that does not exist, a pretrained name that is not in the local cache, or a
        name that is neither.
    """
    requested = os.fspath(model)
    if requested == "bundled":
        if kind not in BUNDLED_MODELS:
            raise ValueError(f"kind must be one of {sorted(BUNDLED_MODELS)}, got {kind!r}")
        path = BUNDLED_MODELS[kind]
        if not path.is_file():
            raise ModelNotFoundError(
                f"the bundled {kind} model {path} is missing from this installation; "
                "reinstall spmito, or pass a model file or a cached Cellpose model name")
        return ModelRef(requested, path.stem, path, file_sha256(path))
    path = Path(requested).expanduser()
    if path.is_file():
        return ModelRef(requested, path.stem, path, file_sha256(path))
    if _looks_like_path(requested):
        raise ModelNotFoundError(
            f"model file {path} does not exist; pass an existing Cellpose weights file, "
            "'bundled', or a Cellpose model name (e.g. cyto3) cached in "
            f"{cellpose_cache_dir()}")
    return _resolve_pretrained(requested)


def _looks_like_path(text: str) -> bool:
    return os.sep in text or "/" in text or Path(text).suffix in (".pt", ".pth", ".npy")


def _resolve_pretrained(name: str) -> ModelRef:
    cache = cellpose_cache_dir()
    known = _pretrained_names()
    if name not in known:
        raise ModelNotFoundError(
            f"{name!r} is neither a model file nor a Cellpose model name; known names: "
            f"{', '.join(known)}; or 'bundled', or a path to a weights file")
    path = cache / _pretrained_file_name(name)
    if not path.is_file():
        raise ModelNotFoundError(
            f"Cellpose model {name!r} is not in the local model cache ({path} is missing) "
            "and spmito never downloads at run time. On a machine with network access run "
            "`python -c \"from cellpose import models; "
            f"models.CellposeModel(model_type='{name}')\"` "
            f"and copy {_pretrained_file_name(name)} into {cache}, or set "
            "CELLPOSE_LOCAL_MODELS_PATH to the folder that holds it")
    return ModelRef(name, name, path, file_sha256(path), pretrained=True)


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file (cached by path, size and modification time)."""
    stat = os.stat(path)
    return _sha256_cached(os.fspath(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_state_dict(ref: ModelRef) -> dict:
    """The weights of a Cellpose 3 (CPnet) model as a state dict of float32 CPU tensors.

    Raises
    ------
    ModelFormatError
        When the file is not a CPnet state dict (e.g. Cellpose-SAM or transformer weights).
    """
    import pickle

    import torch

    try:
        state = torch.load(ref.path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        raise ModelFormatError(
            f"{ref.path}: not a PyTorch weights file that loads without executing code "
            f"({error}); give Cellpose 3 weights saved as a state dict") from error
    if not isinstance(state, dict) or "output.2.weight" not in state:
        hint = ("these look like Cellpose-SAM (Cellpose 4) weights, which need the "
                "Cellpose-SAM backend (not available in this installation)"
                if isinstance(state, dict) and ("W2" in state or any(k.startswith("encoder")
                                                                      for k in state))
                else "expected a Cellpose 3 CPnet state dict")
        raise ModelFormatError(f"{ref.path}: {hint}")
    return {key: value.float() if value.is_floating_point() else value
            for key, value in state.items()}


def network_layout(state: dict) -> tuple[int, ...]:
    """``nbase`` of a CPnet state dict: input channels, then the width of each level."""
    widths = [int(state["downsample.down.res_down_0.conv.conv_0.0.weight"].shape[0])]
    level = 0
    while f"downsample.down.res_down_{level}.conv.conv_0.2.weight" in state:
        widths.append(int(state[f"downsample.down.res_down_{level}.conv.conv_0.2.weight"]
                          .shape[0]))
        level += 1
    return tuple(widths)


def network_diameter_px(ref: ModelRef, state: dict) -> float:
    """Object diameter (pixels) the network was trained at.

    Cellpose's pretrained models store a placeholder, so their value comes from the name,
    as Cellpose does it.
    """
    if ref.pretrained:
        return _PRETRAINED_DIAMETER_PX.get(ref.name, _DEFAULT_PRETRAINED_DIAMETER_PX)
    return float(state["diam_mean"].reshape(-1)[0])


def inference_settings(ref: ModelRef) -> dict:
    """How the model's recipe says to run it, when it says so.

    The ``inference`` record of the JSON recipe beside the weights (``model.pt`` ->
    ``model.json``): ``diameter_px``, the object diameter at the network's input, and
    ``cellprob_threshold``, both chosen on training images after training. Empty for
    Cellpose's pretrained models and for weights without such a record.

    Raises
    ------
    ModelFormatError
        When the recipe beside the weights is not valid JSON.
    """
    recipe = ref.path.with_suffix(".json")
    if ref.pretrained or not recipe.is_file():
        return {}
    try:
        return dict(json.loads(recipe.read_text()).get("inference", {}))
    except (json.JSONDecodeError, AttributeError) as error:
        raise ModelFormatError(
            f"{recipe}: the recipe beside the weights {ref.path.name} is not a JSON object "
            f"({error}); repair it or delete it (the model then runs with default settings)"
        ) from error
