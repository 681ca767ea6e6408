"""What every ``python -m interp.<tool>`` shares: an argparse parser whose usage errors are
one line, argument types, and :func:`run` (one-line errors and exit code 2 for bad input)."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Callable, Sequence

from interp._util.errors import MAX_THREADS, SEED_LIMIT, InterpError, escape, one_line, short_repr


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``prog: error: ...``) and exit code 2."""

    def error(self, message: str):  # noqa: D102 - argparse API
        self.exit(2, f"{self.prog}: error: {escape(message)} (see --help)\n")


def _number(text: str, kind, ok, expected: str):
    try:
        v = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not ok(v):  # an int is shown as it is (a huge one does not fit :g)
        raise argparse.ArgumentTypeError(f"expected {expected}, got {v:g}" if isinstance(v, float)
                                         else f"expected {expected}, got {short_repr(v)}")
    return v


def positive_int(text: str) -> int:
    """argparse type: an integer > 0."""
    return _number(text, int, lambda v: v > 0, "a positive integer")


def nonneg_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _number(text, int, lambda v: v >= 0, "a non-negative integer")


def seed_int(text: str) -> int:
    """argparse type: a seed, an integer in [0, 2**63)."""
    return _number(text, int, lambda v: 0 <= v < SEED_LIMIT, "a non-negative integer below 2**63 (a seed)")


def thread_count(text: str) -> int:
    """argparse type: a number of threads, an integer in [1, :data:`MAX_THREADS`]."""
    return _number(text, int, lambda v: 0 < v <= MAX_THREADS, f"a positive integer up to {MAX_THREADS}")


def unit_float(text: str) -> float:
    """argparse type: a number in [0, 1]."""
    return _number(text, float, lambda v: 0.0 <= v <= 1.0, "a number in [0, 1]")


def open_unit_float(text: str) -> float:
    """argparse type: a number strictly between 0 and 1 (a fraction, a coverage)."""
    return _number(text, float, lambda v: 0.0 < v < 1.0, "a number in (0, 1)")


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
    except KeyboardInterrupt as err:
        signum = getattr(err, "signum", signal.SIGINT)  # Ctrl-C unless a Terminated says otherwise
        how = "" if signum == signal.SIGINT else f" by {signal.Signals(signum).name}"
        print(f"{prog}: interrupted{how}", file=sys.stderr)
        return 128 + signum
    print(f"{prog}: error: {one_line(msg)}", file=sys.stderr)
    return 2
