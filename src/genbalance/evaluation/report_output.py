"""Writing a report into a folder without harming what else is there.

Without ``force`` no existing file is replaced: the fixed report files are checked before any
work is done, and the figure names (known once the sections are built) before anything is
written. With ``force`` the figures an earlier report linked from its ``report.md`` and this
report no longer writes are removed, so a folder never mixes figures of two reports. Only
names that match the report's own figure naming are ever removed; other files are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from genbalance.files import atomic_write_bytes

__all__ = [
    "FIGURE_NAME",
    "REPORT_FILES",
    "check_free",
    "linked_figures",
    "remove_stale_figures",
    "report_targets",
    "safe_file_part",
    "unique_names",
    "write_files",
]

REPORT_FILES = {"html": "report.html", "markdown": "report.md", "metrics": "metrics.json"}
# every figure name a report writes (marginals_class_<label>: see safe_file_part)
FIGURE_NAME = re.compile(
    r"(class_counts|training_curves|projection|sample_grid_\d+|marginals_class_[A-Za-z0-9._-]+)"
    r"\.png"
)
_LINK = re.compile(r"!\[(?:[^\]\\]|\\.)*\]\(([^()\s]+)\)")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def report_targets(out: Path) -> dict[str, Path]:
    """The fixed report files in ``out``, by kind."""
    return {kind: out / name for kind, name in REPORT_FILES.items()}


def check_free(paths: Iterable[Path], force: bool) -> None:
    """Refuse (unless ``force``) when any of ``paths`` already exists: it may be the user's."""
    existing = [str(p) for p in paths if p.exists()]
    if existing and not force:
        raise FileExistsError(
            f"files already exist in the report folder: {existing}; "
            "pass force=True to replace them"  # the CLI says --force (cli.common)
        )


def safe_file_part(text: str, max_len: int = 60) -> str:
    """``text`` as a portable piece of a file name (ASCII letters, digits, ``. _ -``)."""
    part = _UNSAFE.sub("_", str(text)).strip("._")[:max_len].strip("._")
    return part or "class"


def unique_names(parts: Iterable[str], prefix: str, suffix: str) -> list[str]:
    """``prefix + part + suffix`` per part, made unique ignoring case (macOS, Windows)."""
    names: list[str] = []
    seen: set[str] = set()
    for part in parts:
        name, n = f"{prefix}{part}{suffix}", 1
        while name.lower() in seen:
            n += 1
            name = f"{prefix}{part}_{n}{suffix}"
        seen.add(name.lower())
        names.append(name)
    return names


def linked_figures(markdown: Path) -> set[str]:
    """Figure files an earlier report linked from its Markdown (only the report's own names)."""
    try:
        text = markdown.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    return {m for m in _LINK.findall(text) if FIGURE_NAME.fullmatch(m)}


def remove_stale_figures(out: Path, earlier: Iterable[str], current: Iterable[str]) -> list[Path]:
    """Delete the earlier report's figures that the new report did not write again."""
    keep = set(current)
    removed: list[Path] = []
    for name in sorted(set(earlier) - keep):
        path = out / name
        if FIGURE_NAME.fullmatch(name) and path.is_file() and not path.is_symlink():
            path.unlink()
            removed.append(path)
    return removed


def write_files(out: Path, files: dict[str, tuple[Path, bytes]], force: bool) -> dict[str, Path]:
    """Write ``{key: (path, data)}`` in order, atomically; replace files only with ``force``."""
    out.mkdir(parents=True, exist_ok=True)
    return {
        key: atomic_write_bytes(path, data, overwrite=force) for key, (path, data) in files.items()
    }
