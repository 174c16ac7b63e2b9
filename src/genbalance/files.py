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
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

FORMAT_NAME = "genbalance-model"
FORMAT_VERSION = 1
#: the largest model or checkpoint file read (bytes); a bigger one is refused before it is read.
#: genbalance's own files are megabytes (a 28x28 dcgan is about 20 MB), so this is generous.
MAX_MODEL_FILE_BYTES = 4 * 2**30


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


def refuse_special_target(path: str | os.PathLike) -> None:
    """Refuse to write over anything but a regular file (or nothing).

    Publishing by rename would replace a symlink, a device node or a FIFO with a regular file
    (and a directory cannot be replaced at all): the user's link or device would be gone.
    """
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISREG(mode):
        return
    kind = (
        "a symbolic link"
        if stat.S_ISLNK(mode)
        else "a directory"
        if stat.S_ISDIR(mode)
        else "a device node"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a FIFO"
        if stat.S_ISFIFO(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "not a regular file"
    )
    raise FileExistsError(
        f"{path} is {kind}; genbalance writes only new or regular files (even with --force), "
        "so that a link or device is never replaced by a file: give another output path"
    )


def publish(tmp: str | os.PathLike, path: str | os.PathLike, overwrite: bool) -> Path:
    """Give the finished temporary file ``tmp`` the name ``path``, atomically.

    ``overwrite=False``: a hard link, which fails if ``path`` exists, so that of two writers
    racing for one name exactly one wins and the other gets a :class:`FileExistsError` (the
    winner's file is never replaced). ``overwrite=True``: a rename over a regular file only.
    ``tmp`` is gone afterwards either way; the directory is fsynced.
    """
    path = Path(path)
    try:
        if overwrite:
            refuse_special_target(path)
            os.replace(tmp, path)
        else:
            _link_no_replace(os.fspath(tmp), path)
        fsync_dir(path.parent)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def check_target(path: str | os.PathLike, overwrite: bool) -> None:
    """The checks before any work: an existing name needs ``overwrite``, and only a regular
    file may be overwritten (:func:`publish` checks again at the end)."""
    path = Path(path)
    refuse_special_target(path)
    if os.path.lexists(path) and not overwrite:
        raise _exists_error(path)


def atomic_write(
    path: str | os.PathLike, write: Callable[[BinaryIO], Any], overwrite: bool = True
) -> Path:
    """:func:`atomic_write_bytes` for content written by ``write(fh)`` (streamed to the
    temporary file, never held whole): fsync, then publish by :func:`publish`."""
    path = Path(path)
    check_target(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, file_mode(path))  # mkstemp makes 0600; users expect their usual mode
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        publish(tmp, path, overwrite)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes, overwrite: bool = True) -> Path:
    """Write to a temporary file beside ``path``, fsync, then rename over it.

    A crash mid-write leaves the old file intact: never a half-written file where a good one was.
    With ``overwrite=False`` the file is published with a hard link, which fails if ``path``
    appeared in the meantime: an existing file is never replaced, even by a racing writer.
    A symlink, device node or directory at ``path`` is refused even with ``overwrite=True``.
    """
    return atomic_write(path, lambda fh: fh.write(data), overwrite)


def read_up_to(stream: BinaryIO, limit: int, block: int = 1 << 24) -> bytearray:
    """At most ``limit`` bytes of ``stream``, read block by block: memory follows what the
    stream really holds, never what a header claims it holds."""
    buf = bytearray()
    while len(buf) < limit:
        chunk = stream.read(min(block, limit - len(buf)))
        if not chunk:
            break
        buf += chunk
    return buf


# ------------------------------------------------------------------------- owned folders
def _folder_entries(root: Path, manifest: str) -> tuple[set[str], set[str] | None]:
    """Every entry under ``root`` (relative, POSIX) and the files its manifest lists (None
    without a readable genbalance manifest)."""
    entries = {p.relative_to(root).as_posix() for p in root.rglob("*")}
    try:
        doc = json.loads((root / manifest).read_text())
        listed = set(doc["files"]) if doc.get("format") == "genbalance-folder" else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        listed = None
    return entries, listed


