"""Where Numba caches the compiled kernels, keyed by what the machine code depends on; a damaged cache rebuilt.

Numba's cache (``cache=True``) checks only the source file of each function, not the functions it calls from
other modules: after a change of kernels/vecmath.py (a ``git pull`` in an editable install), a cached kernel of
kernels/rbm.py would still run the old code. Its index does key each entry by the code-generation target
(``CPUCodegen.magic_tuple()``: the LLVM triple, the target CPU after ``NUMBA_CPU_NAME``, the CPU features after
``NUMBA_CPU_FEATURES`` / ``NUMBA_ENABLE_AVX``), but not by the settings that change the generated code besides:
``NUMBA_OPT``, loop and SLP vectorization, Intel SVML, ``NUMBA_BOUNDSCHECK``. So the folder is keyed by a hash of
every kernels/*.py and of those settings (settings_key()): any change of the sources or of the settings
compiles afresh, in its own folder, and a process configured for another target CPU finds no entry for its
target in Numba's index.

The folder is ``<base>/kernels-<16 hex digits>``: base is the user's ``NUMBA_CACHE_DIR`` if set, else
kernels/__pycache__ where it is writable, else ``~/.cache/rbm-sweep``. It is set as ``NUMBA_CACHE_DIR`` (Numba
rereads its configuration from the environment at every compilation), so processes started from this one (Ray
workers) inherit it; they compute the key from their own sources and settings.

A damaged cache file (truncated, garbled, or not one this module wrote) is never served: every kernel's cache
is a CheckedCache (guard(), called by kernels/__init__.py before any kernel compiles), whose files end in a
SHA-256 of their contents. A file that fails its digest or cannot be unpickled or rebuilt is logged (a warning
of the logger ``kernels.cache`` naming the folder and the file), the kernel's entries are removed, and the
kernel compiles again and is cached afresh. A cache that cannot be read or written at all (permissions, a full
disk) is logged and the kernel compiles without it. scan() checks every kernel's file of the folder the same way
without compiling anything, for a caller that wants the cache whole before it starts work.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
PATTERN = re.compile(r"kernels-[0-9a-f]{16}$")
log = logging.getLogger("kernels.cache")


def sources_key(folder: Path = HERE) -> str:
    """16 hex digits of the SHA-256 of the kernels' sources (file names and contents, in name order)."""
    h = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def codegen_settings() -> dict:
    """Numba's settings (from the environment, reread as Numba does before compiling) that change the machine
    code but are not in Numba's own cache index (see the module's docstring)."""
    from numba.core import config

    config.reload_config()
    opt = config.OPT
    return {"opt": "max" if getattr(opt, "is_opt_max", False) else int(opt),
            "loop_vectorize": int(config.LOOP_VECTORIZE), "slp_vectorize": int(config.SLP_VECTORIZE),
            "svml": bool(getattr(config, "USING_SVML", False)), "boundscheck": config.BOUNDSCHECK}


