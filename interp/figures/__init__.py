"""The paper's figures from one manifest (``figures/manifest.toml``): the manifest and model names
(:mod:`~interp.figures.manifest`), the registry of analyses and plots (:mod:`~interp.figures.registry`),
short adapters onto the analyses (:mod:`~interp.figures.adapters`, :mod:`~interp.figures.video`),
rendering (:mod:`~interp.figures.render`), the cache (:mod:`~interp.figures.cache`), the gallery
(:mod:`~interp.figures.gallery`) and presets (:mod:`~interp.figures.presets`). Nothing in the
package imports it; ``python -m interp.figures`` is its command (:mod:`interp.cli.figures`).

Imported lazily, so that the command's ``--help`` does not load the analyses.
"""

from interp._util.lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "FigureSpec": "manifest", "load_manifest": "manifest", "DEFAULT_MANIFEST": "manifest",
    "MODELS_DIR_ENV": "manifest", "models_dir": "manifest", "model_files": "manifest", "load_model": "models",
    "ANALYSES": "registry", "PLOTS": "registry",
    "compute_table": "render", "plot_function": "render", "draw_figure": "render", "render_figure": "render",
    "figure_table": "render",
    "CACHE_VERSION": "cache", "CACHE_FOLDER": "cache", "CACHE_INPUTS": "cache", "cache_key": "cache",
    "cache_paths": "cache", "file_sha256": "cache", "read_cached_table": "cache", "write_cached_table": "cache",
    "SUMMARIES": "gallery", "GALLERY": "gallery", "key_numbers": "gallery", "gallery_html": "gallery",
    "write_gallery": "gallery",
    "leaves_examples": "adapters",
})
