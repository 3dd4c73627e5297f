"""Where a store lives: a local folder or an fsspec URL (``s3://bucket/path``), and the few file operations the
store needs on it, with the same contract on both.

- Paths are paths, never patterns or URL chains: a local store is handled with ``os`` (``results/a[1].zarr``
  and ``a::b.zarr`` are folders like any other) and given to zarr as a ``LocalStore`` object; an object store
  is reached through its fsspec filesystem by exact keys (no glob expansion).
- ``write`` is atomic: a local file is written aside and renamed into place (the aside file is removed when
  the write fails, whatever the failure), an object is one PUT. ``create`` is exclusive: a local file appears
  with its content by ``os.link`` (fails when the name exists), an object by a conditional PUT
  (``If-None-Match: *``).
- Environment failures (a full disk, a read-only mount, no permission, an unreachable object store) are
  recognised by :func:`environment_failure`, which gives the one-line cause a user sees.
"""

from __future__ import annotations

import asyncio
import errno
import os
import uuid
from typing import Iterable, Optional

ENVIRONMENT_ERRNOS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
                      errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
                      errno.EPERM: "operation not permitted", errno.ENAMETOOLONG: "file name too long",
                      errno.EIO: "input/output error", errno.ENOTDIR: "a path component is a file, not a folder",
                      errno.ELOOP: "too many levels of symbolic links (a symbolic link loop)"}


