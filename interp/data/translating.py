"""A synthetic video whose next-frame conditional distribution is known exactly.

Each clip is two frames of a smooth Gaussian canvas: the next frame is the past frame moved by
``shift`` pixels plus white Gaussian innovations, and the pixels that enter at the edges come from
canvas the past frame does not show. Everything is jointly Gaussian, so the conditional
covariance of the next frame given the past one, its differential entropy and the exact
conditional MMSE at every noise level have closed forms. It checks what nothing else can: how far
a trained denoiser is from the best possible one at each noise level
(:meth:`TranslatingVideo.mmse`), and how far an entropy estimate is from the truth
(:meth:`TranslatingVideo.entropy_bits`). Used by ``tests/test_entropy.py`` and
``benchmarks/weighting.py``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["TranslatingVideo"]


class TranslatingVideo:
    """Two-frame clips of a smooth Gaussian canvas translating by ``shift`` px, plus white innovations.

    The canvas (H + 1) x (W + 2) has mean 0.5 and covariance s0 [(1 - n) exp(-r^2 / 2 l^2) + n I];
    x_t is its bottom-right H x W window and x_{t+1} its top-left window plus N(0, q I): every
    pixel moves by (1, 2) and the ones entering at the top and left edges come from canvas
    pixels the past frame does not show (a network with zero padding can predict them only from
    their neighbours, as the exact conditional does). Everything is jointly Gaussian, so
    h(x_{t+1} | x_t) = 1/2 log det(2 pi e S), S = S11 - S10 S00^-1 S01, exactly. Clips with a
    pixel outside [0, 1] (datasets hold [0, 1]) are redrawn: about 1 in 10^4 at these settings,
    which moves the entropy by far less than a hundredth of a bit.
    """

    H = W = 16
    shift = (1, 2)
    s0, q, ell, nugget = 0.01, 0.0016, 1.5, 0.02

    def __init__(self):
        ch, cw = self.H + self.shift[0], self.W + self.shift[1]
        r, c = np.meshgrid(np.arange(ch), np.arange(cw), indexing="ij")
        p = np.stack([r.ravel(), c.ravel()], 1).astype(float)
        d2 = ((p[:, None] - p[None]) ** 2).sum(-1)
        self.K = self.s0 * ((1 - self.nugget) * np.exp(-d2 / (2 * self.ell**2)) + self.nugget * np.eye(len(p)))
        idx = np.arange(ch * cw).reshape(ch, cw)
        self.past = idx[self.shift[0]:, self.shift[1]:].ravel()
        self.next = idx[: self.H, : self.W].ravel()

    def conditional_covariance(self) -> np.ndarray:
        """Cov(x_{t+1} | x_t) = S11 - S10 S00^-1 S01, [H W, H W]."""
        K, i0, i1 = self.K, self.past, self.next
        s11 = K[np.ix_(i1, i1)] + self.q * np.eye(len(i1))
        s10 = K[np.ix_(i1, i0)]
        return s11 - s10 @ np.linalg.solve(K[np.ix_(i0, i0)], s10.T)

    def entropy_bits(self) -> float:
        """h(x_{t+1} | x_t) per pixel, bits."""
        sign, logdet = np.linalg.slogdet(2 * math.pi * math.e * self.conditional_covariance())
        assert sign > 0
        return 0.5 * logdet / (self.H * self.W) / math.log(2.0)

    def mmse(self, sigma2) -> np.ndarray:
        """The exact conditional MMSE per pixel at each noise variance: mean of lam s / (lam + s), lam the
        eigenvalues of the conditional covariance."""
        lam = np.linalg.eigvalsh(self.conditional_covariance())
        return np.array([np.mean(lam * s / (lam + s)) for s in np.atleast_1d(sigma2)])

    def blind_mmse(self, sigma2, sigma2_range: tuple[float, float] = (1e-5, 1e2), draws: int = 2000,
                   seed: int = 0) -> np.ndarray:
        """The MSE per pixel of the best denoiser that is not told the noise level, at each noise variance.

        The toolkit's denoisers are blind: they see y = x + sigma z and the past, not sigma. In the
        interior (the (H - 1) x (W - 2) pixels whose source the past frame shows) the residual
        r = y - (moved past frame) is the innovation plus the noise, white with variance q + sigma^2,
        so only its energy s = |r|^2 says anything about sigma, and the best blind gain is the
        posterior mean of q / (q + sigma^2) given s, under the training prior (log sigma^2 uniform
        on ``sigma2_range``). Its excess over the known-sigma gain, E[(g_hat(s) - g)^2 s] / n, is
        Monte-Carlo averaged over ``draws`` seeded chi-square draws of s; the entering-edge pixels
        keep their known-sigma MMSE (they could sharpen the estimate of sigma only slightly), and
        the curve is capped at sigma^2 (the identity is blind too). The I-MMSE integral of this
        curve is how close to :meth:`entropy_bits` any blind network can come on this video.
        """
        s2 = np.atleast_1d(np.asarray(sigma2, dtype=float))
        n = (self.H - self.shift[0]) * (self.W - self.shift[1])
        lo, hi = (math.log(v) for v in sigma2_range)
        prior = np.exp(np.linspace(lo, hi, 600))  # the prior on a fine log grid
        V_prior = self.q + prior
        rng = np.random.default_rng(seed)
        out = self.mmse(s2)
        for i, v in enumerate(s2):
            V = self.q + v
            s = V * rng.chisquare(n, draws)
            ll = -0.5 * n * np.log(V_prior)[None] - 0.5 * s[:, None] / V_prior[None]
            w = np.exp(ll - ll.max(1, keepdims=True))
            g_hat = (w * (self.q / V_prior)[None]).sum(1) / w.sum(1)
            out[i] += n / (self.H * self.W) * np.mean((g_hat - self.q / V) ** 2 * s / n)
        return np.minimum(out, s2)

    def clips(self, n: int, seed: int) -> np.ndarray:
        """``n`` clips [n, 2, H, W] float32 in [0, 1] (past frame, next frame), seeded."""
        rng = np.random.default_rng(seed)
        L = np.linalg.cholesky(self.K)
        out = np.empty((0, 2, self.H, self.W), np.float32)
        while len(out) < n:
            m = n - len(out)
            z = 0.5 + rng.standard_normal((m, len(self.K))) @ L.T
            x1 = z[:, self.next] + math.sqrt(self.q) * rng.standard_normal((m, self.H * self.W))
            c = np.stack([z[:, self.past], x1], 1).reshape(m, 2, self.H, self.W).astype(np.float32)
            out = np.concatenate([out, c[((c >= 0) & (c <= 1)).all(axis=(1, 2, 3))]])
        return out
