"""The run lease: who may change a store. One driver at a time holds it; only the holder creates, grows,
heals or repairs a store or writes its cell table.

Layout: ``<store>/_lease/<generation>.json`` (generation: ten digits), each ``{token, host, pid, pid_start,
started, heartbeat, seconds, command}``. The holder is the driver whose file is the highest generation.

- Acquire: read the highest generation; if its holder is live, refuse (LeaseHeld, naming it); else create the
  next generation *exclusively* (os.link on a file system, a conditional PUT on an object store: of rivals
  started at one instant exactly one creates it), then check that no higher one appeared, and remove the
  older generations.
- Live: a holder on this host is live while its process runs (pid and process start time) and its heartbeat
  is younger than 4 lease periods (a stopped process loses its lease); a holder on another host while its
  heartbeat is younger than one lease period (``SWEEP_LEASE_SECONDS``, default 30 s; clocks in sync).
- Renew: a heartbeat thread rewrites the holder's own file every period / 6. Check (before every write of
  the cell table, and at every renewal): the holder's file must still be the highest generation and hold its
  token; otherwise the lease is lost (LeaseLost) and the driver stops writing. A driver stopped longer than
  its lease (SIGSTOP, a suspended laptop) finds it taken on waking and stops.
- Release: the holder removes its file. ``break_lease`` (``sweep unlock``) removes a lease whose holder is
  gone and refuses a live one.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Optional

from .errors import StoreError
from .location import Location

LEASE_DIR = "_lease"


def lease_seconds() -> float:
    """The lease period: SWEEP_LEASE_SECONDS (default 30 s)."""
    try:
        return max(0.5, float(os.environ.get("SWEEP_LEASE_SECONDS", "30")))
    except ValueError:
        return 30.0


class LeaseError(StoreError):
    """The lease refuses: held by a live driver, or lost."""


@dataclass
class Holder:
    """What a lease file says about the driver holding it."""

    generation: int
    token: str = ""
    host: str = ""
    pid: int = 0
    pid_start: str = ""
    started: str = ""
    heartbeat: float = 0.0
    seconds: float = 30.0
    command: str = ""

    def describe(self) -> str:
        since = f", since {self.started}" if self.started else ""
        return f"host {self.host}, pid {self.pid}{since}"


class LeaseHeld(LeaseError):
    def __init__(self, url: str, holder: Holder):
        self.holder = holder
        super().__init__(f"{url} is being run by another `sweep run` ({holder.describe()}); wait for it to finish, "
                         "or stop it, then rerun to resume (`sweep unlock` frees a store whose driver is gone)")


class LeaseLost(LeaseError):
    def __init__(self, url: str, holder: Optional[Holder]):
        self.holder = holder
        who = f"another `sweep run` ({holder.describe()})" if holder else "`sweep unlock` or another run"
        super().__init__(f"{url}: this run lost its lease on the store to {who}, most likely while it was stopped "
                         "or cut off for longer than the lease; it stopped without writing more. Cells it left "
                         "running are rerun by whoever holds the store now, or by the next `sweep run`")


def _process_start(pid: int) -> Optional[str]:
    """The start time of process `pid` (clock ticks since boot, from /proc), None when it does not run: with the
    pid it names a process uniquely, so a reused pid is not taken for the holder."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return None if fields[0] == "Z" else fields[19]
    except (OSError, IndexError):
        return None


def is_live(h: Holder, now: Optional[float] = None) -> bool:
    """Whether the holder of a lease still holds it (see the module docstring)."""
    now = time.time() if now is None else now
    age = now - float(h.heartbeat)
    if h.host == socket.gethostname():
        start = _process_start(int(h.pid))
        if start is None or (h.pid_start and start != h.pid_start):
            return False
        return age < 4 * float(h.seconds)
    return age < float(h.seconds)


def _key(generation: int) -> str:
    return f"{LEASE_DIR}/{generation:010d}.json"


def generations(loc: Location) -> list[int]:
    """The lease generations present, in order."""
    out = []
    for name in loc.list(LEASE_DIR):
        stem = name[:-len(".json")] if name.endswith(".json") else ""
        if stem.isdigit():
            out.append(int(stem))
    return sorted(out)


def read_holder(loc: Location) -> Optional[Holder]:
    """The holder named by the highest lease generation (live or not), or None when there is none."""
    gens = generations(loc)
    return _read(loc, gens[-1]) if gens else None


