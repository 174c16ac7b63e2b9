"""Small helpers every layer may use: the package's error base, scalars, byte sizes.

They sit below everything else (no genbalance import here), so that any module can use them
without pulling in a higher layer.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

import numpy as np


class GenbalanceError(Exception):
    """Base class of genbalance's own errors (model files, training, budgets)."""


def to_python_scalar(value: Any) -> Any:
    """A plain Python scalar (JSON-able) from a numpy scalar; anything else unchanged."""
    if isinstance(value, np.generic):
        return value.item()
    return value


_UNITS = {
    "": 1,
    "b": 1,
    "k": 2**10,
    "kb": 2**10,
    "kib": 2**10,
    "m": 2**20,
    "mb": 2**20,
    "mib": 2**20,
    "g": 2**30,
    "gb": 2**30,
    "gib": 2**30,
}


def parse_bytes(value: int | str) -> int:
    """``2_000_000``, ``"512MiB"``, ``"4GB"`` -> bytes (binary units)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0:
        return int(value)
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", str(value))
    if not m or m.group(2).lower() not in _UNITS or float(m.group(1)) <= 0:
        raise ValueError(
            f"memory budget must be a positive number of bytes or a size like '512MiB' or '4GiB', "
            f"got {value!r}"
        )
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"`` (binary units, as :func:`parse_bytes` reads them)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


SEED_BOUND = 2**32  # numpy's and torch's common seed range


def seed_from(random_state: Any) -> int:
    """One int seed from any of scikit-learn's ``random_state`` forms.

    None = fresh randomness (a seed drawn from the OS), an int = itself (reproducible), a
    ``numpy.random.Generator`` or ``RandomState`` = a draw from it (it advances, so two calls
    differ, as scikit-learn estimators do with a shared generator).
    """
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        if not 0 <= int(random_state) < SEED_BOUND:
            raise ValueError(f"random_state must be in [0, 2**32), got {random_state}")
        return int(random_state)
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(SEED_BOUND))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    raise TypeError(
        "random_state must be None, an int, a numpy Generator or a RandomState, "
        f"got {type(random_state).__name__}"
    )


def derive_seed(seed: int, *path: int) -> int:
    """A new seed for a sub-task (the ``k``-th call, the ``i``-th class), stable per ``seed``."""
    return int(np.random.SeedSequence([seed, *path]).generate_state(1)[0])


def resolve_progress(progress: bool | str) -> bool:
    """``progress="auto"``: show progress where someone watches (a terminal or a notebook),
    stay silent in pipes, logs and tests; True/False force it."""
    if isinstance(progress, (bool, np.bool_)):
        return bool(progress)
    if progress != "auto":
        raise ValueError(f"progress must be True, False or 'auto', got {progress!r}")
    import sys

    if "ipykernel" in sys.modules:
        return True
    stream = sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def user_stacklevel() -> int:
    """The ``stacklevel`` for ``warnings.warn`` that names the user's line: one past the
    outermost genbalance frame (scikit-learn / imbalanced-learn frames between ours are passed
    over). A fixed number cannot be right: the same warning is 4 frames from the user through
    ``Trainer``, 6 through ``Synthesizer`` and 11 through a sampler. Call it inside the
    ``warnings.warn(...)`` call."""
    frame, level, outermost = sys._getframe(1), 1, 1
    while frame is not None:
        name = frame.f_code.co_filename
        if "importlib" in name and "_bootstrap" in name:  # warnings.warn does not count these
            frame = frame.f_back
            continue
        generated_init = name == "<string>" and frame.f_code.co_name == "__init__"
        if name.startswith(PACKAGE_DIR) or (generated_init and level == outermost + 1):
            outermost = level
        frame, level = frame.f_back, level + 1
    return outermost + 1
