"""The one error type of the package, and one-line messages about bad values."""

from __future__ import annotations

#: Seeds are below this (numpy and torch keep 64 bits, some of them signed): a larger one would
#: silently be another seed, or an overflow deep inside torch.
SEED_LIMIT = 2**63


#: The most threads an option may ask for (10**5 crash the OpenMP runtime, 10**20 overflow it).
MAX_THREADS = 1024


class InterpError(ValueError):
    """A problem with what the user asked for or gave us (a file, an option, a value).

    Its message is one line that names the problem; the CLIs print it and exit with 2.
    """


class Terminated(KeyboardInterrupt):
    """A stop signal (SIGTERM) turned into an interrupt, so that ``finally`` blocks and
    :func:`interp.io.atomic_write` clean up; :func:`run` exits with 128 + ``signum``."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def escape(text: str) -> str:
    """``text`` with every non-printable character (newlines, terminal escapes...) escaped."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def one_line(text: str) -> str:
    """A message as one line: runs of whitespace (newlines included) become one space, and
    other non-printable characters are escaped, so a file name cannot break the line or
    send escape sequences to the terminal."""
    return escape(" ".join(text.split()))


def short_repr(value, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, for one-line messages about a bad value."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(err: BaseException) -> str:
    """An error as one line: an :class:`InterpError`'s message as it is, another error's
    message after its type's name."""
    msg = " ".join(str(err).split())
    if isinstance(err, InterpError):
        return msg
    return f"{type(err).__name__}: {msg}" if msg else type(err).__name__