def environment_failure(exc: BaseException) -> Optional[str]:
    """The cause, in a few words, when `exc` is a failure of the storage environment rather than of the
    program (a full disk, a read-only mount, no permission, an object store that cannot be reached or refuses
    the credentials); None otherwise. Looks through Ray's task errors and exception chains."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS:
            return ENVIRONMENT_ERRNOS[exc.errno]
        name = type(exc).__name__
        if name in ("EndpointConnectionError", "ConnectTimeoutError", "ClientConnectorError",
                    "ServerDisconnectedError", "ConnectionRefusedError") or isinstance(exc, ConnectionError):
            return f"cannot reach the object store ({name}: {' '.join(str(exc).split())[:160]})"
        if name in ("NoCredentialsError", "PartialCredentialsError", "InvalidAccessKeyId",
                    "SignatureDoesNotMatch") or isinstance(exc, PermissionError):
            return f"access refused ({name}: {' '.join(str(exc).split())[:160]})"
        exc = getattr(exc, "cause", None) or exc.__cause__ or exc.__context__
    return None


class Location:
    """A store's place: `url` as given, `root` (an absolute folder, or the object store's bucket/path),
    `local`, and for object stores `fs` (fsspec) and `storage_options`."""

    def __init__(self, url: str, storage_options: Optional[dict] = None):
        self.url = str(url)
        self.storage_options = storage_options or None
        self.local = "://" not in self.url or self.url.startswith("file://")
        if self.local:
            path = self.url[len("file://"):] if self.url.startswith("file://") else self.url
            self.root = os.path.abspath(os.path.expanduser(path))
            self.fs = None
        else:
            import fsspec

            protocol = self.url.split("://", 1)[0]
            self.fs = fsspec.filesystem(protocol, **(storage_options or {}))
            self.root = self.fs._strip_protocol(self.url).rstrip("/")
        self._zarr = None

    def __repr__(self) -> str:
        return f"Location({self.url!r})"

    # -- zarr
    def zarr_store(self):
        """The zarr Store object of this location (given to zarr and xarray instead of a path string, so that
        no character of a local path is read as a URL or pattern)."""
        if self._zarr is None:
            from zarr.storage import FsspecStore, LocalStore

            self._zarr = LocalStore(self.root) if self.local else FsspecStore.from_url(
                self.url, storage_options=self.storage_options)
        return self._zarr

    # -- paths
    def check_path(self) -> None:
        """Refuse (StoreError) a local root that is a symbolic link loop or a link to nothing: neither can hold a
        store, and the operating system's own errors for them ("File exists") name neither."""
        if not self.local or not os.path.islink(self.root):
            return
        from ..config.errors import StoreError

        try:
            os.stat(self.root)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise StoreError(f"a symbolic link loop ({self.root} leads back to itself); remove the "
                                 "link or use another --store path") from None
            if isinstance(exc, FileNotFoundError):
                raise StoreError(f"a symbolic link to {os.readlink(self.root)}, which does not exist; "
                                 "create that folder, or remove the link") from None
            raise

    def path(self, key: str = "") -> str:
        return f"{self.root}/{key}" if key else self.root

    def exists(self, key: str = "") -> bool:
        if self.local:
            return os.path.exists(self.path(key))
        return self.fs.exists(self.path(key))

    def is_folder(self) -> bool:
        """Whether the root is a folder (local) or a prefix holding objects (object store)."""
        if self.local:
            return os.path.isdir(self.root)
        return bool(self.fs.exists(self.root) and self.fs.isdir(self.root))

    def is_file(self) -> bool:
        if self.local:
            return os.path.isfile(self.root)
        return bool(self.fs.exists(self.root) and self.fs.isfile(self.root))

    def list(self, key: str = "") -> list[str]:
        """Names directly below `key` (files and folders), [] where there is nothing."""
        if self.local:
            try:
                return sorted(os.listdir(self.path(key)))
            except (FileNotFoundError, NotADirectoryError):
                return []
        try:
            return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(self.path(key), detail=False,
                                                                                 refresh=True))
        except FileNotFoundError:
            return []

    def files(self) -> list[str]:
        """Every file below the root, as keys relative to it."""
        if self.local:
            out = []
            for folder, _, names in os.walk(self.root):
                rel = os.path.relpath(folder, self.root)
                out += [n if rel == "." else f"{rel}/{n}" for n in names]
            return sorted(out)
        self.fs.invalidate_cache(self.root)
        return sorted(p[len(self.root) + 1:] for p in self.fs.find(self.root) if p.startswith(self.root + "/"))

    # -- reading
    def read(self, key: str) -> Optional[bytes]:
        """The bytes of `key`, or None when it does not exist."""
        try:
            if self.local:
                with open(self.path(key), "rb") as f:
                    return f.read()
            return self.fs.cat_file(self.path(key))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def read_many(self, keys: Iterable[str]) -> dict:
        """{key: bytes} of the keys that exist (an object store reads them concurrently)."""
        keys = list(keys)
        if self.local:
            return {k: v for k in keys if (v := self.read(k)) is not None}

        async def one(k):
            try:
                return k, await self.fs._cat_file(self.path(k))
            except FileNotFoundError:
                return k, None

        async def every():
            return await asyncio.gather(*(one(k) for k in keys))

        from fsspec.asyn import sync

        return {k: v for k, v in sync(self.fs.loop, every) if v is not None}

    # -- writing
    def makedirs(self, key: str = "") -> bool:
        """Make the folder `key` (local only; object stores have none); returns whether it was made now."""
        if not self.local:
            return False
        path = self.path(key)
        if os.path.isdir(path):
            return False
        self.check_path()
        os.makedirs(path, exist_ok=True)
        return True

    def write(self, key: str, data: bytes) -> None:
        """Write `key` whole and atomically (readers see the old or the new content, never a part)."""
        if not self.local:
            self.fs.pipe_file(self.path(key), data)
            return
        path = self.path(key)
        folder = os.path.dirname(path)
        if not os.path.isdir(folder):
            os.makedirs(folder, exist_ok=True)
        tmp = f"{path}.{uuid.uuid4().hex[:12]}.partial"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            _unlink(tmp)
            raise

    def write_many(self, files: dict) -> None:
        """Write {key: bytes}, each atomically (an object store gets one PUT per object, concurrently)."""
        if not files:
            return
        if self.local:
            made = set()
            for key, data in files.items():
                folder = os.path.dirname(self.path(key))
                if folder not in made:
                    os.makedirs(folder, exist_ok=True)
                    made.add(folder)
                self.write(key, data)
        else:
            self.fs.pipe({self.path(k): v for k, v in files.items()})

    def create(self, key: str, data: bytes) -> bool:
        """Create `key` with `data` only if it does not exist; returns whether this call created it. Exactly one
        of several concurrent callers succeeds (os.link on a local file system; a conditional PUT,
        If-None-Match, on an object store)."""
        if not self.local:
            try:
                self.fs.pipe_file(self.path(key), data, mode="create")
                return True
            except FileExistsError:
                return False
            except OSError as exc:
                if "pre-condition" in str(exc) or "PreconditionFailed" in str(exc) or "412" in str(exc):
                    return False
                raise
        path = self.path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{uuid.uuid4().hex[:12]}.partial"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
            return True
        finally:
            _unlink(tmp)

    def delete(self, key: str) -> None:
        """Remove the file `key` (nothing when it is gone already)."""
        try:
            if self.local:
                os.unlink(self.path(key))
            else:
                self.fs.rm_file(self.path(key))
        except FileNotFoundError:
            pass

    def delete_many(self, keys: Iterable[str]) -> None:
        for k in keys:
            self.delete(k)

    def remove_empty_folders(self) -> None:
        """Remove the folders below the root (and the root) left empty (local only)."""
        if not self.local:
            return
        for folder, _, _ in sorted(os.walk(self.root), key=lambda x: -len(x[0])):
            try:
                os.rmdir(folder)
            except OSError:
                pass


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
