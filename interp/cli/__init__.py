"""Thin argparse front-ends, one per ``python -m interp.<tool>``: :mod:`~interp.cli.train`,
:mod:`~interp.cli.sample`, :mod:`~interp.cli.jacobian`, :mod:`~interp.cli.psychometrics`,
:mod:`~interp.cli.entropy`, :mod:`~interp.cli.data`, :mod:`~interp.cli.figures`. What they share
(one-line errors, exit code 2, argument types) is in :mod:`~interp.cli.common`."""

from interp.cli.common import (
    ArgumentParser,
    nonneg_int,
    positive_int,
    run,
    seed_int,
    thread_count,
    unit_float,
)

__all__ = ["ArgumentParser", "nonneg_int", "positive_int", "run", "seed_int", "thread_count", "unit_float"]
