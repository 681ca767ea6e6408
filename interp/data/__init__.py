"""Sources -> clips [N, T, H, W] float32 in [0, 1].

* :mod:`interp.data.dataset` -- the :class:`Dataset` container and its ``.npz`` files;
* :mod:`interp.data.leaves` -- the moving-leaves dataset (appendix D);
* :mod:`interp.data.davis`, :mod:`interp.data.download` -- DAVIS32 from DAVIS 2017;
* :mod:`interp.data.footage` -- clips from any video files or frame folders;
* :mod:`interp.data.natural` -- the built-in natural test set;
* :mod:`interp.data.translating` -- a synthetic video whose next-frame distribution is known exactly.

``python -m interp.data`` builds dataset files (:mod:`interp.cli.data`).
"""

from interp.data.dataset import FORMAT, Dataset, check_frame_size, load, save

__all__ = ["FORMAT", "Dataset", "check_frame_size", "load", "save"]
