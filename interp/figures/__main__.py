"""``python -m interp.figures``: a command (see :mod:`interp.cli.figures`)."""

from interp.cli.figures import entry

if __name__ == "__main__":
    entry()
