"""``python -m interp.psychometrics``: a command, not a library module (its front-end is :mod:`interp.cli.psychometrics`).

Importing it does nothing; run it with ``python -m``.
"""

if __name__ == "__main__":
    from interp.cli.psychometrics import entry

    entry()
