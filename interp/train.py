"""``python -m interp.train CARD``: a command, not a library module (its front-end is
:mod:`interp.cli.train`; the library is :mod:`interp.training`). Importing it does nothing.
"""

if __name__ == "__main__":
    from interp.cli.train import entry

    entry()
