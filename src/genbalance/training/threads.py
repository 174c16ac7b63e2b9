"""How many CPU threads a fit uses (``TrainerConfig.threads``).

A small model's step is a few hundred tiny kernels: spreading each over several threads costs
more in hand-offs than it saves, and a second thread competes with whatever else runs (another
fold of ``cross_validate(n_jobs=2)``, the classifier beside it). Such fits run on one thread;
a model whose step is big enough to keep several cores busy keeps the threads it was given
(``torch.get_num_threads()``, which follows ``OMP_NUM_THREADS`` and the process's CPU share).
NumPy's BLAS runs on one thread while the fit runs (threadpoolctl): see training_threads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from threadpoolctl import threadpool_limits

from genbalance.models.base import GenerativeModel

__all__ = ["SMALL_STEP_FLOPS", "check_threads", "step_flops", "training_threads"]

#: below this many floating-point operations a step (forward + backward, ~6 per weight and
#: row) a CPU fit runs on one thread: the default VAE (a 128 encoder, a 128 x 128 decoder) on a
#: KEEL table at batch 128 is ~3e7
SMALL_STEP_FLOPS = 2e8


def check_threads(value: Any) -> None:
    """``"auto"``, None or a whole number >= 1; anything else is refused by name."""
    if value in ("auto", None):
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"threads must be 'auto', None or an int >= 1, got {value!r}")


def step_flops(model: GenerativeModel, batch_size: int) -> float:
    """Rough work of one training step: 6 flops per weight per row (forward and backward)."""
    weights = sum(p.numel() for m in model.parts().values() for p in m.parameters())
    return 6.0 * weights * batch_size


@contextlib.contextmanager
def training_threads(
    setting: Any, model: GenerativeModel, batch_size: int, device: torch.device
) -> Iterator[int]:
    """Run the block with the threads ``setting`` asks for, then put torch's setting back.

    ``"auto"``: one thread on CPU for a small step (:data:`SMALL_STEP_FLOPS`), else unchanged;
    an int: that many; None: unchanged. Yields the number of threads in use.
    """
    before = torch.get_num_threads()
    wanted = before
    if isinstance(setting, int):
        wanted = setting
    elif setting == "auto" and device.type == "cpu":
        wanted = 1 if step_flops(model, batch_size) < SMALL_STEP_FLOPS else before
    if wanted != before:
        torch.set_num_threads(wanted)
    # NumPy's BLAS on one thread, whatever torch gets: the VAE's CPU steps multiply through
    # it (models/vae_grad.py) at sizes that gain nothing from a second thread, and a BLAS pool
    # beside torch's OpenMP threads spin-waits against them (pima: 13.3 s with two threads
    # each, against 0.96-1.14 s with one of the two pools on one thread)
    blas = threadpool_limits(1, user_api="blas")
    try:
        yield wanted
    finally:
        blas.restore_original_limits()
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
