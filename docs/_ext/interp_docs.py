"""Pages of the documentation that are generated from the code and the repository at build time.

Everything that names a module of ``interp`` lives in the first section of this file
(``API_FUNCTIONS``, ``API_MODULES``, ``CARD_MODULE``, ``CLI_TOOLS``): when modules move, edit
it here and nowhere else. ``conf.py`` calls :func:`generate`, which writes Markdown into
``docs/_generated/`` (git-ignored; a file is rewritten only when its text changes):

* ``api.md``            autodoc of the public functions and the modules below;
* ``card-keys.md``      every key a model card accepts, from the code's own key tables, with
                        the meanings of ``docs/card-keys.toml``;
* ``cli.md``            each tool's ``--help``, captured by running it;
* ``models.md``         one section per shipped card in ``models/*.toml``;
* ``gallery.md``        the figures of ``figures/manifest.toml``;
* ``benchmarks-table.md`` the table of ``benchmarks/results/results.md``;
* ``tutorials/*.ipynb`` copies of the notebooks in ``analyses/``.

``tests/test_docs.py`` imports this file too (``card_reference_problems``).
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

# --------------------------------------------------------------------------- module paths (the one place)

#: Public functions and classes, documented one by one at the top of the API page.
API_FUNCTIONS = [
    ("interp.load", "function"),
    ("interp.sample", "function"),
    ("interp.one_step", "function"),
    ("interp.adaptive_filter", "function"),
    ("interp.split_evidence", "function"),
    ("interp.Dataset", "class"),
    ("interp.UNet", "class"),
    ("interp.validate_denoiser", "function"),
]
#: Modules documented whole (their ``__all__``), in this order.
API_MODULES = [
    "interp.analysis.sampler",
    "interp.analysis.jacobian",
    "interp.analysis.psychometrics",
    "interp.data.dataset",
    "interp.data.leaves",
    "interp.training.loop",
    "interp.training.cards",
    "interp.training.loss",
    "interp.training.averaging",
    "interp.analysis.entropy",
    "interp.analysis.persistence",
]
#: Where the model card is read: its key tables (``_CARD_TABLES``, ``_MODEL_KEYS``,
#: ``_DATA_KEYS``, ``_TRAIN_KEYS``, ``_TRAIN_CHECKS``, ``RECIPES``) and ``read_card``.
CARD_MODULE = "interp.training.cards"
#: Where the input PSNRs logged during training (the card's ``[results]`` keys) are defined.
EVAL_MODULE = "interp.training.evaluation"
#: Command-line tools: (``python -m`` module, subcommands whose own ``--help`` is captured too).
CLI_TOOLS = [
    ("interp.data", ["leaves", "davis32", "video"]),
    ("interp.train", []),
    ("interp.sample", []),
    ("interp.jacobian", []),
    ("interp.psychometrics", []),
    ("interp.entropy", []),
    ("interp.figures", []),
    ("benchmarks", []),
]

# --------------------------------------------------------------------------- helpers

DOCS = Path(__file__).resolve().parents[1]
REPO = DOCS.parent
OUT = DOCS / "_generated"
CARD_KEYS_FILE = DOCS / "card-keys.toml"


def _write(path: Path, text: str) -> None:
    """Write ``text`` unless the file already holds it (so Sphinx does not rebuild the page)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _copy(src: Path, dst: Path) -> None:
    if not dst.is_file() or dst.read_bytes() != src.read_bytes():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)


def _cell(text) -> str:
    """A value for a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _code(value) -> str:
    """A TOML value as inline code."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = f'"{value}"'
    elif isinstance(value, int) and abs(value) >= 10_000:
        text = f"{value:_}"
    else:
        text = repr(value)
    return f"`{_cell(text)}`"


# --------------------------------------------------------------------------- API page


