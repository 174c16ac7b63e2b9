"""Old import paths (before the stage packages) keep working, with a DeprecationWarning.

``import genbalance.oversampling`` still gives ``GenerativeOverSampler``; the module object is an
alias that looks names up in the modules where they live now. Installed by
``genbalance/__init__.py``; nothing inside genbalance imports an old path.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from typing import Any

# old module -> the modules its public names live in now (searched in order)
MOVED: dict[str, tuple[str, ...]] = {
    "genbalance.io": ("genbalance.files",),
    "genbalance.tables": ("genbalance.data.tables",),
    "genbalance.datasets": ("genbalance.data.datasets",),
    "genbalance.image_data": ("genbalance.data.images",),
    "genbalance.streaming": (
        "genbalance.data.chunks",
        "genbalance.synthesis.streaming",
        "genbalance.utils",
    ),
    "genbalance.synthesizer": ("genbalance.synthesis.tabular",),
    "genbalance.oversampling": ("genbalance.sampling.tabular",),
    "genbalance.image_oversampling": ("genbalance.sampling.images",),
    "genbalance.plots": ("genbalance.evaluation.plots",),
    "genbalance.report": ("genbalance.evaluation.report",),
    "genbalance.metrics": ("genbalance.evaluation",),
    "genbalance.metrics.fidelity": ("genbalance.evaluation.fidelity",),
    "genbalance.metrics.utility": ("genbalance.evaluation.utility",),
    "genbalance.metrics.privacy": ("genbalance.evaluation.privacy",),
    "genbalance.metrics.images": ("genbalance.evaluation.images",),
    "genbalance.training.privacy": ("genbalance.training.dp",),
    "genbalance.training.batches": ("genbalance.training.sources",),
    "genbalance.demo": ("genbalance.cli.demo",),
    "genbalance.cli_tabular": ("genbalance.cli.tabular",),
    "genbalance.cli_bench": ("genbalance.cli.bench",),
    "genbalance.cli_images": ("genbalance.cli.images",),
    "genbalance.cli_report": ("genbalance.cli.report",),
}
PACKAGES = {"genbalance.metrics"}  # old packages: their submodules are aliased too


class _Alias(types.ModuleType):
    """A module whose attributes are read from the modules the names moved to."""

    def __init__(self, name: str, targets: tuple[str, ...]) -> None:
        super().__init__(name, f"moved to {', '.join(targets)}")
        self.__targets = targets
        if name in PACKAGES:
            self.__path__: list[str] = []

    def __getattr__(self, attr: str) -> Any:
        for target in self.__targets:
            module = importlib.import_module(target)
            if hasattr(module, attr):
                return getattr(module, attr)
        raise AttributeError(f"module {self.__name__!r} has no attribute {attr!r}")

    def __dir__(self) -> list[str]:
        names: set[str] = set()
        for target in self.__targets:
            names.update(n for n in dir(importlib.import_module(target)) if not n.startswith("_"))
        return sorted(names)


class _AliasLoader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        targets = MOVED[spec.name]
        warnings.warn(
            f"{spec.name} is deprecated; import from {' / '.join(targets)} instead",
            DeprecationWarning,
            stacklevel=2,
        )
        return _Alias(spec.name, targets)

    def exec_module(self, module: types.ModuleType) -> None:
        return None


class OldPathFinder(importlib.abc.MetaPathFinder):
    """Finds the old module names listed in :data:`MOVED` (and only those)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None):
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(
            fullname, _AliasLoader(), is_package=fullname in PACKAGES
        )


def install() -> None:
    """Put the finder on ``sys.meta_path`` once (idempotent)."""
    if not any(isinstance(f, OldPathFinder) for f in sys.meta_path):
        sys.meta_path.append(OldPathFinder())
