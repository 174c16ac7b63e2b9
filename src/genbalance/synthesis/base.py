"""What every synthesizer shares, for tables and for images.

A synthesizer is an encoder plus a trained class-conditional generative model. The table one
(:class:`~genbalance.synthesis.tabular.Synthesizer`) and the image one
(:class:`~genbalance.synthesis.images.ImageSynthesizer`) differ only in their encoder and their
file contents; building the family with seeded weights, mapping labels to class codes, seeding
the calls, generating in chunks and the "never overwrite unless asked" rule live here once, so
that the samplers above them only ask for rows or images through public methods.
"""

from __future__ import annotations

import math
import os
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from genbalance import models
from genbalance.models.base import GenerativeModel
from genbalance.utils import derive_seed, format_bytes, seed_from, to_python_scalar

# rows generated per forward pass: small enough that the (rows x encoded width) activations
# stay in cache on CPU (8k rows x 600 columns = 20 MB), large enough to amortise the calls
SAMPLE_CHUNK_ROWS = 8192
#: the most memory one generation call may plan for (bytes), whatever the machine: a request
#: above it (or above this machine's physical memory) is refused before any work, naming the
#: argument and the estimate. Raise it on a big machine, or write big outputs in chunks
#: (``genbalance sample``, ``synthesis.streaming.sample_to_file``).
MAX_GENERATION_BYTES = 16 * 2**30
# bytes a generated row costs besides its encoded width: class codes (numpy and torch)
_ROW_OVERHEAD_BYTES = 16
# bytes per encoded value: the model's float32 output chunks and their joined copy (8), and
# the decoded output (at most 8 bytes per value: a float64 or object pointer per column, one
# byte or a float per pixel)
_BYTES_PER_VALUE = 16


def check_count(value: Any, what: str) -> int:
    """A number of rows or images asked for: a non-negative whole number, as an int.

    Booleans, fractions (``2.9``), strings and negative numbers are refused rather than
    truncated, so that ``{"min": 2.9}`` or ``sample(True)`` never silently mean 2 or 1 rows.
    Whole floats (``5.0``, e.g. from a computed strategy) are accepted as the int they are.
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        n = int(value)
    elif (
        isinstance(value, (float, np.floating))
        and math.isfinite(value)
        and float(value).is_integer()
    ):
        n = int(value)
    else:
        kind = "a boolean" if isinstance(value, (bool, np.bool_)) else type(value).__name__
        raise TypeError(
            f"{what} must be a non-negative whole number of rows (an int), got {value!r} "
            f"({kind}); counts are never rounded or truncated"
        )
    if n < 0:
        raise ValueError(f"{what} must be a non-negative whole number of rows, got {n}")
    return n


def generation_bytes(n_rows: int, width: int) -> int:
    """About how much memory generating ``n_rows`` rows (or images) of ``width`` encoded values
    at once takes: per row 16 bytes of class codes, and per encoded value 16 bytes (the model's
    float32 output, its joined copy and the decoded value). Network activations come on top."""
    return int(n_rows) * (_ROW_OVERHEAD_BYTES + _BYTES_PER_VALUE * int(width))


def check_generation(n_rows: int, width: int, what: str) -> None:
    """Refuse, before any work, a generation whose memory estimate is above
    :func:`generation_limit`; the message names ``what`` (the argument) and the estimate.

    Samplers call it before training with a lower bound of ``width`` (one encoded value a
    column or pixel) and again before generating with the model's real width."""
    need = generation_bytes(n_rows, width)
    limit = generation_limit()
    if need > limit:
        raise ValueError(
            f"{what} asks for {n_rows:,} generated rows, about {format_bytes(need)} of memory "
            f"(at least {width} encoded values a row), more than the {format_bytes(limit)} one "
            "call may use (genbalance.synthesis.base.MAX_GENERATION_BYTES or this machine's "
            "memory); ask for fewer rows per call, or write them to a file in chunks "
            "(`genbalance sample`, sample_to_file)"
        )


def generation_limit() -> int:
    """Bytes one generation call may plan for: :data:`MAX_GENERATION_BYTES`, or this machine's
    physical memory when that is smaller (what cannot fit in memory can only fail later)."""
    limit = MAX_GENERATION_BYTES
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX: the constant alone
        return limit
    return min(limit, physical) if physical > 0 else limit


