"""Model-card names -> trained networks, checked against their cards."""

from __future__ import annotations

from interp._util.errors import InterpError
from interp.figures.manifest import model_files
from interp.nets import checkpoint
from interp.training.cards import read_card

__all__ = ["load_model"]

def load_model(name: str):
    """The trained network of a model-card name, in eval mode, checked against its card.

    The checkpoint must have been trained from a card of that name (its config records the
    card's name) for the network the card describes (tau, width, normalization, prediction-only):
    a checkpoint copied or renamed onto another card's name is a one-line error, not drawn as
    that model.
    """
    card_path, ckpt_path = model_files(name)
    card = read_card(card_path)
    net = checkpoint.load(ckpt_path)
    trained_from = net.checkpoint_config.get("card")
    if trained_from is not None and trained_from != name:
        raise InterpError(f"{ckpt_path} was trained from card {trained_from!r}, not {name!r}: it is not that model")
    want = {"arch": "unet", **card.model}
    if net.config() != want:
        raise InterpError(f"{ckpt_path} holds {net.config()}, its card {card_path} describes {want}")
    return net
