"""``python -m interp.sample``: next-frame samples from a checkpoint (see :mod:`interp.sampler`).

``interp.sample(denoiser, c, n, seed=...)`` is the sampler function. If this module is imported
(``import interp.sample``), it takes the function's place as the package attribute, so the
module itself forwards calls to :func:`interp.sampler.sample`: both spellings keep working.
"""

import sys
import types

from .cli import run
from .sampler import main
from .sampler import sample as _sample


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return _sample(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
    sys.exit(run(main, "python -m interp.sample"))
