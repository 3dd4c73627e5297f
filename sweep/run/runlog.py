"""The log of one run, in a file beside the store: what the driver did and said, and every failed cell's
traceback. ``<store>.logs/run-<UTC time>-<pid>.log`` for a local store, ``sweep-logs/<sweep>/...`` in the
working folder for an object store. Logging never fails a run: a log that cannot be written (a full or
read-only disk) is dropped."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional


def log_path(url: str, local_root: Optional[str], sweep_name: str) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder = Path(local_root + ".logs") if local_root else Path("sweep-logs") / sweep_name
    return folder / f"run-{stamp}-{os.getpid()}.log"


class RunLog:
    """Lines with a UTC time stamp, appended and flushed as they come."""

    def __init__(self, path: Optional[Path]):
        self.path, self._f = path, None
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._f = open(path, "a", encoding="utf-8")
            except OSError:
                self.path = None

    def write(self, text: str) -> None:
        if self._f is None:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        try:
            for line in str(text).splitlines() or [""]:
                self._f.write(f"{stamp} {line}\n")
            self._f.flush()
        except OSError:
            self.close()
            self.path = None

    def close(self) -> None:
        if self._f is not None:
            try:
                self._f.close()
            except OSError:
                pass
            self._f = None
