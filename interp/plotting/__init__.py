"""Tidy tables -> matplotlib Figures; no computation. matplotlib is imported when a plot is drawn."""

from interp.plotting.entropy import plot_entropy
from interp.plotting.outputs import plot_occlusion_examples, plot_prediction, psychometric_table
from interp.plotting.plots import (
    plot_frame_grid,
    plot_framework_diagram,
    plot_onedim_sampling,
    plot_onedim_score,
    plot_psychometric,
    plot_sequences,
)
from interp.plotting.video import plot_adaptive_filters, plot_denoising_curves, plot_evidence_weighting

__all__ = ["plot_adaptive_filters", "plot_denoising_curves", "plot_entropy", "plot_evidence_weighting",
           "plot_frame_grid", "plot_framework_diagram", "plot_occlusion_examples", "plot_onedim_sampling",
           "plot_onedim_score", "plot_prediction", "plot_psychometric", "plot_sequences", "psychometric_table"]