def _read(loc: Location, generation: int) -> Holder:
    raw = loc.read(_key(generation))
    try:
        d = json.loads(raw.decode()) if raw else {}
        return Holder(generation, **{k: v for k, v in d.items() if k in Holder.__dataclass_fields__ and k != "generation"})
    except (ValueError, TypeError, UnicodeDecodeError):
        return Holder(generation)  # unreadable: no heartbeat, so never live


def live_holder(loc: Location) -> Optional[Holder]:
    """The live holder of the store's lease, or None."""
    h = read_holder(loc)
    return h if h is not None and is_live(h) else None


class Lease:
    """A held lease (from :meth:`acquire`). ``check()`` before every write; ``release()`` at the end;
    ``heartbeat()`` as a context manager renews it in a thread."""

    def __init__(self, loc: Location, generation: int, holder: Holder):
        self.loc, self.generation, self.holder = loc, generation, holder
        self.lost: Optional[LeaseLost] = None
        self.renewed = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @classmethod
    def acquire(cls, loc: Location, command: str = "") -> "Lease":
        """Take the store's lease, or raise LeaseHeld naming its live holder. A local store's folder is made
        when it does not exist yet (the lease lives in it)."""
        for _ in range(5):
            gens = generations(loc)
            if gens:
                h = _read(loc, gens[-1])
                if is_live(h):
                    raise LeaseHeld(loc.url, h)
            generation = gens[-1] + 1 if gens else 0
            pid = os.getpid()
            holder = Holder(generation, token=uuid.uuid4().hex, host=socket.gethostname(), pid=pid,
                            pid_start=_process_start(pid) or "",
                            started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), heartbeat=time.time(),
                            seconds=lease_seconds(), command=command)
            if not loc.create(_key(generation), _body(holder)):
                continue  # a rival took this generation first: look again (it is live, so we refuse)
            now = generations(loc)
            if now[-1] != generation:  # a rival read an older listing and went higher: it holds the store
                loc.delete(_key(generation))
                continue
            for g in now[:-1]:
                loc.delete(_key(g))
            return cls(loc, generation, holder)
        h = read_holder(loc)
        raise LeaseHeld(loc.url, h or Holder(-1))

    def check(self) -> None:
        """Raise LeaseLost unless this lease is still the store's (its file the highest generation, with its
        token). Called before every write of the cell table."""
        if self.lost is not None:
            raise self.lost
        gens = generations(self.loc)
        top = gens[-1] if gens else None
        if top != self.generation or _read(self.loc, top).token != self.holder.token:
            self.lost = LeaseLost(self.loc.url, _read(self.loc, top) if top is not None else None)
            raise self.lost

    def renew(self) -> None:
        """Check the lease, then rewrite this holder's file with a new heartbeat."""
        with self._lock:
            self.check()
            self.holder.heartbeat = time.time()
            self.loc.write(_key(self.generation), _body(self.holder))
            self.renewed = time.monotonic()

    def release(self) -> None:
        """Give the lease up (remove this holder's file, when it is still ours)."""
        self.stop_heartbeat()
        with self._lock:
            if self.lost is None and _read(self.loc, self.generation).token == self.holder.token:
                self.loc.delete(_key(self.generation))

    # -- renewal in the background
    def start_heartbeat(self, every: Optional[float] = None) -> None:
        every = every or max(0.1, self.holder.seconds / 6)

        def beat():
            while not self._stop.wait(every):
                try:
                    self.renew()
                except LeaseLost:
                    return
                except Exception:  # noqa: BLE001 - a missed renewal is retried; the lease outlives several
                    pass

        self._thread = threading.Thread(target=beat, name="sweep-lease", daemon=True)
        self._thread.start()

    def stop_heartbeat(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)


def _body(h: Holder) -> bytes:
    d = asdict(h)
    del d["generation"]
    return json.dumps(d, sort_keys=True).encode()


def break_lease(loc: Location) -> Optional[Holder]:
    """Remove the lease of a driver that is gone (`sweep unlock`); returns its holder, None when there was no
    lease. Raises LeaseHeld when the holder is live."""
    gens = generations(loc)
    if not gens:
        return None
    h = _read(loc, gens[-1])
    if is_live(h):
        raise LeaseHeld(loc.url, h)
    for g in gens:
        loc.delete(_key(g))
    return h