def check_parts_agree(path: Any, data_dim: int, model: GenerativeModel, n_classes: int) -> None:
    """Refuse a model file whose encoder, model and class list do not fit together (a crafted
    or mixed-up file would otherwise fail deep inside sampling)."""
    from genbalance.files import ModelFileError

    if int(data_dim) != int(model.data_dim) or int(n_classes) != int(model.n_classes):
        raise ModelFileError(
            f"{path}: the parts do not fit together: the encoder gives {data_dim} values a row "
            f"and the file lists {n_classes} classes, the model takes {model.data_dim} values "
            f"and {model.n_classes} classes"
        )


def resolve_epochs(epochs: Any, auto_steps: int) -> tuple[int | None, int | None]:
    """``(epochs, max_steps)`` for the trainer from the user's ``epochs``.

    "auto" gives no epoch limit and ``auto_steps`` optimiser steps; an int gives that many
    passes; None gives no epoch limit and leaves the length to ``trainer_options``
    (``max_steps``) or ``time_budget``. Anything else is refused with the accepted forms.
    """
    if epochs is None:
        return None, None
    if isinstance(epochs, str) and epochs == "auto":
        return None, int(auto_steps)
    if isinstance(epochs, (int, np.integer)) and not isinstance(epochs, bool) and epochs >= 0:
        return int(epochs), None
    raise ValueError(
        f"epochs must be a non-negative integer, 'auto' or None (length from max_steps or "
        f"time_budget), got {epochs!r}"
    )


