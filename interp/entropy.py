"""``python -m interp.entropy``: a command, not a library module (its front-end is :mod:`interp.cli.entropy`).

Importing it does nothing; run it with ``python -m``.
"""

if __name__ == "__main__":
    from interp.cli.entropy import entry

    entry()
