"""``python -m interp.data``: a command (see :mod:`interp.cli.data`)."""

from interp.cli.data import entry

if __name__ == "__main__":
    entry()
