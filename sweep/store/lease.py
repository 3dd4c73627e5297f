"""The run lease: who may change a store. One driver at a time holds it; only the holder creates, grows,
heals or repairs a store or writes its cell table.

Layout: ``<store>/_lease/<generation>.json`` (generation: ten digits), each ``{token, host, pid, pid_start,
boot, started, heartbeat, beat, mono, seconds, command}``. The holder is the driver whose file is the highest
generation. ``_lease/forced-unlock.json`` lists the leases `sweep unlock --force` removed; the next run takes
the list into its run record.

- Acquire: read the highest generation; if its holder is live, refuse (LeaseHeld, naming it); else create the
  next generation *exclusively* (os.link on a file system, a conditional PUT on an object store: of rivals
  started at one instant exactly one creates it), then check that no higher one appeared, and remove the
  older generations.
- Live: no wall clock of one machine is ever compared with another's. Staleness is judged on the observer's
  own clocks:
  * this process's own lease is live;
  * a holder on this host (same host name and boot) whose process is gone (pid and process start time) is
    gone at once; one whose process runs and whose last renewal, on this host's monotonic clock (`mono`,
    shared by every process of one boot), is younger than one lease period is live at once;
  * anything else (a holder on another host, a stopped or wedged process on this one, a file this module
    cannot trust) is *watched*: the observer reads the file, then rereads it for one lease period measured
    on its own monotonic clock. A holder renews every period / 6, incrementing its counter `beat`, so a file
    that changes is live, and a file unchanged for the whole period is gone (and may be taken over or
    removed). The period is the holder's own `seconds`; for an untrusted file the observer's
    ``SWEEP_LEASE_SECONDS``.
- Untrusted files: unparseable JSON, a folder where the file belongs, a value of the wrong type, a negative or
  non-finite number, a `seconds` outside [MIN_SECONDS, MAX_SECONDS]: never used for any decision; the file
  counts as a holder that is gone once it is seen unchanged for one observer's lease period, and every message
  names the file and what is wrong with it (InvalidLease.problem), never a traceback. So a killed driver whose
  clock ran ahead, or a heartbeat of 1e999, blocks a store for one lease period at most, and a rival whose
  clock runs behind never takes a live lease.
- Renew: a heartbeat thread rewrites the holder's own file every period / 6 (beat + 1). It renews only while
  the process's main thread runs and, once the run was told to stop (`wind_down`), for at most two more
  periods: a driver wedged after a signal loses its lease instead of holding the store forever. Check (before
  every write of the cell table, and at every renewal): the holder's file must still be the highest
  generation and hold its token; otherwise the lease is lost (LeaseLost) and the driver stops writing. A
  driver stopped longer than its lease (SIGSTOP, a suspended laptop) finds it taken on waking and stops.
- Release: the holder removes its file. ``break_lease`` (``sweep unlock``) removes a lease whose holder is
  gone (watching it as acquire does) and refuses a live one; with ``force`` it removes it even when it looks
  live, for an operator who knows the driver is gone, and notes it for the next run record.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Optional

from ..config.errors import StoreError
from .location import Location

LEASE_DIR = "_lease"
FORCED = f"{LEASE_DIR}/forced-unlock.json"
MIN_SECONDS, MAX_SECONDS = 0.5, 3600.0
FIELDS = ("token", "host", "pid", "pid_start", "boot", "started", "heartbeat", "beat", "mono", "seconds", "command")

log = logging.getLogger(__name__)


def lease_seconds() -> float:
    """The lease period: SWEEP_LEASE_SECONDS (default 30 s), within [MIN_SECONDS, MAX_SECONDS]."""
    try:
        value = float(os.environ.get("SWEEP_LEASE_SECONDS", "30"))
    except ValueError:
        return 30.0
    return min(MAX_SECONDS, max(MIN_SECONDS, value)) if math.isfinite(value) else 30.0


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


BOOT = _boot_id()


class LeaseError(StoreError):
    """The lease refuses: held by a live driver, or lost, or its folder unusable."""


@dataclass
class Holder:
    """What a lease file says about the driver holding it. `problem`: why the file cannot be trusted ("" when
    it can); `raw`: its bytes as read (what a watch compares)."""

    generation: int
    token: str = ""
    host: str = ""
    pid: int = 0
    pid_start: str = ""
    boot: str = ""
    started: str = ""
    heartbeat: float = 0.0
    beat: int = 0
    mono: float = 0.0
    seconds: float = 30.0
    command: str = ""
    problem: str = ""
    raw: Optional[bytes] = None

    @property
    def key(self) -> str:
        return _key(self.generation)

    def describe(self) -> str:
        if self.problem:
            return f"an unusable lease file {self.key} ({self.problem})"
        since = f", since {self.started}" if self.started else ""
        return f"host {self.host}, pid {self.pid}{since}"


class LeaseHeld(LeaseError):
    def __init__(self, url: str, holder: Holder, watched: float = 0.0):
        self.holder = holder
        if holder.problem:
            super().__init__(f"{url}: the lease file {holder.key} is not a valid lease ({holder.problem}) and it "
                             f"changed while watched for {watched:.0f} s: something is writing it; stop that, or "
                             "remove it with `sweep unlock --force`")
            return
        super().__init__(f"{url} is being run by another `sweep run` ({holder.describe()}); wait for it to finish, "
                         "or stop it, then rerun to resume (`sweep unlock` frees a store whose driver is gone, "
                         "`sweep unlock --force` one you know is gone)")


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
    except (OSError, IndexError, ValueError):
        return None


def _key(generation: int) -> str:
    return f"{LEASE_DIR}/{generation:010d}.json"


def generations(loc: Location) -> list[int]:
    """The lease generations present, in order."""
    if loc.local and os.path.isfile(loc.path(LEASE_DIR)):
        raise LeaseError(f"{loc.url}: {loc.path(LEASE_DIR)} is a file where the store's lease folder belongs; "
                         "remove it (`sweep run` makes the folder)")
    out = []
    for name in loc.list(LEASE_DIR):
        stem = name[:-len(".json")] if name.endswith(".json") else ""
        if stem.isdigit():
            out.append(int(stem))
    return sorted(out)


def read_holder(loc: Location) -> Optional[Holder]:
    """The holder named by the highest lease generation (live or not; possibly untrusted, see
    Holder.problem), or None when there is none."""
    gens = generations(loc)
    return _read(loc, gens[-1]) if gens else None


def _number(d: dict, name: str, kind, low: float = 0.0, high: float = math.inf) -> str:
    """Why d[name] is not a number of `kind` in [low, high] ("" when it is, or absent)."""
    if name not in d:
        return ""
    v = d[name]
    if isinstance(v, bool) or not isinstance(v, kind):
        return f"{name} {json.dumps(v)[:40]} is not {'an integer' if kind is int else 'a number'}"
    if not math.isfinite(v) or not low <= v <= high:
        bounds = f"[{low:g}, {high:g}]" if kind is not int else f"[{int(low)}, {int(high)}]"
        return f"{name} {v!r:.40} is not in {bounds}"
    return ""


def _parse(raw: bytes) -> tuple[dict, str]:
    """A lease file's fields, and why it cannot be trusted ("" when it can)."""
    try:
        d = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        return {}, f"not valid JSON: {str(exc)[:80]}"
    if not isinstance(d, dict):
        return {}, f"a JSON {type(d).__name__}, not an object"
    for name in ("host", "pid"):
        if name not in d:
            return {}, f"no {name}"
    for name in ("token", "host", "pid_start", "boot", "started", "command"):
        if name in d and not isinstance(d[name], str):
            return {}, f"{name} {json.dumps(d[name])[:40]} is not a string"
    for why in (_number(d, "pid", int, 0, 2 ** 31), _number(d, "beat", int, 0, 2 ** 63),
                _number(d, "heartbeat", (int, float), 0, 1e11), _number(d, "mono", (int, float), 0, 1e11),
                _number(d, "seconds", (int, float), MIN_SECONDS, MAX_SECONDS)):
        if why:
            return {}, why
    return {k: d[k] for k in FIELDS if k in d}, ""