class BaseSynthesizer:
    """Shared behaviour of the synthesizers (see the module docstring).

    Subclasses set ``model``, ``random_state`` and ``device`` in ``__init__`` and, once fitted,
    ``model_`` (the family), ``classes_`` (labels in code order) and ``class_counts_``.
    """

    #: what the subclass calls itself in error messages
    NAME: ClassVar[str] = "synthesizer"

    model: str
    random_state: Any
    device: str
    model_: GenerativeModel
    classes_: np.ndarray
    class_counts_: np.ndarray

    def __repr__(self) -> str:
        """The settings that differ from their defaults, and what was learnt (one line)."""
        import inspect

        params = inspect.signature(type(self).__init__).parameters
        shown = [
            f"{name}={getattr(self, name)!r}"
            for name, p in params.items()
            if name != "self"
            and hasattr(self, name)
            and p.default is not inspect.Parameter.empty
            and not _same(getattr(self, name), p.default)
        ]
        if name_first := (self.model if "model" in params else None):
            shown = [repr(name_first), *[s for s in shown if not s.startswith("model=")]]
        text = f"{type(self).__name__}({', '.join(shown)})"
        if self.is_fitted and getattr(self, "class_counts_", None) is not None:
            counts = dict(zip(self.known_classes(), self.class_counts_.tolist(), strict=True))
            if len(counts) > 6:
                counts = f"{len(counts)} classes, {int(self.class_counts_.sum())} rows"
            text += f"  # fitted: {counts}"
        return text

    # ------------------------------------------------------------------ state
    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "model_")

    def require_fitted(self) -> None:
        """Raise a clear error before any use of an unfitted synthesizer."""
        if not self.is_fitted:
            raise RuntimeError(f"this {self.NAME} is not fitted yet; call fit(X, y) first")

    def start_seeds(self) -> int:
        """Fix the seed of this fit (a fresh one for ``random_state=None``) and reset the
        per-call counter; returns it. Every later draw derives from it."""
        self.seed_ = seed_from(self.random_state)
        self.n_sample_calls_ = 0
        return self.seed_

    def call_seed(self, random_state: Any = None) -> int:
        """The seed of one sampling call: ``random_state`` when given (reproduces), else the
        next seed of this synthesizer (repeated calls give new rows; the first call of a
        seeded synthesizer uses the seed itself, as it always has)."""
        if random_state is not None:
            return seed_from(random_state)
        if not hasattr(self, "seed_"):  # loaded from a file, or fitted before seeds existed
            self.start_seeds()
        k = self.n_sample_calls_
        self.n_sample_calls_ = k + 1
        return self.seed_ if k == 0 else derive_seed(self.seed_, k)

    # ------------------------------------------------------------------ model
    def build_model(
        self, data_dim: int, spans: Any, hyper: dict[str, Any], seed: int
    ) -> GenerativeModel:
        """The family's networks with weights seeded by ``seed`` (the caller's torch RNG is
        left as it was)."""
        family = models.get(self.model)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return family(data_dim, len(self.classes_), spans, **hyper)

    def set_classes(self, labels: np.ndarray) -> np.ndarray:
        """Learn the classes from ``labels``; returns their codes (indices into ``classes_``)."""
        self.classes_, codes = np.unique(labels, return_inverse=True)
        self.class_counts_ = np.bincount(codes, minlength=len(self.classes_))
        return codes.astype(np.int64)

    # ------------------------------------------------------------------ labels
    def known_classes(self) -> list[Any]:
        return [to_python_scalar(c) for c in self.classes_]

    def label_codes(self, y: Any, n: int | None = None) -> np.ndarray:
        """Map user labels to class indices; a scalar label is repeated ``n`` times."""
        self.require_fitted()
        values = np.asarray(y, dtype=object)
        if values.ndim == 0:
            values = np.repeat(values, 1 if n is None else check_count(n, "n"))
        lookup = {to_python_scalar(c): i for i, c in enumerate(self.classes_)}
        codes = np.empty(len(values), dtype=np.int64)
        for v in pd.unique(values):
            key = to_python_scalar(v)
            if key not in lookup:
                raise ValueError(
                    f"unknown class {key!r}; this {self.NAME} knows {self.known_classes()}"
                )
            codes[values == v] = lookup[key]
        return codes

    def check_generation_size(self, n_rows: int, what: str) -> None:
        """Refuse, before any work, generating ``n_rows`` rows whose memory estimate is above
        :func:`generation_limit` (see :func:`check_generation`)."""
        self.require_fitted()
        check_generation(n_rows, int(self.model_.data_dim), what)

    def require_likelihood(self) -> None:
        """Refuse families without a tractable likelihood, naming those that have one."""
        if not self.model_.has_likelihood:
            have = [name for name in models.available() if models.get(name).has_likelihood]
            raise TypeError(
                f"model {self.model!r} has no exact likelihood; families with one: "
                f"{', '.join(have)}"
            )

    def codes_of_rows(self, y: Any, n_rows: int) -> np.ndarray:
        """Class codes for ``n_rows`` given rows: ``y`` one label per row or one for all; None
        only for a synthesizer fitted on one class."""
        if y is None:
            if len(self.classes_) != 1:
                raise ValueError(
                    f"y is needed: this {self.NAME} was fitted on {len(self.classes_)} classes"
                )
            return np.zeros(n_rows, dtype=np.int64)
        codes = self.label_codes(y, n_rows)
        if codes.shape != (n_rows,):
            raise ValueError(
                f"y must have one label per row of X (or one label): X has {n_rows} rows, "
                f"y has {codes.shape[0]}"
            )
        return codes

    def encoded_log_likelihood(self, Z: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Exact log-likelihood (nats) of encoded rows under the model, in chunks."""
        self.require_likelihood()
        pairs = zip(
            torch.split(torch.from_numpy(Z), SAMPLE_CHUNK_ROWS),
            torch.split(torch.from_numpy(codes), SAMPLE_CHUNK_ROWS),
            strict=True,
        )
        out = [self.model_.log_likelihood(z, c).cpu() for z, c in pairs]
        return torch.cat(out).numpy().astype(np.float64) if out else np.zeros(0)

    def draw_codes(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` class codes drawn in the training proportions."""
        p = self.class_counts_ / self.class_counts_.sum()
        return rng.choice(len(self.classes_), size=int(n), p=p)

    # ------------------------------------------------------------------ generation
    def sample_encoded(self, codes: np.ndarray, random_state: Any = None) -> np.ndarray:
        """Generated rows in the model's (encoded) space for class codes ``codes``, chunked,
        without gradients. ``random_state``: as in :meth:`call_seed`."""
        self.require_fitted()
        from genbalance.training.trainer import resolve_device

        gen = torch.Generator().manual_seed(self.call_seed(random_state))
        codes_t = torch.as_tensor(np.asarray(codes), dtype=torch.long)
        device = resolve_device(self.device)  # CUDA when there is one (device="auto")
        if self.model_.device != device:
            self.model_.to(device)
        out = []
        with torch.inference_mode():
            for chunk in torch.split(codes_t, SAMPLE_CHUNK_ROWS):
                out.append(self.model_.generate(chunk.to(device), gen).cpu())
        if not out:
            return np.zeros((0, self.model_.data_dim), dtype=np.float32)
        return torch.cat(out).numpy()


def _same(value: Any, default: Any) -> bool:
    try:
        return bool(value == default) if not isinstance(value, dict) else value == (default or {})
    except (TypeError, ValueError):  # arrays and other values without a plain equality
        return False


def steps_per_epoch(n_rows: int, batch_size: int) -> int:
    return max(1, math.ceil(n_rows / batch_size))
