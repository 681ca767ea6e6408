"""Benchmarks of the toolkit's hot paths: ``python -m benchmarks`` (what ``make bench`` runs).

::

    python -m benchmarks [--smoke] [--only NAME ...] [--out DIR] [--threads N] [--device cpu|cuda]

Benchmarks (one module each in this package):

``leaves_rate``
    Moving-leaves generation rate (sequences/s) of :func:`interp.leaves.generate`, against a
    straightforward per-sequence numpy loop renderer, and the projected time for 10^5
    sequences (the issue's target: at most 30 s on the 2-core CPU).
``train_step``
    Training samples/s of the U-net (tau 2, width 32, batch 128, 32x32) for eager fp32 (the
    baseline), bf16 autocast, channels_last, both, and torch.compile of fp32 and of bf16 +
    channels_last (a failed compilation is a row with its error); the FLOPs per training sample
    counted from the network (forward + backward, torch.utils.flop_counter); and the share of
    the machine's arithmetic peak (a large matmul and a large convolution of the same
    precision, measured in the same rounds).
``train_data_overhead``
    A training step including data loading (random windows + noise) against a step on a
    fixed pre-drawn batch (the issue's target: at most 1.05).
``bf16_quality``
    Two identical nets trained on the same batches, fp32 eager and bf16 + channels_last,
    evaluated in fp32 at input PSNR 0, 20 and 40 dB (the issue's rule: bf16 may be the
    default if it stays within 0.2 dB at 40 dB).
``norm_choice``
    Two identical nets trained on the same batches, without normalization and with bias-free
    batch normalization (running statistics at inference), evaluated in eval mode across
    input noise levels: the measurement behind the models' ``norm = "none"``.
``recipe``
    Training recipes side by side at equal compute: one run per loss weighting of
    :class:`interp.loss.Weighting` (the current cap, the paper's, EDM's at two sigma_data), each
    scored with its trained and its averaged (EMA) weights on held-out clips of moving leaves and
    DAVIS32: output PSNR from -20 to 50 dB input, the identity margin at 30-50 dB, the gap to a
    prediction-only network at -10 dB, and the occlusion probes; differences and ratios against
    the current recipe. The measurement behind the `cpu` and `paper` recipes' defaults.
``augment``
    Augmentations that keep natural video's statistics (horizontal flip, time reversal, both)
    against none, each a training run at equal compute on a subset of the natural clip set's
    training videos sized so each clip is seen as often as in the long DAVIS32 runs; held-out
    output PSNR from -10 to 50 dB input, the identity margin, and the overfit (training subset
    minus held-out). The measurement behind the DAVIS32 cards' augmentation keys.
``weighting``
    The loss weightings at equal compute (the current EDM, the earlier cap, and the adaptive
    weighting of :class:`interp.training.loss.AdaptiveWeighting`): on the translating video of
    :mod:`interp.data.translating`, each arm's MSE over the exact conditional MMSE at noise
    variances 1e-4..1e2; on the natural clip set at full size, the held-out output PSNR from -10
    to 50 dB input, the identity margin and the gap to a prediction-only network. The
    measurement behind the `cpu` and `paper` recipes' weighting.
``sampler``
    Algorithm 2 (:func:`interp.sampler.sample`) with the shipped tau = 2 model: 64 chains on
    one moving-leaves test conditioning in one batched call, against the same 64 chains run one
    at a time (64 calls with n=1); network evaluations per sample, wall time per sample, and the
    sampler's own overhead share of the wall time (the denoiser wrapped in a timer; the issue's
    target: at most 5%). Smoke mode uses a tiny untrained net with a low iteration cap.
``jacobian``
    One adaptive filter against one forward pass; the wall time of ``python -m interp.jacobian
    --ckpt ... --pixel center`` (target: under 3 s); the eq. 5 split by jvp against a
    materialised Jacobian.
``make_figures``
    Wall time of ``python -m interp.figures`` (what ``make figures`` runs) with the shipped
    models, against the command's start-up (``--list``); uncached against cached when the
    command has ``--no-cache``. Smoke: fig09 only.
``entropy_cost``
    The conditional-entropy estimate (:func:`interp.analysis.entropy.conditional_entropy`):
    wall time and network evaluations per 1000 clips, at 57 and at 22 noise levels, against
    the same network evaluations alone.
``leaves_targets``
    The moving-leaves models (the shipped lineage's best and the from-scratch runs of
    ``models/in-progress`` at their current checkpoint) against the occlusion targets: invalid
    probe samples, larger disk in front, equal radii over 8 scenes, the persistence ratio of
    recursive generation, the stochastic model's calibration error.

``natural_set``
    A DAVIS32 model set (``davis32-tau0..3``, ``davis32-predict``; the shipped ``models/`` by
    default, ``INTERP_NATURAL_SET_MODELS=FOLDER`` scores another folder beside it) against the
    natural-video targets on the fixed held-out clips of the multi-source clip set: the Fig. 6
    curves, identity margins, slope, crossing and gaps; the Fig. 7 motion check; the Fig. 8
    crossings' order; the Fig. 12 samples' high-frequency power share against the true frames.
    Skipped when ``../shared`` is absent.

Rules every benchmark follows: OMP_WAIT_POLICY=PASSIVE and a fixed thread count (set before
torch is imported); warm-up calls before timing; the median of several repeats, with min/max
and quartiles; a baseline, where there is one, is run in the same process interleaved with the
candidates (A B A B ...), and the ratio is the median of the per-round ratios, so that both
sides of a ratio saw the same machine load. Each benchmark runs in its own process
(``benchmarks._worker``), so its peak memory is its own: each row reports the process's
resident high-water mark during its measured calls (and on a GPU, the CUDA allocator's peak).

Devices: ``--device cuda`` (the default where CUDA is present) runs the networks on the GPU,
with bf16 autocast, channels_last and torch.compile among the training variants, timed with
CUDA events; its results go to ``DIR/results-cuda.json`` and ``.md``, naming the GPU, beside
the CPU results ``DIR/results.json`` and ``.md`` (written atomically). A run of a subset
(``--only``) replaces those benchmarks' entries and keeps the others.

This package must not import torch at import time (``__main__`` sets the environment first).
"""

BENCHMARKS = ("leaves_rate", "train_step", "train_data_overhead", "bf16_quality", "norm_choice", "recipe", "augment",
              "weighting", "sampler", "jacobian", "make_figures", "leaves_targets", "natural_set", "entropy_cost")