def _read(loc: Location, generation: int) -> Holder:
    """The holder of one generation; never raises for the file's content (an untrusted file has `problem`)."""
    try:
        raw = loc.read(_key(generation))
    except IsADirectoryError:
        return Holder(generation, problem="a folder, not a file", raw=b"<folder>")
    except OSError as exc:
        if loc.local and os.path.isdir(loc.path(_key(generation))):
            return Holder(generation, problem="a folder, not a file", raw=b"<folder>")
        raise exc
    if raw is None:
        return Holder(generation, problem="gone", raw=None)
    d, problem = _parse(raw)
    if problem:
        return Holder(generation, problem=problem, raw=raw)
    h = Holder(generation, raw=raw, **d)
    h.pid, h.beat = int(h.pid), int(h.beat)
    h.heartbeat, h.mono, h.seconds = float(h.heartbeat), float(h.mono), float(h.seconds)
    return h


def verdict(h: Holder) -> str:
    """"live", "gone" or "watch" (see the module docstring): what can be told of a holder without waiting."""
    if h.problem:
        return "gone" if h.raw is None else "watch"
    if h.host != socket.gethostname() or (h.boot and BOOT and h.boot != BOOT):
        return "watch"
    start = _process_start(h.pid)
    if start is None or (h.pid_start and start != h.pid_start):
        return "gone"
    if h.pid == os.getpid():
        return "live"
    age = time.monotonic() - h.mono
    if h.boot and h.boot == BOOT and h.mono and 0 <= age < h.seconds:
        return "live"
    return "watch"


