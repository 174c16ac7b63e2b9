"""New rows between latent neighbours: SMOTE's idea on a model's learned manifold.

For families with an encoder (``has_encoder``: the VAE). Kept apart from the synthesizer so the
latent arithmetic is one function with plain inputs (a model, encoded rows, a class code).
"""

from __future__ import annotations

import numpy as np
import torch

from genbalance.models.base import GenerativeModel

__all__ = ["between_neighbours"]


def between_neighbours(
    model: GenerativeModel,
    Z: np.ndarray,
    code: int,
    n: int,
    k_neighbors: int,
    keep_detail: bool,
    seed: int,
) -> np.ndarray:
    """``n`` encoded rows of class ``code`` between latent neighbours of the encoded rows ``Z``.

    Each row is mapped to its posterior mean; a point is drawn on the segment to one of its
    ``k_neighbors`` nearest neighbours in latent space and decoded. ``keep_detail``: move the
    real row by the decoder's displacement between the two latent points instead, so the
    decoder's reconstruction bias cancels and the new row keeps the real row's detail.
    """
    from sklearn.neighbors import NearestNeighbors

    with torch.no_grad():
        Zt = torch.from_numpy(Z).to(model.device)
        y_code = torch.full((len(Z),), code, dtype=torch.long, device=model.device)
        mu = model.encode(Zt, y_code)[0].cpu().numpy()
    rng = np.random.default_rng(seed)
    k = min(k_neighbors, len(Z) - 1)
    neighbours = NearestNeighbors(n_neighbors=k + 1).fit(mu).kneighbors(mu, return_distance=False)
    base = rng.integers(len(Z), size=n)
    other = neighbours[base, rng.integers(1, k + 1, size=n)]
    z = mu[base] + rng.random((n, 1)) * (mu[other] - mu[base])
    with torch.no_grad():
        zt = torch.from_numpy(z.astype(np.float32)).to(model.device)
        labels = torch.full((n,), code, dtype=torch.long, device=model.device)
        out = model.decode(zt, labels).cpu().numpy()
        if keep_detail:
            mu_t = torch.from_numpy(mu[base].astype(np.float32)).to(model.device)
            out = Zt.cpu().numpy()[base] + out - model.decode(mu_t, labels).cpu().numpy()
    return out