def check_folder_target(root: Path, overwrite: bool, manifest: str) -> None:
    """Refuse an output folder whose contents would be lost or mixed into a new output: only
    a new or empty folder, or (``overwrite``) one holding exactly what :func:`write_folder`
    wrote there before (its manifest's files, their folders and the manifest)."""
    if not os.path.lexists(root):
        return
    if root.is_symlink() or not root.is_dir():
        raise FileExistsError(f"{root} exists and is not a folder; give a new or empty folder")
    entries, listed = _folder_entries(root, manifest)
    if not entries:
        return
    if not overwrite:
        raise _exists_error(root)
    if listed is None:
        raise FileExistsError(
            f"{root} is a non-empty folder that genbalance did not write (no {manifest}); it is "
            "never cleared, even with --force: give a new or empty output folder"
        )
    owned = listed | {manifest} | {rel.rsplit("/", 1)[0] for rel in listed if "/" in rel}
    foreign = sorted(entries - owned)
    if foreign:
        raise FileExistsError(
            f"{root} holds files genbalance did not write there ({foreign[:5]}); they are never "
            "deleted, even with --force: move them or give another output folder"
        )


def write_folder(
    root: str | os.PathLike,
    write: Callable[[Path], list[str]],
    overwrite: bool = False,
    manifest: str = ".genbalance-folder.json",
) -> Path:
    """Write a folder whole or not at all: ``write(tmp)`` fills a temporary folder beside
    ``root`` and returns the files it wrote (relative paths); they are listed in ``manifest``,
    fsynced, and the folder is renamed to ``root``. An existing ``root`` must pass
    :func:`check_folder_target`; it is moved aside, replaced as a whole (no stale file of the
    older output survives) and deleted, or put back if the rename fails."""
    root = Path(root)
    check_folder_target(root, overwrite, manifest)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", suffix=".tmp", dir=root.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
        files = write(tmp)
        doc = {"format": "genbalance-folder", "version": 1, "files": files}
        (tmp / manifest).write_text(json.dumps(doc))
        for p in tmp.rglob("*"):
            if p.is_file():
                with open(p, "rb") as fh:
                    os.fsync(fh.fileno())
        for d in [*(p for p in tmp.rglob("*") if p.is_dir()), tmp]:
            fsync_dir(d)
        check_folder_target(root, overwrite, manifest)  # again: it may have changed meanwhile
        _swap_folder(tmp, root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def _swap_folder(tmp: Path, root: Path) -> None:
    aside = None
    if os.path.lexists(root):
        aside = Path(tempfile.mkdtemp(prefix=f".{root.name}.", suffix=".old", dir=root.parent))
        os.replace(root, aside / "previous")
    try:
        os.rename(tmp, root)  # fails if a non-empty folder appeared meanwhile
    except OSError as exc:
        kept = ""
        if aside is not None:
            try:
                os.rename(aside / "previous", root)
                aside.rmdir()
            except OSError:
                kept = f"; the earlier output is kept at {aside / 'previous'}"
        raise FileExistsError(
            f"{root} appeared while writing; nothing replaced ({exc}){kept}"
        ) from None
    fsync_dir(root.parent)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def file_mode(path: Path) -> int:
    """The replaced file's mode, or what ``open()`` would give a new file under the umask."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        pass
    return 0o666 & ~_umask()


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _link_no_replace(tmp: str, path: Path) -> None:
    try:
        os.link(tmp, path)  # atomic, and refuses an existing target (a dangling link too)
    except FileExistsError:
        raise _exists_error(path) from None
    except OSError:  # a file system without hard links: best effort check, then rename
        if os.path.lexists(path):
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
    size = path.stat().st_size
    if size > MAX_MODEL_FILE_BYTES:
        raise ModelFileError(
            f"{path}: {size} bytes, more than genbalance reads as a model file "
            f"(genbalance.files.MAX_MODEL_FILE_BYTES = {MAX_MODEL_FILE_BYTES}); not a genbalance "
            "model, or raise that bound if you trust it"
        )
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
