"""Short adapters from manifest entries (params, model-card names) onto the analyses, for the figures
that are not about natural video (those are in :mod:`interp.figures.video`). Each returns a tidy table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from interp._util.checks import check_int
from interp._util.errors import InterpError
from interp.analysis.onedim import sampling_table, score_table
from interp.analysis.psychometrics import DEFAULT_DIFFERENCES, Probe, probe_grid, probe_trial, psychometric_sweep
from interp.analysis.sampler import grid_table, recursive_rollouts
from interp.data.leaves import LeavesConfig, generate
from interp.figures.manifest import first_model, model_files
from interp.figures.models import load_model
from interp.training.cards import read_card

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd


#: Whether long analyses show a progress bar (on stderr); ``python -m interp.figures`` sets it
#: while it renders on a terminal.
PROGRESS_BARS = False


def leaves_examples(
    n_sequences: int = 4, seed: int = 0, frames: int = 11, variant: str = "default", start: int = 0
) -> "pd.DataFrame":
    """Example moving-leaves sequences as a long table of pixels (paper Fig. 2).

    Sequences ``start .. start + n_sequences - 1`` of the dataset of ``seed``
    (:func:`interp.leaves.generate`).

    Returns
    -------
    pandas.DataFrame
        One row per pixel: ``sequence`` (the sequence's index in the seed's dataset),
        ``frame`` (frame number t, from 1), ``row``, ``col`` (pixel indices from 0),
        ``value`` (intensity in [0, 1]); and per sequence, repeated on its rows:
        ``meeting_frame`` (the frame t where the two disks overlap most by construction) and
        ``radius_front``, ``radius_back`` (radii in pixels, at that frame, of the disk in front
        and the one behind).
    """
    import numpy as np
    import pandas as pd

    ds = generate(n_sequences, seed, start=start, config=LeavesConfig(variant=variant, frames=frames))
    n, t, h, w = ds.frames.shape
    meet = ds.meta["meeting_frame"].astype(np.int64)
    rows = np.arange(n)
    layer = ds.meta["layer"][rows, :2, meet]  # the two meeting disks, at the meeting frame
    radius = ds.meta["radius"][rows, :2, meet]
    front = np.argmax(layer, axis=1)
    per_seq = {
        "meeting_frame": meet + 1,
        "radius_front": radius[rows, front],
        "radius_back": radius[rows, 1 - front],
    }
    s, f, r, c = np.meshgrid(np.arange(n), np.arange(t), np.arange(h), np.arange(w), indexing="ij")
    table = pd.DataFrame({
        "sequence": ds.meta["index"][s.ravel()],
        "frame": f.ravel() + 1,
        "row": r.ravel(),
        "col": c.ravel(),
        "value": ds.frames.ravel(),
    })
    for k, v in per_seq.items():
        table[k] = np.asarray(v)[s.ravel()]
    return table


def onedim_score(sigmas=(0.05, 0.15, 0.3, 0.6, 1.2), y_min: float = -2.5, y_max: float = 2.5,
                 n_points: int = 1001) -> "pd.DataFrame":
    """Densities and scaled scores of the 1-D bimodal example across noise levels (Fig. 9).

    See :func:`interp.onedim.score_table` for the columns.
    """
    return score_table(sigmas, y_min, y_max, n_points)


def onedim_sampling(y0: float = -2.0, step: float = 0.5, n_steps: int = 10, y_min: float = -2.5,
                    y_max: float = 2.5, n_points: int = 1001, sigma_min: float = 1e-3,
                    sigma_max: float = 1e2) -> "pd.DataFrame":
    """Blind-denoiser residual, fixed points and sampling map of the 1-D example (Fig. 10).

    See :func:`interp.onedim.sampling_table` for the columns; the MAP noise level is searched
    in [``sigma_min``, ``sigma_max``].
    """
    return sampling_table(y0, step, n_steps, y_min, y_max, n_points, (sigma_min, sigma_max))


#: Columns of the Fig. 1 diagram table (see :func:`framework_diagram`).
DIAGRAM_COLUMNS = ("kind", "panel", "name", "label", "x", "y", "x2", "y2", "width", "height", "style", "rad",
                   "label_pos")


def framework_diagram() -> "pd.DataFrame":
    """The two ways of modelling the next frame, as a diagram to draw (paper Fig. 1).

    Nothing is computed: the table lists the elements of the diagram, so that the figure is
    drawn from its CSV like every other one (:func:`interp.plotting.plot_framework_diagram`).
    Left, the traditional framework: an explicit density with parameters learned end to end by
    repeated inference (past frames to a latent representation) and sampling (latent to next
    frame). Right, the score-based framework: a denoiser trained by regression from past frames
    and a noisy next frame to the clean one; its residual approximates the score, so it holds
    the density implicitly (the funnel), and sampling by iterative partial denoising turns
    noise into a next frame.

    Returns
    -------
    pandas.DataFrame
        One row per element, in panel coordinates (0..10 across, 0..7 up): ``kind``
        (``panel``: the panel's title and extent; ``stack``: a stack of frames centred at
        ``x``, ``y``; ``box``; ``funnel``: wide end at the left; ``arrow``: from ``x``, ``y`` to
        ``x2``, ``y2``, bent by ``rad``; ``text``), ``panel`` (``left`` or ``right``), ``name``,
        ``label`` (matplotlib text, may hold mathtext and line breaks), ``width``, ``height``,
        ``style`` (what the element is: ``data``, ``noise``, ``estimate``, ``sample``,
        ``latent``, ``model``, ``objective``, ``flow``, ``score``; the plot colours by it) and
        ``label_pos`` (where a label goes: ``inside``, ``below``, ``above``, ``left``, ``right``).
    """
    import numpy as np
    import pandas as pd

    nan = np.nan
    rows = []

    def add(kind, panel, name, label, x, y, x2=nan, y2=nan, width=nan, height=nan, style="", rad=0.0,
            label_pos="inside"):
        rows.append(dict(kind=kind, panel=panel, name=name, label=label, x=x, y=y, x2=x2, y2=y2, width=width,
                         height=height, style=style, rad=rad, label_pos=label_pos))

    # left: explicit density, learned end to end
    add("panel", "left", "explicit", "Traditional framework: explicit density", 0.0, 0.0, width=10.0, height=7.0)
    add("stack", "left", "past", "past frames", 1.3, 4.4, width=1.3, height=1.3, style="data", label_pos="below")
    add("box", "left", "latent", "latent\nrepresentation $z$", 5.0, 4.4, width=2.1, height=1.2, style="latent")
    add("stack", "left", "generated", "generated\nnext frame", 8.7, 4.4, width=1.3, height=1.3, style="sample",
        label_pos="below")
    add("arrow", "left", "inference", "inference", 2.2, 4.4, 3.85, 4.4, style="flow", label_pos="above")
    add("arrow", "left", "sampling", "sampling", 6.15, 4.4, 7.8, 4.4, style="flow", label_pos="above")
    add("box", "left", "model", "explicit model $p_\\theta(x_{t+1} \\mid x_t, \\ldots, x_{t-\\tau+1})$",
        5.0, 1.3, width=5.6, height=0.9, style="model")
    add("arrow", "left", "parameters", "$\\theta$", 5.0, 1.8, 5.0, 3.75, style="score", label_pos="right")
    add("arrow", "left", "learning", "learn $\\theta$: repeat\ninference and sampling", 8.7, 3.2, 7.85, 1.8,
        style="objective", rad=-0.35, label_pos="left")
    add("arrow", "left", "end_to_end", "objective applied end to end", 1.3, 6.15, 8.7, 6.15, style="objective",
        label_pos="above")

    # right: a denoiser trained by regression holds the density implicitly
    add("panel", "right", "implicit", "Score-based framework: implicit density", 0.0, 0.0, width=10.0, height=7.0)
    add("stack", "right", "past", "past frames $c$", 1.3, 5.35, width=1.1, height=1.1, style="data",
        label_pos="below")
    add("stack", "right", "noisy", "noisy next frame\n$y = x + \\sigma z$", 1.3, 3.15, width=1.1, height=1.1,
        style="noise", label_pos="below")
    add("box", "right", "denoiser", "denoiser\n$\\hat{x}(y, c)$", 5.0, 4.3, width=2.1, height=1.2, style="model")
    add("stack", "right", "estimate", "estimate of the\nclean next frame", 8.7, 4.3, width=1.1, height=1.1,
        style="estimate", label_pos="below")
    add("arrow", "right", "past_in", "", 2.0, 5.2, 3.9, 4.55, style="flow")
    add("arrow", "right", "noisy_in", "", 2.0, 3.3, 3.9, 4.05, style="flow")
    add("arrow", "right", "regression", "regression", 6.1, 4.3, 8.0, 4.3, style="flow", label_pos="above")
    add("funnel", "right", "implicit_model", "implicit model", 5.0, 1.15, width=3.0, height=1.3, style="model")
    add("stack", "right", "noise", "noise $y_0$", 1.3, 1.15, width=1.0, height=1.0, style="noise",
        label_pos="below")
    add("stack", "right", "sample", "predicted\nnext frame", 8.7, 1.15, width=1.0, height=1.0, style="sample",
        label_pos="below")
    add("arrow", "right", "noise_in", "", 1.95, 1.15, 3.45, 1.15, style="flow")
    add("text", "right", "sampling", "sampling: iterative partial denoising", 5.0, 0.28, style="flow")
    add("arrow", "right", "out", "", 6.55, 1.15, 8.05, 1.15, style="flow")
    add("arrow", "right", "score", "approximates\nthe score", 5.0, 3.65, 5.0, 1.9, style="score",
        label_pos="right")
    return pd.DataFrame(rows, columns=list(DIAGRAM_COLUMNS))


def _leaves_denoiser(name: str, what: str):
    """``(card, card_path, net)`` for a model-card name that must be a conditional moving-leaves
    denoiser (tau >= 1, not prediction-only); one-line errors otherwise."""
    card_path, ckpt_path = model_files(name)
    card = read_card(card_path)
    if card.data.get("source") != "leaves":
        raise InterpError(f"{card_path}: {what} needs a moving-leaves model "
                          f"([data] source = \"leaves\"), got {card.data.get('source')!r}")
    net = load_model(name)
    if net.predict_only:
        raise InterpError(f"{ckpt_path} is a prediction-only network; {what} needs a denoiser")
    if int(net.tau) != card.model["tau"]:
        raise InterpError(f"{ckpt_path} has tau={net.tau}, its card {card_path} says tau={card.model['tau']}")
    if net.tau < 1:
        raise InterpError(f"{ckpt_path} is unconditional (tau=0); {what} needs tau >= 1")
    return card, card_path, net


def recursive_generation(models, n_examples: int = 2, k: int = 9, seed: int = 0,
                         dataset_start: int = 0, truth: bool = True, max_iter: int = 1000) -> "pd.DataFrame":
    """Sequences generated recursively by one-step estimation and by sampling (Fig. 5, section 3.1).

    The first model of ``models`` (a model-card name, see :func:`model_files`) is loaded, and
    ``n_examples`` test-split sequences of that model's own moving-leaves data set (the card's
    ``[data]`` ``n``, ``seed`` and ``variant``) are chosen by a fixed rule: in index order from
    ``dataset_start``, the first test sequences whose meeting frame (1-based, the frame where
    the two disks overlap most) is in ``tau + 2 .. tau + k``, so that the occlusion falls in the
    generated part and at least one generated frame precedes it. From the first ``tau`` real
    frames of each, ``k`` frames are generated by :func:`interp.sampler.generate_recursive`,
    each conditioned on the previous ``tau`` frames (real or generated):

    * example A: recursive one-step estimates (``mode="onestep"``) and recursive samples;
    * examples B, C, ...: recursive samples.

    Parameters
    ----------
    models : list of str
        Model-card names; the first is used (it must be a denoiser on a ``leaves`` data set).
    n_examples : int
        Sequences shown (A, B, ...).
    k : int
        Frames generated after the ``tau`` real ones.
    seed : int
        Sampler seed (one generator for all the recursive steps of a call).
    dataset_start : int
        Index in the data set where the search for test sequences starts.
    truth : bool
        Also show each example's real frames (as far as the sequence goes) in a row below it.
    max_iter : int
        The sampler's iteration limit per frame (:func:`interp.sampler.sample`); a chain that
        does not converge leaves NaN frames (drawn light blue) and says so in ``status``.

    Returns
    -------
    pandas.DataFrame
        One row per pixel, in the layout of :func:`interp.plotting.plot_frame_grid`:
        ``track`` (grid row), ``track_label`` (e.g. ``A: one-step``), ``slot`` (grid column,
        from 0), ``label`` (``t = frame``), ``role`` (``conditioning`` for the real frames the
        recursion starts from, ``onestep`` or ``sample`` for generated frames, ``truth`` for the
        real-frame rows), ``row``, ``col``, ``value``; and ``example`` (A, B, ...),
        ``sequence`` (index in the data set), ``method`` (``onestep``, ``sample`` or
        ``truth``), ``frame`` (frame number t from 1), ``generated`` (bool), ``step`` (0 for
        real frames, j for the j-th generated frame), ``status`` (sampler status of a sampled
        frame: ``converged``, ``max_iter``, ``diverged`` or ``skipped``; empty otherwise; a
        failed frame is NaN), ``meeting_frame`` (1-based), ``tau`` and ``model``.
    """
    import numpy as np
    import pandas as pd
    import torch

    name = first_model(models, "recursive_generation")
    n_examples = check_int("n_examples", n_examples, 1)
    k = check_int("k", k, 1)
    seed = check_int("seed", seed, 0)
    dataset_start = check_int("dataset_start", dataset_start, 0)
    max_iter = check_int("max_iter", max_iter, 1)
    card, card_path, net = _leaves_denoiser(name, "recursive generation")
    tau = int(net.tau)

    # the first test sequences from dataset_start whose meeting frame is in tau+2 .. tau+k
    n_data, data_seed = int(card.data.get("n", 100_000)), int(card.data.get("seed", 0))
    variant = card.data.get("variant", "default")
    chosen: list[tuple[int, np.ndarray, int]] = []  # (index, frames [T, H, W], meeting frame)
    lo, chunk = dataset_start, 200
    while len(chosen) < n_examples and lo < n_data:
        ds = generate(min(chunk, n_data - lo), data_seed, variant, start=lo)
        meet = ds.meta["meeting_frame"].astype(np.int64) + 1
        ok = ds.meta["test"] & (meet >= tau + 2) & (meet <= tau + k)
        for i in np.flatnonzero(ok)[: n_examples - len(chosen)]:
            chosen.append((int(ds.meta["index"][i]), ds.frames[i], int(meet[i])))
        lo += chunk
    if len(chosen) < n_examples:
        raise InterpError(
            f"only {len(chosen)} of the test sequences {dataset_start} .. {n_data - 1} of {card_path}'s "
            f"data set have their meeting frame in {tau + 2} .. {tau + k} (need n_examples={n_examples})")

    starts = torch.from_numpy(np.stack([f[:tau] for _, f, _ in chosen]))  # [E, tau, H, W]
    rollouts = recursive_rollouts(net, starts, k, seed, max_iter=max_iter)
    sampled, status = rollouts.sampled.numpy(), rollouts.status  # [E, tau + k, H, W], [E, k]
    onestep = rollouts.onestep[0].numpy()

    letters = [chr(ord("A") + e) if e < 26 else f"#{e + 1}" for e in range(n_examples)]
    h, w = sampled.shape[-2:]
    rr, cc = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    parts = []

    tracks: list[str] = []

    def add(track: str, e: int, method: str, frames: np.ndarray, stat: np.ndarray | None):
        index, _, meet = chosen[e]
        tracks.append(track)
        for t in range(len(frames)):
            generated = method != "truth" and t >= tau
            role = "truth" if method == "truth" else (method if generated else "conditioning")
            parts.append(pd.DataFrame({
                "track": len(tracks) - 1, "track_label": track, "slot": t, "label": f"t = {t + 1}", "role": role,
                "row": rr.ravel(), "col": cc.ravel(), "value": frames[t].ravel().astype(float),
                "example": letters[e], "sequence": index, "method": method, "frame": t + 1,
                "generated": generated, "step": t - tau + 1 if generated else 0,
                "status": stat[t - tau] if generated and stat is not None else "",
                "meeting_frame": meet, "tau": tau, "model": name,
            }))

    for e in range(n_examples):
        real = chosen[e][1][: tau + k]
        if e == 0:
            add(f"{letters[e]}: one-step", e, "onestep", onestep, None)
        add(f"{letters[e]}: sampled", e, "sample", sampled[e], status[e])
        if truth:
            add(f"{letters[e]}: true", e, "truth", real, None)
    return pd.concat(parts, ignore_index=True)


def _probe(net, dr: float, mean_radius: float, probe: dict | None):
    extra = dict(probe or {})
    if "center" in extra:
        extra["center"] = tuple(extra["center"])
    try:
        return Probe(radius_left=mean_radius - dr / 2, radius_right=mean_radius + dr / 2, tau=int(net.tau), **extra)
    except (TypeError, ValueError) as err:
        raise InterpError(f"bad probe parameters: {err}") from None


def occlusion_example(models, dr: float = 0.0, mean_radius: float = 6.0, probe: dict | None = None,
                      n_samples: int = 6, n_states: int = 4, seed: int = 0, max_iter: int = 1000) -> "pd.DataFrame":
    """One occlusion probe: its inputs, the one-step estimate, a sampling trajectory and samples
    (Fig. 3 for equal radii, Fig. 11 for an unambiguous pair).

    The probe (:class:`interp.psychometrics.Probe`) has radii ``mean_radius -+ dr / 2``
    (left, right) and any other parameters given in ``probe`` (luminances, speeds, direction,
    centre). ``n_samples`` next frames are drawn by :func:`interp.sampler.sample` with
    ``seed``; each is classified (:func:`interp.psychometrics.classify`).

    Grid rows (the layout of :func:`interp.plotting.plot_frame_grid`):

    0. ``inputs``: the conditioning frames and the pure-noise observation y_0 (red), the
       one-step estimate x_hat(y_0, c) (green), and the two possible next frames (left disk
       in front, right disk in front; thin black);
    1. ``sampling``: the states y_k of the first chain at ``n_states`` evenly spaced
       iterations, then its sample (blue);
    2. ``samples``: the ``n_samples`` samples, each titled with the disk the classifier sees
       in front (or why it is invalid).

    Extra columns: ``panel`` (``conditioning``, ``noise``, ``onestep``, ``option``,
    ``state``, ``sample``), ``iteration`` (k for states, -1 otherwise), ``choice`` (for
    samples), ``dr``, ``model``, ``seed``.
    """
    import numpy as np

    name = first_model(models, "occlusion_example")
    n_samples = check_int("n_samples", n_samples, 1)
    n_states = check_int("n_states", n_states, 0)
    seed = check_int("seed", seed, 0)
    _, _, net = _leaves_denoiser(name, "the occlusion probe")
    p = _probe(net, float(dr), float(mean_radius), probe)
    trial = probe_trial(net, p, n_samples, seed, n_states=n_states, max_iter=max_iter)
    xs, ch, K = trial.samples, trial.choices, trial.iterations

    def said(i: int) -> str:
        return f"{ch['choice'][i]} in front" if ch["valid"][i] else f"none ({ch['reason'][i]})"

    inputs = [(f"t = {t + 1}", "conditioning", trial.conditioning[t], "conditioning", -1, "") for t in range(p.tau)]
    inputs += [("noise y0", "conditioning", trial.noise, "noise", 0, ""),
               ("one-step", "onestep", trial.onestep, "onestep", 0, ""),
               ("if left in front", "option", p.frames("left")[-1], "option", -1, "left"),
               ("if right in front", "option", p.frames("right")[-1], "option", -1, "right")]
    states = [(f"k = {k}", "state", img, "state", int(k), "") for k, img in zip(trial.state_iterations, trial.states)]
    states.append((f"sample (k = {K})", "sample", xs[0], "sample", K, ch["choice"][0]))
    samples = [(f"{i + 1}: {said(i)}", "sample", xs[i], "sample", -1, ch["choice"][i]) for i in range(n_samples)]
    rows = [("inputs", inputs), ("sampling", states), ("samples", samples)]
    table = grid_table([(track, [(lab, role, img) for lab, role, img, *_ in panels]) for track, panels in rows])
    extra = [(panel, it, choice) for _, panels in rows for *_, panel, it, choice in panels]
    per_panel = np.repeat(np.arange(len(extra)), p.size * p.size)
    table["panel"] = np.array([e[0] for e in extra], dtype=object)[per_panel]
    table["iteration"] = np.array([e[1] for e in extra])[per_panel]
    table["choice"] = np.array([e[2] for e in extra], dtype=object)[per_panel]
    table["dr"], table["model"], table["seed"] = p.dr, name, seed
    return table


def occlusion_sweep(models, differences=None, mean_radius: float = 6.0, configs: int = 1, n: int = 64,
                    seed: int = 0, truth: str = "deterministic", n_boot: int = 1000, highlight=(),
                    max_iter: int = 1000) -> "pd.DataFrame":
    """Choice frequencies against radius difference, with a logistic fit (Fig. 4; with the
    ``stochastic`` rule, the calibration figure).

    Runs :func:`interp.psychometrics.run_sweep` on :func:`~interp.psychometrics.probe_grid`
    (``differences``, ``mean_radius``, ``configs`` scenes, ``seed``) with ``n`` samples per
    probe, and summarises it.

    Returns
    -------
    pandas.DataFrame
        Rows of five kinds (column ``kind``):

        * ``sample``: one per sample (probe parameters, ``seed``, ``choice``,
          ``right_front``, ``valid``, ``reason``, ``weight_right``, sampler ``status``);
        * ``onestep``: one per probe: ``weight_right`` and ``blend`` of the one-step estimate;
        * ``condition``: one per ``dr``: ``n``, ``n_valid``, ``freq_right`` with its Wilson
          interval ``ci_low`` / ``ci_high``, ``invalid_rate``, ``p_true`` (the rule's
          probability, if ``truth``), ``highlight`` (bool);
        * ``curve``: the fitted logistic ``p_fit`` (and ``p_true``) on a fine grid of ``dr``;
        * ``fit``: one row: ``slope``, ``slope_low``, ``slope_high``, ``pse``, ``pse_low``,
          ``pse_high``, ``invalid_rate`` (with the shares ``invalid_apart`` and
          ``invalid_mixed``), ``ideal_invalid_rate`` (a perfect sampler of the training data
          on the same probes, :func:`interp.psychometrics.ideal_sweep`: the floor),
          ``equal_right`` and ``larger_front`` (issue 5's frequencies among valid samples,
          :func:`interp.psychometrics.decision_targets`, with their counts ``*_n``),
          ``onestep_blend``, and with a ``truth`` rule ``calibration_error`` with
          ``calibration_low`` / ``calibration_high``.
    """

    name = first_model(models, "occlusion_sweep")
    n = check_int("n", n, 1)
    seed = check_int("seed", seed, 0)
    configs = check_int("configs", configs, 1)
    if truth not in ("deterministic", "stochastic", "none"):
        raise InterpError(f"truth must be 'deterministic', 'stochastic' or 'none', got {truth!r}")
    differences = list(DEFAULT_DIFFERENCES if differences is None else differences)
    _, _, net = _leaves_denoiser(name, "the occlusion sweep")
    try:
        probes = probe_grid(differences, mean_radius=mean_radius, configs=configs, seed=seed, tau=int(net.tau))
    except ValueError as err:
        raise InterpError(f"bad probe parameters: {err}") from None
    scenes = [i // len(differences) for i in range(len(probes))]
    res = psychometric_sweep(net, probes, n, seed, truth=truth, n_boot=n_boot, scenes=scenes, max_iter=max_iter,
                             progress=PROGRESS_BARS, dr_range=(min(differences), max(differences)))
    table = res.table(highlight)
    table["model"] = name
    return table
