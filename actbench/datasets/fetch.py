"""``actbench data fetch``: download a dataset's official files into the data directory, verified.

Each file of :mod:`actbench.datasets.official_files` is streamed to a temp file next to its destination,
checked against the table's size and sha256, fsynced and only then renamed over the destination
(``os.replace``, atomic). So a destination file is either absent or exactly the official bytes: a failed
or interrupted download leaves neither a partial file nor a temp file, and files verified before it stay.
A file already present with the right checksum is not downloaded again (unless ``force``).

Transient failures (connection errors, timeouts, HTTP 429/5xx) are retried a few times; an HTTP error
such as 404, or bytes that do not match the table, stop the fetch with an :class:`ActbenchError` naming
the URL, the file, what was expected and what was found.

``mirror`` (or ``ACTBENCH_FETCH_MIRROR``) replaces ``https://raw.githubusercontent.com``: the file is
then read from ``<mirror>/<owner>/<repo>/<branch>/<path>`` (tests serve ``../shared/data`` that way).

>>> paths = fetch("ego4d-goalstep", "/tmp/actbench-data")     # doctest: +SKIP
>>> [p.name for p in paths]                                    # doctest: +SKIP
['goalstep_valid.json', 'LICENSE']
"""

from __future__ import annotations

import hashlib
import http.client
import os
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Literal

from actbench.datasets.location import resolve_data_dir
from actbench.datasets.official_files import GITHUB_RAW, OfficialFile, official_dataset
from actbench.errors import ActbenchError, describe

ENV_MIRROR = "ACTBENCH_FETCH_MIRROR"
TIMEOUT_S = 60.0  # per blocking socket operation, not per file
ATTEMPTS = 3
RETRY_DELAYS_S = (1.0, 4.0)  # sleep before the 2nd and 3rd attempt
RETRY_HTTP_STATUS = frozenset({408, 429, 500, 502, 503, 504})
USER_AGENT = "actbench-data-fetch"
_CHUNK = 1 << 16

Status = Literal["present", "fetched", "replaced"]


@dataclass(frozen=True)
class FetchEvent:
    """What happened to one file: ``present`` (right checksum, kept), ``fetched`` or ``replaced``."""

    status: Status
    file: OfficialFile
    path: Path
    url: str | None  # None when nothing was downloaded


class _WriteError(Exception):
    """A local write failed (disk full, permissions): never retried, reported against the file."""

    def __init__(self, error: OSError):
        super().__init__(error)
        self.error = error


def fetch(
    dataset: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    mirror: str | None = None,
    force: bool = False,
    progress: Callable[[FetchEvent], None] | None = None,
) -> list[Path]:
    """Make ``<data_dir>/<dataset>/`` hold every official file of ``dataset``; return their paths.

    ``data_dir`` follows :func:`~actbench.datasets.location.resolve_data_dir` (None: the environment
    variable or the per-user cache). ``force`` downloads even files that are already correct.
    ``progress`` is called once per file, after it is settled.
    """
    table = official_dataset(dataset)
    base = mirror_base(mirror)
    root = resolve_data_dir(data_dir) / table.name
    if table.manual and not table.files:
        raise ActbenchError(f"{table.name}: the files cannot be downloaded without a licence or request form: "
                            f"{table.manual}; place them under {root}, then run `actbench data check {table.name}`")
    paths: list[Path] = []
    for official in table.files:
        dest = root / official.dest
        existed = dest.exists()
        if existed and not force and file_matches(dest, official):
            event = FetchEvent("present", official, dest, None)
        else:
            url = official.url(base)
            (_download_and_unpack if official.unpack else _download)(url, dest, official)
            event = FetchEvent("replaced" if existed else "fetched", official, dest, url)
        paths.append(dest)
        if progress is not None:
            progress(event)
    return paths


def mirror_base(mirror: str | None = None) -> str:
    """The base URL files are read from: ``mirror``, else ``ACTBENCH_FETCH_MIRROR``, else GitHub raw."""
    source, value = ("--mirror", mirror) if mirror else (ENV_MIRROR, os.environ.get(ENV_MIRROR))
    if not value:
        return GITHUB_RAW
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ActbenchError(
            f"{source}: expected an http:// or https:// base URL that stands in for {GITHUB_RAW} "
            f"(e.g. http://127.0.0.1:8000), found {describe(value)}"
        )
    return value.rstrip("/")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_matches(path: Path, official: OfficialFile) -> bool:
    """True when ``path`` is a file with the official size and sha256 (size first: it is free).

    An unpinned file (or an unpacked folder) counts as present when it exists: its check is the
    dataset's format validation (``actbench data check``), which ``data fetch`` runs after every fetch.
    """
    try:
        if official.unpack:
            return path.is_dir() and any(path.iterdir())
        if not official.pinned:
            return path.is_file() and path.stat().st_size > 0
        return path.is_file() and path.stat().st_size == official.size and sha256_of(path) == official.sha256
    except OSError:
        return False


