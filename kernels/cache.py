"""Where Numba caches the compiled kernels: one folder per version of the kernels' sources.

Numba's cache (``cache=True``) checks only the source file of each function, not the functions it calls from
other modules: after a change of kernels/vecmath.py (a ``git pull`` in an editable install), a cached kernel of
kernels/rbm.py would still run the old code. Keying the folder by a hash of every kernels/*.py means that any
change of the sources compiles afresh, in a new folder.

The folder is ``<base>/kernels-<16 hex digits>``: base is the user's ``NUMBA_CACHE_DIR`` if set, else
kernels/__pycache__ where it is writable, else ``~/.cache/rbm-sweep``. It is set as ``NUMBA_CACHE_DIR`` (Numba
rereads its configuration from the environment at every compilation), so processes started from this one (Ray
workers) inherit it; they compute the same key from the same sources.
"""

import hashlib
import os
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
PATTERN = re.compile(r"kernels-[0-9a-f]{16}$")


def sources_key(folder: Path = HERE) -> str:
    """16 hex digits of the SHA-256 of the kernels' sources (file names and contents, in name order)."""
    h = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def cache_dir(environ=os.environ) -> Path:
    """The cache folder for the kernels' sources as they are now (see the module's docstring)."""
    given = environ.get("NUMBA_CACHE_DIR", "")
    if given:
        base = Path(given)
        if PATTERN.match(base.name):  # set by this module in a parent process: its base, not its key
            base = base.parent
    elif _writable(HERE / "__pycache__"):
        base = HERE / "__pycache__"
    else:
        base = Path.home() / ".cache" / "rbm-sweep"
    return base / f"kernels-{sources_key()}"


def configure() -> Path:
    """Point Numba's cache at cache_dir() (call before any kernel is compiled); returns the folder."""
    folder = cache_dir()
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    from numba.core import config

    config.reload_config()
    return folder
