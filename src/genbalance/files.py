"""Safe files: atomic writes and the genbalance model file format.

A model file is one safetensors file. Weights are tensors; configuration, encoder state and
training history are JSON in the safetensors header metadata, next to a format version and a
SHA-256 checksum over the JSON and every tensor's bytes. Loading never runs code (no pickle),
and a tampered, truncated or future-version file is refused with a clear error.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

FORMAT_NAME = "genbalance-model"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model or checkpoint file that cannot be trusted or read."""


def _exists_error(path: Path) -> FileExistsError:
    return FileExistsError(f"{path} exists; pass overwrite/--force to replace it")


def fsync_dir(directory: str | os.PathLike) -> None:
    """Make a rename in ``directory`` durable (a power cut could otherwise undo it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open directories; the rename itself is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, overwrite: bool = True) -> Path:
    """Write to a temporary file beside ``path``, fsync, then rename over it.

    A crash mid-write leaves the old file intact: never a half-written file where a good one was.
    With ``overwrite=False`` the file is published with a hard link, which fails if ``path``
    appeared in the meantime: an existing file is never replaced, even by a racing writer.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise _exists_error(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, file_mode(path))  # mkstemp makes 0600; users expect their usual mode
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_no_replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def file_mode(path: Path) -> int:
    """The replaced file's mode, or what ``open()`` would give a new file under the umask."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        pass
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _link_no_replace(tmp: str, path: Path) -> None:
    try:
        os.link(tmp, path)  # atomic, and refuses an existing target
    except FileExistsError:
        raise _exists_error(path) from None
    except OSError:  # a file system without hard links: best effort check, then rename
        if path.exists():
            raise _exists_error(path) from None
        os.replace(tmp, path)


def _checksum(meta_json: str, tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256(meta_json.encode())
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def dump_bundle(meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> bytes:
    """Serialise JSON metadata and tensors into one checksummed safetensors blob."""
    meta_json = json.dumps(meta, sort_keys=True, allow_nan=False)
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    header = {
        "format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        "meta": meta_json,
        "sha256": _checksum(meta_json, tensors),
    }
    return st_save(tensors, metadata=header)


def save_bundle(
    path, meta: dict[str, Any], tensors: dict[str, torch.Tensor], overwrite: bool = True
) -> Path:
    return atomic_write_bytes(path, dump_bundle(meta, tensors), overwrite=overwrite)


def _read_header(raw: bytes, source: str) -> dict[str, str]:
    if len(raw) < 8:
        raise ModelFileError(f"{source}: file is truncated or empty ({len(raw)} bytes)")
    n = int.from_bytes(raw[:8], "little")
    if n <= 0 or 8 + n > len(raw):
        raise ModelFileError(f"{source}: file is truncated or not a safetensors file")
    try:
        header = json.loads(raw[8 : 8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{source}: unreadable header ({exc})") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{source}: not a genbalance model file")
    return meta


def load_bundle(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read and verify a bundle written by :func:`save_bundle`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    raw = path.read_bytes()
    header = _read_header(raw, str(path))
    try:
        version = int(header.get("format_version", "0"))
    except ValueError:
        bad = header.get("format_version")
        raise ModelFileError(f"{path}: bad format_version {bad!r}") from None
    if version < 1:
        raise ModelFileError(f"{path}: bad format_version {version}; genbalance files start at 1")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: written by a newer genbalance (format {version}); this version reads "
            f"format <= {FORMAT_VERSION}. Upgrade genbalance to load it."
        )
    try:
        tensors = st_load(raw)
    except (SafetensorError, Exception) as exc:  # safetensors raises several types
        raise ModelFileError(f"{path}: corrupt tensor data ({exc})") from None
    meta_json = header.get("meta", "")
    if not isinstance(meta_json, str) or _checksum(meta_json, tensors) != header.get("sha256"):
        raise ModelFileError(f"{path}: checksum mismatch: the file was modified or damaged")
    try:  # the checksum is no signature: a crafted file can match it, so parse with care
        meta = json.loads(meta_json)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ModelFileError(f"{path}: unreadable metadata ({exc})") from None
    if not isinstance(meta, dict):
        raise ModelFileError(f"{path}: metadata is a {type(meta).__name__}, not a JSON object")
    return meta, tensors