def api_page() -> str:
    lines = [
        "# API reference",
        "",
        "Generated from the docstrings by autodoc. The package imports its public names lazily",
        "(`import interp` is fast); the functions below are also reachable as `interp.<name>`.",
        "",
        "## The public functions",
        "",
    ]
    for name, kind in API_FUNCTIONS:
        lines += ["```{eval-rst}", f".. auto{kind}:: {name}", "```", ""]
    lines += ["## Modules", ""]
    for mod in API_MODULES:
        lines += [f"### `{mod}`", "", "```{eval-rst}", f".. automodule:: {mod}", "   :members:", "```", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- card reference


def card_tables() -> dict:
    """The keys the code accepts, read from its own tables: ``{table: {key: info}}``.

    ``info`` holds ``check`` (the code's own sentence for what the value must be, where it has
    one) and, for ``[train]``, ``recipes`` (each recipe's default) and, for ``[data]``, the
    ``sources`` the key belongs to.
    """
    m = importlib.import_module(CARD_MODULE)
    docs = described_keys()

    def ordered(table: str, keys) -> list[str]:
        """The keys in the order card-keys.toml describes them, any others after, sorted."""
        known = [k for k in docs.get(table, {}) if k in keys]
        return known + sorted(set(keys) - set(known))

    tables: dict[str, dict] = {t: {} for t in m._CARD_TABLES}
    for key in ordered("model", m._MODEL_KEYS):
        tables["model"][key] = {}
    data_keys = set().union(*m._DATA_KEYS.values())
    for key in ordered("data", data_keys):
        tables["data"][key] = {"sources": [s for s, keys in m._DATA_KEYS.items() if key in keys]}
    for key in ordered("train", m._TRAIN_KEYS | {"recipe"}):
        info = {"recipes": {r: d.get(key) for r, d in m.RECIPES.items()}}
        if key in m._TRAIN_CHECKS:
            info["check"] = m._TRAIN_CHECKS[key][1]
        tables["train"][key] = info
    return tables


def model_defaults() -> dict:
    """``[model]`` defaults as ``read_card`` fills them in for a card that gives only tau."""
    m = importlib.import_module(CARD_MODULE)
    with tempfile.TemporaryDirectory() as d:
        card = Path(d) / "minimal.toml"
        card.write_text('[model]\ntau = 2\n\n[data]\nsource = "leaves"\n', encoding="utf-8")
        parsed = m.read_card(card)
    return dict(parsed.model), dict(parsed.train)


def described_keys() -> dict:
    with open(CARD_KEYS_FILE, "rb") as f:
        return tomllib.load(f)


def card_reference_problems() -> list[str]:
    """Keys the code accepts that ``card-keys.toml`` does not describe, and the other way round."""
    code, docs = card_tables(), described_keys()
    problems = []
    for table, keys in code.items():
        described = docs.get(table, {})
        if table == "results":
            continue  # written by training, not read: described as a whole
        for key in keys:
            if key not in described or not str(described[key].get("meaning", "")).strip():
                problems.append(f"[{table}] {key} is accepted by {CARD_MODULE}.read_card but not described in "
                                f"docs/card-keys.toml")
        for key in described:
            if key not in keys:
                problems.append(f"[{table}] {key} is described in docs/card-keys.toml but {CARD_MODULE} no "
                                f"longer accepts it")
    for table in docs:
        if table not in code:
            problems.append(f"docs/card-keys.toml describes a table [{table}] that cards do not have")
    return problems


def card_reference_page() -> str:
    code, docs = card_tables(), described_keys()
    m = importlib.import_module(CARD_MODULE)
    model_def, train_def = model_defaults()
    recipes = list(m.RECIPES)
    out = [
        "<!-- generated by docs/_ext/interp_docs.py from the key tables of "
        f"{CARD_MODULE} and docs/card-keys.toml -->",
        "",
        f"A card has the tables {', '.join(f'`[{t}]`' for t in code)}; any other top-level key is refused, and so",
        "is any key below that is not listed here (one line naming the file, line and key, exit 2).",
        f"The key lists are read from `{CARD_MODULE}` when these pages are built, so a key the",
        "code starts to accept appears here (and the docs build fails until it is described).",
        "",
        "## `[model]`",
        "",
        "| key | type and range | default | meaning |",
        "|---|---|---|---|",
    ]
    for key in code["model"]:
        d = docs.get("model", {}).get(key, {})
        default = d.get("default") or (_code(model_def[key]) if key in model_def else "")
        out.append(f"| `{key}` | {_cell(d.get('type', ''))} | {default} | {_cell(d.get('meaning', '**undescribed**'))} |")
    out += ["", "## `[data]`", "",
            f"`source` chooses the data; the other keys depend on it "
            f"({'; '.join(f'`{s}`: ' + ', '.join(f'`{k}`' for k in sorted(ks)) for s, ks in m._DATA_KEYS.items())}).",
            "", "| key | sources | type and range | default | meaning |", "|---|---|---|---|---|"]
    for key, info in code["data"].items():
        d = docs.get("data", {}).get(key, {})
        out.append(f"| `{key}` | {', '.join(f'`{s}`' for s in info['sources'])} | {_cell(d.get('type', ''))} | "
                   f"{_cell(d.get('default', ''))} | {_cell(d.get('meaning', '**undescribed**'))} |")
    out += ["", "## `[train]`", "",
            "`recipe` picks a set of defaults (columns on the right); any key of the card overrides its",
            f"recipe's value. A card without `recipe` gets `{train_def['recipe']}`. An empty cell: the key is",
            "unset unless the card gives it. The type column is the code's own wording where it checks the",
            "value in its table of checks.",
            "", "| key | type and range | " + " | ".join(f"`{r}`" for r in recipes) + " | meaning |",
            "|---|---|" + "---|" * len(recipes) + "---|"]
    for key, info in code["train"].items():
        d = docs.get("train", {}).get(key, {})
        typ = info.get("check") or d.get("type", "")
        if key == "recipe":
            values = [_code(r) for r in recipes]
        elif key == "seed":
            values = [_code(train_def["seed"])] * len(recipes)
        else:
            values = [_code(v) if v is not None else _cell(d.get("default", "")) for v in info["recipes"].values()]
        out.append(f"| `{key}` | {_cell(typ)} | " + " | ".join(values) +
                   f" | {_cell(d.get('meaning', '**undescribed**'))} |")
    res = docs.get("results", {})
    out += ["", "## `[results]`", "", _cell(res.get("_table", {}).get("meaning", "")), "",
            "| key | meaning |", "|---|---|"]
    for key, d in res.items():
        if key != "_table":
            out.append(f"| `{key}` | {_cell(d.get('meaning', ''))} |")
    out += [f"| `\"test_psnr_out@<P>dB\"` | test PSNR of the output at input PSNR P, for P in "
            f"{', '.join(f'{p:g}' for p in importlib.import_module(EVAL_MODULE).EVAL_PSNRS)} dB |", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------- CLI help


_HELP_RUNNER = r"""
import contextlib, io, json, runpy, sys, warnings
warnings.simplefilter("ignore")
out = {}
for name, argv in json.loads(sys.argv[1]):
    buf = io.StringIO()
    sys.argv = [argv[0], *argv[1:]]
    try:
        with contextlib.redirect_stdout(buf):
            runpy.run_module(argv[0], run_name="__main__", alter_sys=True)
    except SystemExit as e:
        if e.code not in (0, None):
            raise SystemExit(f"{name}: --help exited with {e.code}")
    out[name] = buf.getvalue()
print(json.dumps(out))
"""


def _helps(jobs: list[tuple[str, str | None]]) -> dict[str, str]:
    """Each tool's ``--help``, as ``python -m TOOL [SUB] --help`` prints it, all in one child process
    (torch is imported once) that runs each module as ``__main__``."""
    import json

    spec = [(f"{m}-{s}" if s else m, [m, *([s] if s else []), "--help"]) for m, s in jobs]
    env = dict(os.environ, COLUMNS="100", OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", _HELP_RUNNER, json.dumps(spec)], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"capturing the tools' --help failed ({r.returncode}): {r.stderr[-1000:]}")
    return json.loads(r.stdout.splitlines()[-1])


def cli_pages() -> str:
    jobs = [(mod, None) for mod, _ in CLI_TOOLS] + [(mod, s) for mod, subs in CLI_TOOLS for s in subs]
    helps = _helps(jobs)
    lines = ["<!-- generated by docs/_ext/interp_docs.py: each tool's --help, captured at build time -->", ""]
    for mod, subs in CLI_TOOLS:
        lines += [f"### `python -m {mod}`", "", "```text", helps[mod].rstrip(), "```", ""]
        for s in subs:
            lines += [f"#### `python -m {mod} {s}`", "", "```text", helps[f"{mod}-{s}"].rstrip(), "```", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- shipped models


def _card_comment(text: str) -> str:
    """The card's leading comment block, as plain text."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[2:] if line.startswith("# ") else line[1:])
    return "\n".join(lines).strip()


def models_page() -> str:
    cards = sorted(p for p in (REPO / "models").glob("*.toml"))
    out = ["<!-- generated by docs/_ext/interp_docs.py from models/*.toml -->", ""]
    for p in cards:
        text = p.read_text(encoding="utf-8")
        card = tomllib.loads(text)
        model, data, train, results = (card.get(k, {}) for k in ("model", "data", "train", "results"))
        ckpt = p.with_suffix(".safetensors")
        out += [f"### {p.stem}", ""]
        facts = [f"tau {model.get('tau')}", f"width {model.get('width', 64)}"]
        if model.get("predict_only"):
            facts.append("prediction only")
        if data.get("source") == "leaves":
            facts.append(f"moving leaves ({data.get('variant', 'default')}, {data.get('n', 100000):,} sequences, "
                         f"seed {data.get('seed', 0)})")
        else:
            facts.append(f"clips from `{data.get('path')}`")
        facts.append(f"recipe `{train.get('recipe', 'cpu')}`")
        if "samples" in train:
            facts.append(f"{train['samples']:,} samples")
        if "init" in train:
            facts.append(f"starts from `{train['init']}`")
        size = f"{ckpt.stat().st_size / 1e6:.1f} MB" if ckpt.is_file() else "not present"
        out += [f"`models/{p.name}`: " + ", ".join(facts) + f". Checkpoint: {size}.", ""]
        if results:
            keys = [k for k in results if k.startswith("test_")]
            out += ["| " + " | ".join(f"`{k}`" for k in ["samples", "wall_minutes", *keys]) + " |",
                    "|" + "---|" * (2 + len(keys)),
                    "| " + " | ".join(_cell(results.get(k, "")) for k in ["samples", "wall_minutes", *keys]) + " |",
                    ""]
        out += [f"````{{admonition}} The card, `models/{p.name}`", "",
                "```toml", text.rstrip(), "```", "````", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------- figures


def gallery_page() -> str:
    with open(REPO / "figures" / "manifest.toml", "rb") as f:
        manifest = tomllib.load(f)
    out = ["<!-- generated by docs/_ext/interp_docs.py from figures/manifest.toml -->", ""]
    for fig in manifest.get("figure", []):
        png = next((o for o in fig.get("outputs", []) if o.endswith(".png")), None)
        models = ", ".join(f"`{m}`" for m in fig.get("models", [])) or "none (no trained model)"
        out += [f"### `{fig['id']}`: {fig.get('title', '')}", "",
                f"Analysis `{fig.get('analysis')}`; models: {models}.", ""]
        if png and (REPO / "figures" / png).is_file():
            _copy(REPO / "figures" / png, OUT / "figures" / png)
            out += [f"```{{figure}} _generated/figures/{png}", f":alt: {fig['id']}", ":width: 100%", "",
                    " ".join(fig.get("caption", "").split()), "```", ""]
        else:
            out += ["(not rendered yet: run `make figures`)", "", " ".join(fig.get("caption", "").split()), ""]
    return "\n".join(out)


# --------------------------------------------------------------------------- benchmarks


def benchmarks_table() -> str:
    text = (REPO / "benchmarks" / "results" / "results.md").read_text(encoding="utf-8")
    body = re.sub(r"\A#[^\n]*\n", "", text.lstrip("\ufeff"))  # the page has its own title
    return "<!-- copied by docs/_ext/interp_docs.py from benchmarks/results/results.md -->\n\n" + body


# --------------------------------------------------------------------------- notebooks


NOTEBOOKS = ["occlusion_decisions", "adaptive_filters", "evidence_weighting", "sampling_trajectories"]


def copy_notebooks() -> list[str]:
    names = sorted(p.stem for p in (REPO / "analyses").glob("*.ipynb"))
    ordered = [n for n in NOTEBOOKS if n in names] + [n for n in names if n not in NOTEBOOKS]
    for n in ordered:
        _copy(REPO / "analyses" / f"{n}.ipynb", OUT / "tutorials" / f"{n}.ipynb")
    for stale in (OUT / "tutorials").glob("*.ipynb"):
        if stale.stem not in ordered:
            stale.unlink()
    return ordered


# --------------------------------------------------------------------------- all


def generate() -> None:
    OUT.mkdir(exist_ok=True)
    _write(OUT / "api.md", api_page())
    _write(OUT / "card-keys.md", card_reference_page())
    _write(OUT / "models.md", models_page())
    _write(OUT / "gallery.md", gallery_page())
    _write(OUT / "benchmarks-table.md", benchmarks_table())
    copy_notebooks()
    _write(OUT / "cli.md", cli_pages())


# --------------------------------------------------------------------------- autodoc


_BARS = re.compile(r"(?<![|\\`\w])\|(?=[^\s|`])([^|`]*?[^\s|`\\])\|(?![|\w])")


def escape_absolute_values(app, what, name, obj, options, lines) -> None:
    """``autodoc-process-docstring``: the docstrings write absolute values as ``|r1 - r2|``, which
    reStructuredText would read as a substitution; escape the bars (outside inline literals)."""
    for i, line in enumerate(lines):
        parts = re.split(r"(``.*?``)", line)
        lines[i] = "".join(p if p.startswith("``") else _BARS.sub(r"\\|\1\\|", p) for p in parts)
