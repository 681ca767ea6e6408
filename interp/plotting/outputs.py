"""Figures the command-line tools write next to their numbers (``prediction.png`` of
``interp.sample``, ``examples.png`` of ``interp.psychometrics``); no computation beyond layout."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from interp._util.labels import conditioning_labels, frame_label

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.figure import Figure

__all__ = ["plot_prediction", "plot_occlusion_examples", "psychometric_table"]


def _clean(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def plot_prediction(conditioning: np.ndarray, samples: np.ndarray, *, truth: np.ndarray | None = None,
                    psnr: Sequence[float] | None = None, cond_labels: Sequence[str] | None = None,
                    truth_label: str = f"true {frame_label(1)}", title: str = "", columns: int = 8,
                    cell: float = 1.3) -> "Figure":
    """Conditioning frames, the true next frame when known, and the samples, each labelled.

    Parameters
    ----------
    conditioning : array [tau, H, W]
        Oldest first; labelled ``t-(tau-1)`` .. ``t`` unless ``cond_labels`` is given.
    samples : array [n, H, W]
        Sampled next frames; labelled ``sample k`` with ``, PSNR x dB`` when ``psnr`` is given.
    truth : array [H, W], optional
        The true next frame (its panel is outlined red).
    """
    from matplotlib.figure import Figure

    conditioning = np.asarray(conditioning)
    samples = np.asarray(samples)
    tau = len(conditioning)
    if cond_labels is None:
        cond_labels = conditioning_labels(tau)
    top = [(lbl, img, "0.2") for lbl, img in zip(cond_labels, conditioning)]
    if truth is not None:
        top.append((truth_label, np.asarray(truth), "#d62728"))
    bottom = []
    for k, img in enumerate(samples):
        lbl = f"sample {k + 1}"
        if psnr is not None and k < len(psnr) and np.isfinite(psnr[k]):
            lbl += f", PSNR {float(psnr[k]):.1f} dB"
        bottom.append((lbl, img, "#1f77b4"))
    cols = max(len(top), min(max(1, columns), max(1, len(bottom))))
    rows_b = -(-len(bottom) // cols) if bottom else 0
    rows = 1 + rows_b
    fig = Figure(figsize=(cell * cols + 0.2, (cell + 0.3) * rows + 0.45))
    axes = fig.subplots(rows, cols, squeeze=False,
                        gridspec_kw=dict(left=0.02, right=0.98, bottom=0.02, top=1 - 0.45 / ((cell + 0.3) * rows + 0.45),
                                         wspace=0.08, hspace=0.3))
    for ax in axes.flat:
        ax.set_axis_off()
    panels = [(0, j, p) for j, p in enumerate(top)]
    panels += [(1 + k // cols, k % cols, p) for k, p in enumerate(bottom)]
    for r, c, (lbl, img, color) in panels:
        ax = axes[r, c]
        ax.set_axis_on()
        ax.imshow(img, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(lbl, fontsize=6, pad=2, color=color)
        for s in ax.spines.values():
            s.set_color(color)
            s.set_linewidth(1.2)
        _clean(ax)
    if title:
        fig.suptitle(title, fontsize=7)
    return fig


def psychometric_table(summary: dict, onestep=None, *, points: int = 101):
    """The tidy table :func:`interp.plotting.plot_psychometric` draws, from
    :func:`interp.analysis.psychometrics.summarize`'s dictionary (and the sweep's one-step table)."""
    import pandas as pd

    rows = [{"kind": "condition", "dr": float(c["dr"]), "freq_right": float(c["freq_right"]),
             "ci_low": float(c["ci_low"]), "ci_high": float(c["ci_high"])} for c in summary["conditions"]]
    drs = [r["dr"] for r in rows] or [0.0]
    fit = summary["logistic"]
    slope, pse = float(fit["slope"]), float(fit["pse"])
    x = np.linspace(min(drs), max(drs), points) if max(drs) > min(drs) else np.array(drs[:1])
    with np.errstate(all="ignore"):
        p = 1.0 / (1.0 + np.exp(-slope * (x - pse)))
    rows += [{"kind": "curve", "dr": float(a), "p_fit": float(b)} for a, b in zip(x, p)]
    if onestep is not None and len(onestep):
        rows += [{"kind": "onestep", "dr": float(d), "weight_right": float(w)}
                 for d, w in zip(onestep["dr"], onestep["weight_right"])]
    f = {"kind": "fit", "slope": slope, "pse": pse, "slope_low": float(fit["slope_ci"][0]),
         "slope_high": float(fit["slope_ci"][1]), "pse_low": float(fit["pse_ci"][0]),
         "pse_high": float(fit["pse_ci"][1]), "invalid_rate": float(summary["invalid_rate"])}
    if "ideal" in summary:
        f["ideal_invalid_rate"] = float(summary["ideal"]["invalid_rate"])
    if "calibration" in summary:
        cal = summary["calibration"]
        f.update(calibration_error=float(cal["error"]), calibration_low=float(cal["error_ci"][0]),
                 calibration_high=float(cal["error_ci"][1]))
    rows.append(f)
    table = pd.DataFrame(rows)
    for col in ("freq_right", "ci_low", "ci_high", "p_fit", "weight_right"):
        if col not in table.columns:
            table[col] = np.nan
    return table


def _verdict(row) -> tuple[str, str]:
    if not bool(row["valid"]):
        return f"invalid ({row['reason']})", "0.45"
    return ("right in front", "#1f77b4") if bool(row["right_front"]) else ("left in front", "#d62728")


def plot_occlusion_examples(conditioning: np.ndarray, frames: np.ndarray, samples, *, per_condition: int = 4,
                            cell: float = 1.15) -> "Figure":
    """A row per probe: its last conditioning frame, then a few samples titled with their class.

    Parameters
    ----------
    conditioning : array [P, tau, H, W]
        Each probe's conditioning frames.
    frames : array [P, n, H, W]
        The sweep's kept samples (:func:`interp.analysis.psychometrics.run_sweep` with ``keep_frames``).
    samples : pandas.DataFrame
        The sweep's sample table (``probe``, ``sample``, ``dr``, ``valid``, ``right_front``, ``reason``).
    """
    from matplotlib.figure import Figure

    P, n = frames.shape[:2]
    k = max(1, min(per_condition, n))
    tau = conditioning.shape[1]
    cols = tau + k
    fig = Figure(figsize=(cell * cols + 0.6, (cell + 0.25) * P + 0.3))
    axes = fig.subplots(P, cols, squeeze=False, gridspec_kw=dict(left=0.09, right=0.99, bottom=0.01,
                                                                 top=1 - 0.3 / ((cell + 0.25) * P + 0.3),
                                                                 wspace=0.06, hspace=0.35))
    by = samples.set_index(["probe", "sample"])
    for p in range(P):
        dr = float(samples.loc[samples["probe"] == p, "dr"].iloc[0]) if (samples["probe"] == p).any() else np.nan
        for j in range(tau):
            ax = axes[p, j]
            ax.imshow(conditioning[p, j], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(frame_label(j - tau + 1), fontsize=6, pad=2)
            _clean(ax)
        axes[p, 0].set_ylabel(f"dr {dr:+.1f} px", fontsize=7)
        for s in range(k):
            ax = axes[p, tau + s]
            ax.imshow(frames[p, s], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            label, color = _verdict(by.loc[(p, s)])
            ax.set_title(f"sample {s + 1}: {label}", fontsize=5, pad=2, color=color)
            for sp in ax.spines.values():
                sp.set_color(color)
                sp.set_linewidth(1.2)
            _clean(ax)
    fig.suptitle("occlusion probes: conditioning and sampled next frames, classified", fontsize=7)
    return fig
