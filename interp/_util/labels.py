"""Frame labels: one convention for every figure panel and every command's output.

Frames around a prediction are named relative to the present frame ``t``, the last
conditioning frame, as in the paper: the frames ``x_{t-tau+1} .. x_t`` condition the next
frame ``x_{t+1}``; frames generated after it are ``t+2``, ``t+3`` ... They are written
``t-1``, ``t``, ``t+1`` (no spaces), by :func:`frame_label`.

A frame's place in a clip (the frame axis of an ``.npz``, the ``--frame`` option of the
commands) is its index from 0, written ``frame 0``, ``frame 1`` ... by :func:`frame_index`.
Plain sequences with no present frame (the data examples of Fig. 2) are labelled that way.

:func:`normalize` rewrites a panel title written in an older style (``t - 1``, ``t = 3``,
``true next frame``) into this convention; the plotting functions pass every frame title
through it, so the tables the analyses write need not change for the figures to agree.
"""

from __future__ import annotations

import re

__all__ = ["frame_label", "conditioning_labels", "frame_index", "frame_position", "normalize", "NUMBERED_LABEL"]


def frame_label(offset: int) -> str:
    """The frame ``offset`` frames after the present frame ``t``: ``t``, ``t-1``, ``t+1``..."""
    offset = int(offset)
    return "t" if offset == 0 else f"t{offset:+d}"


def conditioning_labels(tau: int) -> list[str]:
    """Labels of ``tau`` conditioning frames, oldest first: ``["t-1", "t"]`` for ``tau = 2``."""
    return [frame_label(j - int(tau) + 1) for j in range(int(tau))]


def frame_index(index: int) -> str:
    """A frame's place in a clip, from 0: ``frame 3``."""
    return f"frame {int(index)}"


def frame_position(index: int, present: int) -> str:
    """Both names of frame ``index`` of a clip whose present frame is ``present``: ``t+1 (frame 3)``."""
    return f"{frame_label(int(index) - int(present))} ({frame_index(index)})"


_SPACED = re.compile(r"\bt\s*([+-])\s*(\d+)\b")
#: an old-style numbered frame label such as "t = 2" (the plots translate these to t-1, t, t+1)
NUMBERED_LABEL = re.compile(r"^t\s*=\s*(\d+)$")
_NEXT = re.compile(r"\bnext frame\b")


def normalize(text: str, tau: int | None = None) -> str:
    """``text`` (a panel title) in the convention of this module.

    ``t - 1`` and ``t + 1`` lose their spaces; ``next frame`` becomes ``t+1``; ``t = k``, a
    frame numbered from 1 in a shown sequence whose first ``tau`` frames are the conditioning
    frames, becomes :func:`frame_label` of ``k - tau`` (left as it is when ``tau`` is not
    known). Any other text is returned unchanged.
    """
    if not isinstance(text, str):
        return text
    numbered = NUMBERED_LABEL.match(text.strip())
    if numbered:
        return text if tau is None else frame_label(int(numbered.group(1)) - int(tau))
    text = _SPACED.sub(lambda m: frame_label(int(m.group(2)) * (1 if m.group(1) == "+" else -1)), text)
    return _NEXT.sub(frame_label(1), text)