def is_live(h: Holder) -> bool:
    """Whether a holder may still hold its lease, without watching it: False only for a holder known gone (its
    process ended on this host); a holder that needs a watch counts as live."""
    return verdict(h) != "gone"


def watch(loc: Location, h: Holder) -> Optional[Holder]:
    """Reread `h`'s file for one lease period on this process's monotonic clock (the holder's `seconds`; the
    observer's SWEEP_LEASE_SECONDS for an untrusted file). None when it stayed unchanged (the holder is gone);
    else the file as it is now (changed: live; `raw` None: released; or a higher generation appeared)."""
    period = lease_seconds() if h.problem else h.seconds
    if period > 5:
        log.warning("%s: %s: watching its lease for up to %.0f s to tell whether it still runs", loc.url,
                    h.describe(), period)
    deadline = time.monotonic() + period
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        time.sleep(min(left, max(0.05, period / 24)))
        now = _read(loc, h.generation)
        gens = generations(loc)
        if now.raw != h.raw or not gens or gens[-1] != h.generation:
            return now


def live_holder(loc: Location) -> Optional[Holder]:
    """The holder of the store's lease unless it is known to be gone (without watching: see is_live)."""
    h = read_holder(loc)
    return h if h is not None and is_live(h) else None


class Lease:
    """A held lease (from :meth:`acquire`, which starts its heartbeat). ``check()`` before every write;
    ``release()`` at the end."""

    def __init__(self, loc: Location, generation: int, holder: Holder):
        self.loc, self.generation, self.holder = loc, generation, holder
        self.lost: Optional[LeaseLost] = None
        self.renewed = time.monotonic()
        self.taken_over: Optional[Holder] = None  # the holder found gone, whose lease this one replaced
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._until: Optional[float] = None
        self._stop_event: Optional[threading.Event] = None

    @classmethod
    def acquire(cls, loc: Location, command: str = "", heartbeat: bool = True,
                stop: Optional[threading.Event] = None) -> "Lease":
        """Take the store's lease, or raise LeaseHeld naming its live holder (watching a holder that cannot be
        told at once for one lease period). A local store's folder is made when it does not exist yet (the
        lease lives in it). `stop`: an event that, once set (the run was told to stop), winds the heartbeat
        down (see wind_down)."""
        gone: Optional[Holder] = None
        for _ in range(20):
            gens = generations(loc)
            if gens:
                h = _read(loc, gens[-1])
                v = verdict(h)
                if v == "live":
                    raise LeaseHeld(loc.url, h)
                if v == "watch":
                    now = watch(loc, h)
                    if now is not None:
                        if now.raw is not None and now.generation == h.generation and generations(loc)[-1:] == [
                                h.generation]:
                            raise LeaseHeld(loc.url, now, lease_seconds() if h.problem else h.seconds)
                        continue  # released, or a rival went higher: look again
                gone = h
            generation = gens[-1] + 1 if gens else 0
            pid = os.getpid()
            holder = Holder(generation, token=uuid.uuid4().hex, host=socket.gethostname(), pid=pid,
                            pid_start=_process_start(pid) or "", boot=BOOT,
                            started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), heartbeat=time.time(),
                            beat=0, mono=time.monotonic(), seconds=lease_seconds(), command=command)
            if not loc.create(_key(generation), _body(holder)):
                continue  # a rival took this generation first: look again (it is live, so we refuse)
            try:
                now = generations(loc)
            except BaseException:  # a signal (or a failure) before the lease is handed over: give it back
                loc.delete(_key(generation))
                raise
            if now[-1] != generation:  # a rival read an older listing and went higher: it holds the store
                loc.delete(_key(generation))
                continue
            for g in now[:-1]:
                _remove(loc, g)
            lease = cls(loc, generation, holder)
            lease._stop_event = stop
            if gone is not None and gens and gone.generation == gens[-1]:
                lease.taken_over = gone
                if gone.problem:
                    log.warning("%s: replaced %s, unchanged for one lease period", loc.url, gone.describe())
            if heartbeat:
                lease.start_heartbeat()
            return lease
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
        """Check the lease, then rewrite this holder's file with the next heartbeat."""
        with self._lock:
            self.check()
            self.holder.beat += 1
            self.holder.heartbeat, self.holder.mono = time.time(), time.monotonic()
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
        """Renew in a daemon thread every period / 6, while the main thread runs (idempotent)."""
        if self._thread is not None:
            return
        every = every or max(0.05, self.holder.seconds / 6)
        main = threading.main_thread()

        def beat():
            while not self._stop.wait(every):
                if self._stop_event is not None and self._stop_event.is_set():
                    self.wind_down()
                if not main.is_alive() or (self._until is not None and time.monotonic() > self._until):
                    return  # the process is ending, or was told to stop long ago: let the lease expire
                try:
                    self.renew()
                except LeaseLost:
                    return
                except Exception:  # noqa: BLE001 - a missed renewal is retried; the lease outlives several
                    pass

        self._thread = threading.Thread(target=beat, name="sweep-lease", daemon=True)
        self._thread.start()

    def wind_down(self, periods: float = 2.0) -> None:
        """The run was told to stop: renew for at most `periods` more lease periods (release ends it sooner)."""
        if self._until is None:
            self._until = time.monotonic() + periods * self.holder.seconds

    def stop_heartbeat(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)


