"""Verified dataset files: sha256 checks, one clear error for missing files, and pooch downloads."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

import pooch
import requests

from mmlgnet.errors import UserError

if TYPE_CHECKING:
    from mmlgnet.data.scenes.catalog import FileSpec


class DataError(UserError):
    """A dataset file is missing, corrupt or not what the scene spec says; the message says how to fix it."""


class MissingDataError(DataError, FileNotFoundError):
    """One or more dataset files are not on disk (the message lists each one, where to put it, its URL).

    `missing` holds the file names, for callers that report them in their own words.
    """

    def __init__(self, message: str, missing: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.missing = tuple(missing)


class ChecksumError(DataError):
    """A dataset file's sha256 differs from the pinned one."""


# Inside `hashed_once()`: (resolved path, size, mtime_ns, inode) -> hex sha256 of the files hashed so far.
_DIGESTS: ContextVar[dict[tuple[str, int, int, int], str] | None] = ContextVar("mmlgnet_digests", default=None)


def sha256sum(path: Path) -> str:
    """Hex sha256 of a file, read in chunks (the HSI cubes are up to 170 MB); once per file inside `hashed_once`."""
    memo = _DIGESTS.get()
    if memo is None:
        return pooch.file_hash(str(path), alg="sha256")
    st = Path(path).stat()
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in memo:
        memo[key] = pooch.file_hash(str(path), alg="sha256")
    return memo[key]


@contextmanager
def hashed_once() -> Iterator[None]:
    """Within this block each file is hashed once: a later sha256sum of the same, unchanged file (same path, size,
    modification time and inode) returns the first digest. One reproduce invocation plans inside it, so its data
    check (load_scene's pinned-sha256 verification) and its fingerprints (every file's sha256) share the digests."""
    token = _DIGESTS.set({} if _DIGESTS.get() is None else _DIGESTS.get())
    try:
        yield
    finally:
        _DIGESTS.reset(token)


def source_of(spec: FileSpec) -> str:
    """Where a file can be obtained, in words: its URL or the archive member it comes from."""
    if spec.url is not None:
        return spec.url
    if spec.archive_url is not None:
        return f"member {spec.archive_member!r} of {spec.archive_url}"
    return "no public URL known (see DATASETS.md)"


def describe_missing(root: Path, missing: Sequence[FileSpec]) -> str:
    """A bullet list naming every missing file, the directory it belongs in and where to get it."""
    lines = [f"  - {root / spec.name}  <- {source_of(spec)}" for spec in missing]
    return "\n".join(lines)


def verify_file(path: Path, spec: FileSpec) -> None:
    """Raise ChecksumError when `path` does not have the sha256 pinned in `spec` (no pin: nothing to do)."""
    if spec.sha256 is None:
        return
    actual = sha256sum(path)
    if actual != spec.sha256:
        raise ChecksumError(
            f"{path}: sha256 mismatch.\n  expected {spec.sha256}\n  actual   {actual}\n"
            f"The file is corrupt, truncated or a different version. Delete it and re-download it "
            f"(pass --data.download true) or fetch it by hand from {source_of(spec)}. "
            f"To load a file you trust anyway, pass --data.verify false (load_scene(..., verify=False))."
        )


def _offline_error(root: Path, specs: Sequence[FileSpec], err: Exception) -> MissingDataError:
    return MissingDataError(
        f"Download failed ({type(err).__name__}: {err}). This machine seems to be offline or the URL is "
        f"unreachable. Put the files in {root} by hand:\n{describe_missing(root, specs)}"
    )


def _retrieve_direct(root: Path, spec: FileSpec) -> Path:
    known = f"sha256:{spec.sha256}" if spec.sha256 else None
    try:
        got = pooch.retrieve(spec.url, known_hash=known, fname=spec.name, path=root, progressbar=False)
    except requests.exceptions.RequestException as err:
        raise _offline_error(root, [spec], err) from err
    except ValueError as err:  # pooch's hash mismatch of the downloaded bytes
        raise ChecksumError(
            f"{root / spec.name}: the file downloaded from {spec.url} does not match the pinned sha256 "
            f"{spec.sha256} ({err}). The source changed; report it, or place a verified copy in {root}."
        ) from err
    return Path(got)


def _retrieve_members(root: Path, archive_url: str, specs: Sequence[FileSpec]) -> dict[str, Path]:
    """Download one zip (cached under root/.downloads) and move the wanted members into `root`."""
    cache = root / ".downloads"
    zip_hash = specs[0].archive_sha256
    members = [s.archive_member for s in specs if s.archive_member is not None]
    try:
        extracted = pooch.retrieve(
            archive_url,
            known_hash=f"sha256:{zip_hash}" if zip_hash else None,
            fname=Path(archive_url).name,
            path=cache,
            processor=pooch.Unzip(members=members, extract_dir=str(cache / "unzipped")),
            progressbar=False,
        )
    except requests.exceptions.RequestException as err:
        raise _offline_error(root, specs, err) from err
    except ValueError as err:
        raise ChecksumError(
            f"The archive downloaded from {archive_url} does not match the pinned sha256 {zip_hash} ({err}). "
            f"Place verified copies of {[s.name for s in specs]} in {root} by hand."
        ) from err
    by_member = {Path(p).as_posix(): Path(p) for p in extracted}
    out: dict[str, Path] = {}
    for spec in specs:
        hit = [p for key, p in by_member.items() if key.endswith(str(spec.archive_member))]
        if not hit:
            raise MissingDataError(
                f"{archive_url} has no member {spec.archive_member!r} (got {sorted(by_member)}). "
                f"The archive layout changed: put {spec.name} in {root} by hand."
            )
        target = root / spec.name
        shutil.copyfile(hit[0], target)
        out[spec.name] = target
    return out


def ensure_files(
    root: Path, files: Sequence[FileSpec], download: bool, verify: bool = True
) -> dict[str, Path]:
    """Return {file name: path} for `files` inside `root`, downloading missing ones when allowed.

    Files already present are checked against their pinned sha256 (unless `verify` is False). Without
    `download`, all missing files are reported in one MissingDataError. Archive members are verified
    after extraction: GitHub regenerates archive zips, so only the member bytes are stable.
    """
    root = Path(root)
    present = [s for s in files if (root / s.name).is_file()]
    missing = [s for s in files if not (root / s.name).is_file()]
    if missing and not download:
        raise MissingDataError(
            f"{len(missing)} dataset file(s) missing in {root}:\n{describe_missing(root, missing)}\n"
            f"Put them in {root}, or pass --data.download true to fetch them."
        )
    if verify:
        for spec in present:
            verify_file(root / spec.name, spec)
    paths = {s.name: root / s.name for s in present}
    if not missing:
        return paths
    root.mkdir(parents=True, exist_ok=True)
    archives: dict[str, list[FileSpec]] = {}
    for spec in missing:
        if spec.url is not None:
            paths[spec.name] = _retrieve_direct(root, spec)
        elif spec.archive_url is not None:
            archives.setdefault(spec.archive_url, []).append(spec)
        else:
            raise MissingDataError(f"{root / spec.name} is missing and has no known URL: put it there by hand.")
    for url, specs in archives.items():
        paths.update(_retrieve_members(root, url, specs))
    for spec in missing:  # direct downloads were hashed by pooch already; this also covers archive members
        if verify:
            verify_file(paths[spec.name], spec)
    return paths
