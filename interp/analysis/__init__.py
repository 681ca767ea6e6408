"""Functions of (denoiser, tensors) -> tensors or tidy tables. They never train and never read
model-card names.

* :mod:`~interp.analysis.sampler` -- Algorithm 2: :func:`sample`, :func:`one_step`, recursive generation;
* :mod:`~interp.analysis.jacobian` -- adaptive filters, the evidence split (eq. 5 and 7);
* :mod:`~interp.analysis.psychometrics` -- occlusion probes, choices, logistic fits;
* :mod:`~interp.analysis.persistence` -- disks kept through recursive generation;
* :mod:`~interp.analysis.entropy` -- conditional entropy from the denoising curve;
* :mod:`~interp.analysis.onedim` -- the 1-D two-point example.

Imported lazily: ``interp.analysis.sample`` imports only the sampler.
"""

from interp._util.lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "sample": "sampler", "one_step": "sampler", "generate_recursive": "sampler", "SampleInfo": "sampler",
    "adaptive_filter": "jacobian", "adaptive_filters": "jacobian", "full_jacobian": "jacobian",
    "split_evidence": "jacobian", "evidence_partition": "jacobian", "crossing_psnr": "jacobian",
    "filter_centroids": "jacobian", "jacobian_spectrum": "jacobian",
    "Probe": "psychometrics", "probe_grid": "psychometrics", "run_sweep": "psychometrics",
    "choice_frequencies": "psychometrics", "fit_logistic": "psychometrics",
    "disk_persistence": "persistence", "conditional_entropy": "entropy", "uncertainty_map": "entropy",
})