def _expected(official: OfficialFile) -> str:
    if not official.pinned:
        return "the upstream file (not pinned: checked by the dataset's format validation)"
    return f"{official.size} bytes with sha256 {official.sha256}"


def _download(url: str, dest: Path, official: OfficialFile) -> None:
    """Download ``url`` to ``dest`` atomically, or raise with nothing left behind."""
    # A unique hidden name beside the destination (same file system, so the rename is atomic). Unlike
    # mkstemp's 0600, mode 0666 lets the umask decide, as for any file the user creates.
    tmp = dest.parent / f".{dest.name}.{secrets.token_hex(6)}.part"
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as error:
        raise ActbenchError(f"{dest.parent}: cannot create the file there: {error.strerror or error}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            size, digest = _download_with_retries(url, out, official)
            out.flush()
            os.fsync(out.fileno())
        if official.pinned and size > official.size:
            found = f"more than {official.size} bytes (the download was stopped there)"
        else:
            found = f"{size} bytes with sha256 {digest}"
        if official.pinned and (size != official.size or digest != official.sha256):
            raise ActbenchError(
                f"{url}: downloaded bytes do not match the official {dest}: expected {_expected(official)}, "
                f"found {found}; nothing was written (the file changed upstream or the mirror serves "
                "other bytes)"
            )
        os.replace(tmp, dest)
    except _WriteError as error:
        raise ActbenchError(f"{dest}: cannot write the download: {error.error.strerror or error.error}") from None
    except OSError as error:  # fsync / replace
        raise ActbenchError(f"{dest}: cannot write the download: {error.strerror or error}") from None
    finally:
        # Reached on success too, after the rename: then the temp name no longer exists.
        tmp.unlink(missing_ok=True)


def _download_with_retries(url: str, out: BinaryIO, official: OfficialFile) -> tuple[int, str]:
    last = ""
    for attempt in range(1, ATTEMPTS + 1):
        out.seek(0)
        out.truncate()
        try:
            return _attempt(url, out, official)
        except urllib.error.HTTPError as error:
            error.close()
            last = f"HTTP {error.code} {error.reason}"
            if error.code not in RETRY_HTTP_STATUS:
                raise ActbenchError(
                    f"{url}: {last}; expected the official file for {official.dest} "
                    f"({_expected(official)}); nothing was written"
                ) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            reason = getattr(error, "reason", None) or error
            last = f"{type(error).__name__}: {reason}"
        if attempt < ATTEMPTS:
            time.sleep(RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S)) - 1])
    raise ActbenchError(
        f"{url}: download failed after {ATTEMPTS} attempts ({last}); expected the official file for "
        f"{official.dest} ({_expected(official)}); nothing was written (check the network or pass --mirror)"
    )


def _attempt(url: str, out: BinaryIO, official: OfficialFile) -> tuple[int, str]:
    """One GET, streamed into ``out``; stops one chunk past the official size so a wrong file is bounded."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    digest = hashlib.sha256()
    size = 0
    limit = official.size if official.pinned else float("inf")
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        while size <= limit:
            chunk = response.read(_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            digest.update(chunk)
            try:
                out.write(chunk)
            except OSError as error:
                raise _WriteError(error) from error
    return size, digest.hexdigest()


def _download_and_unpack(url: str, dest: Path, official: OfficialFile) -> None:
    """Download an archive and extract it into the folder ``dest``, atomically: the members go to a hidden
    folder beside ``dest``, which is renamed over it only once every member is out."""
    import shutil
    import tarfile
    import zipfile

    stage = dest.parent / f".{dest.name}.{secrets.token_hex(6)}.unpack"
    archive = stage.with_suffix(".archive")
    try:
        _download(url, archive, official)
        stage.mkdir(parents=True)
        try:
            if zipfile.is_zipfile(archive):
                with zipfile.ZipFile(archive) as bundle:
                    _check_members(url, [m.filename for m in bundle.infolist()])
                    bundle.extractall(stage)
            elif tarfile.is_tarfile(archive):
                with tarfile.open(archive) as bundle:
                    _check_members(url, bundle.getnames())
                    bundle.extractall(stage, filter="data")
            else:
                raise ActbenchError.bad_value(url, "content", "a .zip or .tar(.gz) archive", "another kind of file")
        except (zipfile.BadZipFile, tarfile.TarError, EOFError) as error:
            raise ActbenchError.bad_value(url, "content", "a readable archive", str(error)) from None
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(stage, dest)
    finally:
        archive.unlink(missing_ok=True)
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)


def _check_members(url: str, names: list[str]) -> None:
    """Refuse members that would land outside the folder (absolute paths, ``..``)."""
    for name in names:
        parts = Path(name).parts
        if name.startswith(("/", "\\")) or ".." in parts:
            raise ActbenchError.bad_value(url, "member", "paths inside the archive's folder", name)
