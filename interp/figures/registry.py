"""The figure registry: what the manifest's names mean.

:data:`ANALYSES` maps an ``analysis`` name of the manifest onto the adapter (in
:mod:`interp.figures.adapters` or :mod:`interp.figures.video`) that loads the models of its card
names and its data, calls the public analysis functions of :mod:`interp.analysis` (listed in that
package's docstring) and returns the figure's tidy table;
:data:`PLOTS` maps a figure id onto the name of its plotting function in :mod:`interp.plotting`
(a manifest entry's ``plot`` wins over it). Both are plain dicts written here, not filled by
import side effects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from interp.figures import adapters, video

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

__all__ = ["ANALYSES", "PLOTS"]

#: Analysis name (the manifest's ``analysis``) -> function(**params) returning a tidy table.
ANALYSES: dict[str, Callable[..., "pd.DataFrame"]] = {
    "leaves_examples": adapters.leaves_examples,
    "onedim_score": adapters.onedim_score,
    "onedim_sampling": adapters.onedim_sampling,
    "framework_diagram": adapters.framework_diagram,
    "recursive_generation": adapters.recursive_generation,
    "occlusion_example": adapters.occlusion_example,
    "occlusion_sweep": adapters.occlusion_sweep,
    "denoising_curves": video.denoising_curves,
    "adaptive_filter_example": video.adaptive_filter_example,
    "evidence_weighting": video.evidence_weighting,
    "natural_samples": video.natural_samples,
    "entropy_and_uncertainty": __import__("interp.figures.entropy_figure", fromlist=["_"]).entropy_and_uncertainty,
}

#: Figure id -> name of its plotting function in :mod:`interp.plotting`.
PLOTS: dict[str, str] = {
    "fig01": "plot_framework_diagram",
    "fig02": "plot_sequences",
    "fig03": "plot_frame_grid",
    "fig04": "plot_psychometric",
    "calibration": "plot_psychometric",
    "fig05": "plot_frame_grid",  # conditioning red, one-step green, samples blue
    "fig06": "plot_denoising_curves",
    "fig07": "plot_adaptive_filters",
    "fig08": "plot_evidence_weighting",
    "fig09": "plot_onedim_score",
    "fig10": "plot_onedim_sampling",
    "fig11": "plot_frame_grid",
    "fig12": "plot_frame_grid",
}
