"""Running a denoiser for analysis: eval mode and no autograd, the module's mode restored after."""

from __future__ import annotations

import torch

__all__ = ["evaluating"]


class evaluating:  # noqa: N801 - used like torch.no_grad
    """Context manager: a module denoiser in eval mode under ``torch.no_grad``, its training
    flag restored on exit; any other callable (an analytic denoiser) only gets ``no_grad``."""

    def __init__(self, denoiser):
        self.module = denoiser if isinstance(denoiser, torch.nn.Module) else None
        self.no_grad = torch.no_grad()

    def __enter__(self):
        self.was_training = self.module.training if self.module is not None else False
        if self.module is not None:
            self.module.eval()
        self.no_grad.__enter__()

    def __exit__(self, *exc):
        self.no_grad.__exit__(*exc)
        if self.module is not None:
            self.module.train(self.was_training)
        return False
