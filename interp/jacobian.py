"""``python -m interp.jacobian``: a command, not a library module (its front-end is :mod:`interp.cli.jacobian`).

Importing it does nothing; run it with ``python -m``.
"""

if __name__ == "__main__":
    from interp.cli.jacobian import entry

    entry()
