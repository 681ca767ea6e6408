"""What every ``python -m interp.<tool>`` shares: one-line errors and exit code 2 for bad input."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

__all__ = ["InterpError", "ArgumentParser", "run", "positive_int", "nonneg_int", "unit_float", "short_repr",
           "one_line"]


class InterpError(Exception):
    """A problem with what the user asked for or gave us (a file, an option, a value).

    Its message is one line that names the problem; the CLIs print it and exit with 2.
    """


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``prog: error: ...``) and exit code 2."""

    def error(self, message: str):  # noqa: D102 - argparse API
        self.exit(2, f"{self.prog}: error: {_escape(message)} (see --help)\n")


def _escape(text: str) -> str:
    """``text`` with every non-printable character (newlines, terminal escapes...) escaped."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def one_line(text: str) -> str:
    """A message as one line: runs of whitespace (newlines included) become one space, and
    other non-printable characters are escaped, so a file name cannot break the line or
    send escape sequences to the terminal."""
    return _escape(" ".join(text.split()))


def short_repr(value, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, for one-line messages about a bad value."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _number(text: str, kind, ok, expected: str):
    try:
        v = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not ok(v):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {v:g}")
    return v


def positive_int(text: str) -> int:
    """argparse type: an integer > 0."""
    return _number(text, int, lambda v: v > 0, "a positive integer")


def nonneg_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _number(text, int, lambda v: v >= 0, "a non-negative integer")


def unit_float(text: str) -> float:
    """argparse type: a number in [0, 1]."""
    return _number(text, float, lambda v: 0.0 <= v <= 1.0, "a number in [0, 1]")


def run(main: Callable[[Sequence[str] | None], int | None], prog: str, argv=None) -> int:
    """Run a CLI ``main``; turn bad input into one line on stderr and exit code 2."""
    try:
        return int(main(argv) or 0)
    except InterpError as err:
        msg = str(err)
    except (ValueError, OSError) as err:  # bad values and unreadable/unwritable files
        msg = str(err) or type(err).__name__
    except MemoryError as err:  # a request too large for this machine (numpy names the size)
        msg = f"out of memory ({str(err) or 'the request is too large for this machine'})"
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    print(f"{prog}: error: {one_line(msg)}", file=sys.stderr)
    return 2
