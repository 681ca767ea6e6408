"""``python -m interp.sample``: a command, not a library module (its front-end is :mod:`interp.cli.sample`).

Importing it does nothing; run it with ``python -m``.
The sampler function is :func:`interp.sample` (:func:`interp.analysis.sampler.sample`); running
this file as ``__main__`` leaves that attribute alone.
"""

if __name__ == "__main__":
    from interp.cli.sample import entry

    entry()
