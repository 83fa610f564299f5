"""The SP gating widget's model (no Qt).

Pooled ``hoechst_x`` of test and control images, a manual threshold applied live to every
open image, and the gate file the batch applies.

``hoechst_x`` comes from the batch (``DIR/cells.csv``, read with the output folder). Images
segmented in napari have none until they are normalised on the controls with the batch's
G0/G1 peak (:func:`normalise_on_controls`, which needs :mod:`spmito.measure.analysis.population`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from spmito.imaging import corrections
from spmito.imaging.corrections import EditRecord
from spmito.measure.analysis.columns import CONTROL_ROLES
from spmito.measure.analysis.population import g1_mode_log2
from spmito.plugins.review import ReviewSession


@dataclass
class GatingModel:
    """Test and control images gated by one threshold on ``hoechst_x``.

    Attributes
    ----------
    test, control : list of ReviewSession
        The images whose cells are shown (and recoloured).
    threshold_x : float or None
        A cell is SP when its ``hoechst_x`` is below it.
    """

    test: list[ReviewSession]
    control: list[ReviewSession]
    threshold_x: float | None = None

    def hoechst_x(self, which: str) -> np.ndarray:
        """Finite ``hoechst_x`` of the kept cells of the ``"test"`` or ``"control"`` images."""
        sessions = self.test if which == "test" else self.control
        values = [_kept_hoechst_x(session) for session in sessions]
        return np.concatenate(values) if values else np.empty(0)

    def set_threshold(self, threshold_x: float) -> None:
        """Move the gate and recall the cells of every image."""
        self.threshold_x = float(threshold_x)
        self.apply()

    def apply(self) -> None:
        """Call the cells of every image with the current threshold (and recolour them)."""
        for session in self.sessions:
            session.set_gate(self.threshold_x)

    def sp_percent(self, which: str) -> float:
        """SP % of the kept cells of the test or control images at the threshold."""
        x = self.hoechst_x(which)
        if self.threshold_x is None or x.size == 0:
            return float("nan")
        return 100.0 * float(np.mean(x < self.threshold_x))

    @property
    def sessions(self) -> list[ReviewSession]:
        """Test and control images, each once."""
        return list(dict.fromkeys([*self.test, *self.control]))

    def save(self, out_dir: str | os.PathLike) -> Path:
        """Write ``DIR/manual_gate.json`` and log it in ``DIR/edits.jsonl``.

        The gate records the control images as its reference and, as ``alpha``, the
        fraction of control cells it calls SP.
        """
        if self.threshold_x is None:
            raise ValueError("set a threshold first (drag the line)")
        control_x = self.hoechst_x("control")
        alpha = float(np.mean(control_x < self.threshold_x)) if control_x.size else 0.0
        path = corrections.write_manual_gate(
            out_dir, self.threshold_x, alpha=alpha,
            reference_wells=[s.image_id for s in self.control],
            n_reference_cells=int(control_x.size))
        corrections.append_edits(out_dir, [EditRecord(
            "gate", "", (), {"threshold_x": self.threshold_x, "alpha": alpha,
                             "control_images": [s.image_id for s in self.control]})])
        return path


def default_roles(sessions: Sequence[ReviewSession]) -> tuple[list, list]:
    """Split images into test and control by their sample-sheet role."""
    control = [s for s in sessions if s.role in CONTROL_ROLES]
    return [s for s in sessions if s not in control], control


def normalise_on_controls(sessions: Sequence[ReviewSession],
                          control: Sequence[ReviewSession]) -> float:
    """Give every image ``hoechst_x`` = log2(I / m_ref), m_ref from the controls' G0/G1 peak.

    Uses :func:`spmito.measure.analysis.population.g1_mode_log2`, the batch's estimate, on the kept
    control cells.

    Returns
    -------
    float
        log2 ``m_ref``.
    """
    if not control:
        raise ValueError("choose one or more inhibitor-control images under 'Controls' "
                         "first: their G1 peak is the reference (for a single image, "
                         "choose it there too)")
    log2_ref = g1_mode_log2(np.concatenate([_log2_intensity(s)[1] for s in control]))
    for session in sessions:
        ids, log2_intensity = _log2_intensity(session, kept_only=False)
        session.set_hoechst_x(pd.Series(log2_intensity - log2_ref, index=ids))
    return log2_ref


def _log2_intensity(session: ReviewSession, kept_only: bool = True
                    ) -> tuple[np.ndarray, np.ndarray]:
    features = session.shown_features
    if kept_only:
        features = features[~features["excluded"].to_numpy(bool)]
    intensity = features["hoechst_integrated"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        log2_intensity = np.where(intensity > 0, np.log2(intensity), np.nan)
    return features["cell_id"].to_numpy(), log2_intensity


def _kept_hoechst_x(session: ReviewSession) -> np.ndarray:
    features = session.shown_features
    x = features.loc[~features["excluded"].to_numpy(bool), "hoechst_x"].to_numpy(float)
    return x[np.isfinite(x)]


def batch_gate(sessions: Sequence[ReviewSession]) -> dict | None:
    """The gate the batch applied to these images (``DIR/gating.json``), or ``None``.

    The gate is the one whose ``gate_id`` the images' cells carry in ``DIR/cells.csv``,
    else the one of their plate and cell line (its ``group``).
    """
    for out_dir in dict.fromkeys(s.out_dir for s in sessions if s.out_dir is not None):
        gates = _read_gates(out_dir / "gating.json")
        if not gates:
            continue
        cells = _gate_columns(out_dir / "cells.csv",
                              [s.image_id for s in sessions if s.out_dir == out_dir])
        gate_ids = set(cells["gate_id"].dropna()) if "gate_id" in cells else set()
        for gate in gates:
            if gate.get("gate_id") in gate_ids:
                return gate
        for gate in gates:
            group = gate.get("group") or {}
            if group and all(key in cells and set(cells[key].dropna().astype(str))
                             == {str(value)} for key, value in group.items()):
                return gate
    return None


def describe_gate(gate: dict) -> str:
    """One line about a batch gate, in plain words."""
    group = ", ".join(f"{key} {value}" for key, value in (gate.get("group") or {}).items())
    where = f" of {group}" if group else ""
    threshold = gate.get("threshold_x")
    if threshold is None:
        return (f"The batch's {gate.get('method')} gate{where} has no single threshold: the "
                "cells keep the batch's classes until you set one")
    return (f"Batch gate{where} ({gate.get('method')}): SP below {threshold:.2f}. Drag the "
            "line or type a value to change it")


def _read_gates(path: os.PathLike) -> list[dict]:
    """The gates of a ``gating.json`` (a list, or ``{"gates": [...]}``); [] when absent."""
    path = Path(path)
    if not path.is_file():
        return []
    document = json.loads(path.read_text(encoding="utf-8"))
    return document.get("gates", []) if isinstance(document, dict) else list(document)


def _gate_columns(path: Path, image_ids: Sequence[str]) -> pd.DataFrame:
    """``image_id, gate_id, plate, cell_line`` of the images' rows of ``DIR/cells.csv``."""
    if not path.is_file():
        return pd.DataFrame()
    wanted = {"image_id", "gate_id", "plate", "cell_line"}
    table = pd.read_csv(path, usecols=lambda c: c in wanted, dtype=str)
    return table[table["image_id"].isin(list(image_ids))]
