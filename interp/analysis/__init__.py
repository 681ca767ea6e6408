"""Functions of (denoiser, tensors) -> tensors or tidy tables. They never train and never read
model-card names. Every analysis of a figure of the manifest is one of them (the figures layer
only loads models and data and lays the results out):

* ``denoising_curves``: :func:`denoising_curve`, :func:`curve_summary`, :func:`curve_stats`;
* ``adaptive_filter_example``: :func:`filter_example` (:func:`pick_moving` chooses the clip);
* ``evidence_weighting``: :func:`probe_sequences`, :func:`evidence_partition`, :func:`crossing_psnr`;
* ``natural_samples``: :func:`next_frame_samples` (:func:`pick_motion` chooses the clip);
* ``occlusion_example``: :func:`probe_trial`;
* ``occlusion_sweep``: :func:`psychometric_sweep` (:func:`summarize_sweep` for a sweep already run);
* ``recursive_generation``: :func:`recursive_rollouts`;
* ``onedim_score``, ``onedim_sampling``: :func:`score_table`, :func:`sampling_table`.

The modules:

* :mod:`~interp.analysis.sampler` -- Algorithm 2: :func:`sample`, :func:`one_step`, recursive generation;
* :mod:`~interp.analysis.jacobian` -- adaptive filters, the evidence split (eq. 5 and 7);
* :mod:`~interp.analysis.denoising` -- denoising curves, filter examples, probe sequences and
  next-frame samples on natural video (Figs. 6, 7, 8, 12);
* :mod:`~interp.analysis.psychometrics` -- occlusion probes, choices, logistic fits (Figs. 3, 4, 11);
* :mod:`~interp.analysis.persistence` -- disks kept through recursive generation;
* :mod:`~interp.analysis.entropy` -- conditional entropy from the denoising curve;
* :mod:`~interp.analysis.onedim` -- the 1-D two-point example.

Imported lazily: ``interp.analysis.sample`` imports only the sampler.
"""

from interp._util.lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "sample": "sampler", "one_step": "sampler", "generate_recursive": "sampler", "SampleInfo": "sampler",
    "recursive_rollouts": "sampler", "Rollouts": "sampler",
    "denoise": "denoising", "denoising_curve": "denoising", "curve_summary": "denoising", "curve_stats": "denoising",
    "estimate_shift": "denoising", "pick_moving": "denoising", "pick_motion": "denoising",
    "filter_example": "denoising", "FilterExample": "denoising", "probe_sequences": "denoising",
    "next_frame_samples": "denoising", "NextFrameSamples": "denoising", "clip_seed": "jacobian",
    "adaptive_filter": "jacobian", "adaptive_filters": "jacobian", "full_jacobian": "jacobian",
    "split_evidence": "jacobian", "evidence_partition": "jacobian", "crossing_psnr": "jacobian",
    "filter_centroids": "jacobian", "jacobian_spectrum": "jacobian",
    "Probe": "psychometrics", "probe_grid": "psychometrics", "run_sweep": "psychometrics",
    "choice_frequencies": "psychometrics", "fit_logistic": "psychometrics",
    "probe_trial": "psychometrics", "ProbeTrial": "psychometrics",
    "psychometric_sweep": "psychometrics", "PsychometricSweep": "psychometrics", "summarize_sweep": "psychometrics",
    "score_table": "onedim", "sampling_table": "onedim",
    "disk_persistence": "persistence", "conditional_entropy": "entropy", "uncertainty_map": "entropy",
})
