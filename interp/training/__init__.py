"""Training a denoiser (Algorithm 1): model cards (:mod:`~interp.training.cards`), the loss
(:mod:`~interp.training.loss`), windows and augmentations (:mod:`~interp.training.windows`), weight
averaging (:mod:`~interp.training.averaging`), evaluation (:mod:`~interp.training.evaluation`)
and the loop, with distributed runs (:mod:`~interp.training.loop`).
``python -m interp.train CARD`` is its command (:mod:`interp.cli.train`)."""

from interp.training.cards import RECIPES, Card, read_card
from interp.training.evaluation import evaluate
from interp.training.loop import train
from interp.training.loss import denoising_loss

__all__ = ["RECIPES", "Card", "denoising_loss", "evaluate", "read_card", "train"]
