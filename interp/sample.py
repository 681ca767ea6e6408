"""``python -m interp.sample``: a command, not a library module (its front-end is :mod:`interp.cli.sample`).

Run it with ``python -m``. The sampler function is :func:`interp.sample`
(:func:`interp.analysis.sampler.sample`): running this file as ``__main__`` leaves that attribute
alone, and importing it (``import interp.sample``) binds the same function, because the module
puts the function in its own place in ``sys.modules`` (the import system binds what it finds there).
"""

if __name__ == "__main__":
    from interp.cli.sample import entry

    entry()
else:
    import sys

    from interp.analysis.sampler import sample as _sample

    sys.modules[__name__] = _sample