def settings_key(folder: Path = HERE) -> str:
    """16 hex digits of the SHA-256 of sources_key() and codegen_settings()."""
    text = sources_key(folder) + repr(sorted(codegen_settings().items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def cache_dir(environ=os.environ) -> Path:
    """The cache folder for the kernels' sources and Numba's settings as they are now (see the module's
    docstring)."""
    given = environ.get("NUMBA_CACHE_DIR", "")
    if given:
        base = Path(given)
        if PATTERN.match(base.name):  # set by this module in a parent process: its base, not its key
            base = base.parent
    elif _writable(HERE / "__pycache__"):
        base = HERE / "__pycache__"
    else:
        base = Path.home() / ".cache" / "rbm-sweep"
    return base / f"kernels-{settings_key()}"


def configure() -> Path:
    """Point Numba's cache at cache_dir() (call before any kernel is compiled); returns the folder."""
    folder = cache_dir()
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    from numba.core import config

    config.reload_config()
    return folder


# ------------------------------------------------------------------------------------------ damaged caches
TRAILER = b"\0rbm-sweep-sha256\0"
"""Every cache file this module writes ends in TRAILER and the SHA-256 of what precedes it (pickle ignores
bytes after its STOP, so Numba's own loader still reads such a file)."""


class Damaged(Exception):
    """A cache file whose digest does not match its contents."""


def _sealed(payload: bytes) -> bytes:
    return payload + TRAILER + hashlib.sha256(payload).digest()


def _unsealed(blob: bytes) -> bytes:
    """The contents of a sealed file, or Damaged."""
    n = len(TRAILER) + 32
    if len(blob) < n or blob[-n:-32] != TRAILER:
        raise Damaged("no digest at its end (truncated, or not written by kernels.cache)")
    payload = blob[:-n]
    if hashlib.sha256(payload).digest() != blob[-32:]:
        raise Damaged("its contents do not match their digest")
    return payload


def _read_index(raw: bytes) -> tuple:
    """(numba version, the index's payload) of an .nbi file's bytes; the payload still sealed."""
    f = io.BytesIO(raw)
    version = pickle.load(f)
    return version, f.read()


FOLDERS: set = set()
"""The folders Numba caches the kernels in (their Numba subfolder of the cache folder), as guard() found them."""


def _kernel_file(path: Path) -> bool:
    """A cache file of a kernel (``<module>.<function>-<line>.pyXY[.N].nb[ic]``), not of another function cached in
    the same folder (NUMBA_CACHE_DIR is the process's: a user's own ``cache=True`` functions land there too)."""
    module = path.name.split(".", 1)[0]
    return path.suffix in (".nbi", ".nbc") and (HERE / f"{module}.py").is_file()


def scan(folder: Path | None = None) -> list[str]:
    """Check every kernel's cache file in `folder` (default: the folders guard() found) without compiling: an
    index must unpickle and both kinds must match their digest. The damaged files are removed (with the warning)
    so that their kernels compile again; returns their names. Other functions' files are left alone."""
    damaged = []
    try:
        if folder is None:
            files = sorted(p for f in FOLDERS for p in Path(f).iterdir() if _kernel_file(p))
        else:  # Numba nests a folder per source folder
            files = sorted(p for p in Path(folder).rglob("*.nb[ic]") if _kernel_file(p))
    except OSError:
        return damaged
    for path in files:
        try:
            raw = path.read_bytes()
            if path.suffix == ".nbi":
                version, payload = _read_index(raw)
                payload = _unsealed(payload)
                if version == _numba_version():  # another Numba's index is not read (as Numba does)
                    pickle.loads(payload)
            else:
                _unsealed(raw)
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("cannot read the Numba cache file %s (%s); its kernel will compile without the cache",
                        path, exc)
            continue
        except Exception as exc:  # noqa: BLE001 - any failure to read a file back is damage
            _remove([path], path.parent, f"{path.name}: {_why(exc)}")
            damaged.append(path.name)
    return damaged


def _numba_version() -> str:
    import numba

    return numba.__version__


def _why(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, Damaged) else f"{type(exc).__name__}: {exc}"


def _remove(paths: list, folder: Path, why: str, what: str = "") -> None:
    gone = []
    for p in paths:
        try:
            p.unlink()
            gone.append(p.name)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("cannot remove the damaged Numba cache file %s: %s", p, exc)
    log.warning("damaged Numba cache in %s: %s; removed %s%s", folder, why, ", ".join(gone) or "nothing",
                f", compiling {what} again" if what else "")


def _checked_cache_class():
    """CheckedCache, defined on first use so that importing this module does not import Numba's caching."""
    global CheckedCache
    if CheckedCache is not None:
        return CheckedCache
    from numba.core.caching import FunctionCache, IndexDataCacheFile

    class CheckedFile(IndexDataCacheFile):
        """Numba's index and data files, sealed with a digest; `reading`: the file being read."""

        reading = None

        def _dump(self, obj):
            return _sealed(super()._dump(obj))

        def _load_index(self):
            self.reading = self._index_path
            try:
                with open(self._index_path, "rb") as f:
                    raw = f.read()
            except FileNotFoundError:
                return {}
            version, payload = _read_index(raw)
            if version != self._version:  # another Numba's: not unpickled (as Numba does)
                return {}
            stamp, overloads = pickle.loads(_unsealed(payload))
            return overloads if stamp == self._source_stamp else {}

        def _load_data(self, name):
            path = self._data_path(name)
            self.reading = path
            with open(path, "rb") as f:  # a file gone is a miss (Numba's load() catches OSError)
                raw = f.read()
            return pickle.loads(_unsealed(raw))

    class _CheckedCache(FunctionCache):
        """Numba's per-function cache, whose damaged files are removed and compiled again (module docstring)."""

        def __init__(self, py_func):
            super().__init__(py_func)
            old = self._cache_file
            self._cache_file = CheckedFile(self._cache_path, self._impl.filename_base, old._source_stamp)

        @property
        def kernel(self) -> str:
            return f"{self._py_func.__module__}.{self._py_func.__qualname__}"

        def _entries(self) -> list:
            base = self._impl.filename_base
            folder = Path(self._cache_path)
            try:
                names = [p for p in folder.iterdir() if p.name == f"{base}.nbi"
                         or (p.name.startswith(base + ".") and p.name.endswith(".nbc")
                             and p.name[len(base) + 1:-4].isdigit())]
            except OSError:
                names = []
            return sorted(names)

        def _load_overload(self, sig, target_context):
            self._cache_file.reading = None
            try:
                return super()._load_overload(sig, target_context)
            except OSError as exc:
                log.warning("cannot read the Numba cache in %s (%s); compiling %s without it", self._cache_path,
                            exc, self.kernel)
                return None
            except Exception as exc:  # noqa: BLE001 - what cannot be read back is damage: compile afresh
                where = Path(self._cache_file.reading).name if self._cache_file.reading else "a cached kernel"
                _remove(self._entries(), Path(self._cache_path), f"{where}: {_why(exc)}", self.kernel)
                return None

        def _save_overload(self, sig, data):
            try:
                super()._save_overload(sig, data)
            except OSError as exc:
                log.warning("cannot write the Numba cache in %s (%s); %s stays compiled in this process only",
                            self._cache_path, exc, self.kernel)
            except Exception as exc:  # noqa: BLE001 - a damaged index met while saving: removed, saved afresh
                _remove(self._entries(), Path(self._cache_path), f"index of {self.kernel}: {_why(exc)}")
                try:
                    super()._save_overload(sig, data)
                except Exception as again:  # noqa: BLE001 - the compiled kernel serves this process anyway
                    log.warning("cannot write the Numba cache in %s (%s); %s stays compiled in this process only",
                                self._cache_path, _why(again), self.kernel)

    CheckedCache = _CheckedCache
    return CheckedCache


CheckedCache = None


def guard(modules) -> int:
    """Give every cached Numba kernel defined in `modules` a CheckedCache (before it compiles: a kernel already
    compiled keeps what it has); returns how many."""
    from numba.core.caching import FunctionCache
    from numba.core.dispatcher import Dispatcher

    cls = _checked_cache_class()
    n = 0
    for mod in modules:
        for obj in vars(mod).values():
            if isinstance(obj, Dispatcher) and obj.py_func.__module__ == mod.__name__ \
                    and type(getattr(obj, "_cache", None)) is FunctionCache:
                obj._cache = cls(obj.py_func)
                FOLDERS.add(obj._cache.cache_path)
                n += 1
    return n