def _body(h: Holder) -> bytes:
    return json.dumps({k: getattr(h, k) for k in FIELDS}, sort_keys=True).encode()


def _remove(loc: Location, generation: int) -> None:
    """Remove one generation's file (or the folder found in its place, on a local store)."""
    key = _key(generation)
    try:
        loc.delete(key)
    except OSError:
        if not (loc.local and os.path.isdir(loc.path(key))):
            raise
        shutil.rmtree(loc.path(key))


def break_lease(loc: Location, force: bool = False) -> Optional[Holder]:
    """Remove the lease of a driver that is gone (`sweep unlock`); returns its holder, None when there was no
    lease. Raises LeaseHeld when the holder is live (watching it for one period when that cannot be told at
    once). `force`: remove it even when it looks live (`sweep unlock --force`), and note it in FORCED for the
    next run record."""
    gens = generations(loc)
    if not gens:
        return None
    h = _read(loc, gens[-1])
    if not force:
        v = verdict(h)
        if v == "live":
            raise LeaseHeld(loc.url, h)
        if v == "watch":
            now = watch(loc, h)
            if now is not None and now.raw is not None:
                raise LeaseHeld(loc.url, now, lease_seconds() if h.problem else h.seconds)
            if now is not None:
                return break_lease(loc)  # released meanwhile, or another generation: judge that one
    else:
        notes = forced_unlocks(loc)
        notes.append({"host": h.host, "pid": h.pid, "since": h.started, "generation": h.generation,
                      "problem": h.problem, "by": f"{socket.gethostname()} pid {os.getpid()}",
                      "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        loc.write(FORCED, json.dumps(notes).encode())
    for g in gens:
        _remove(loc, g)
    return h


def forced_unlocks(loc: Location) -> list:
    """The leases `sweep unlock --force` removed since the last run took note of them ([] when none)."""
    try:
        raw = loc.read(FORCED)
        notes = json.loads(raw.decode()) if raw else []
    except (OSError, ValueError, UnicodeDecodeError):
        return []
    return [n for n in notes if isinstance(n, dict)] if isinstance(notes, list) else []


def take_forced_unlocks(lease: Lease) -> list:
    """For the lease holder: the forced unlocks noted so far, removed from the store once read."""
    notes = forced_unlocks(lease.loc)
    if notes or lease.loc.exists(FORCED):
        lease.check()
        try:
            lease.loc.delete(FORCED)
        except OSError:
            if lease.loc.local and os.path.isdir(lease.loc.path(FORCED)):
                shutil.rmtree(lease.loc.path(FORCED))
    return notes
