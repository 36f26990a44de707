"""How the processes of one launch (runs/ranks.py) see each other: small state files, no torch.distributed.

Each process keeps ``RUN/ranks/rank-R-of-N.state.json``, rewritten atomically by a background thread every
``interval`` seconds: its state (``running``, ``done``, ``merged`` for the first process once the run is
written, ``failed`` with the reason), a beat counter and a random session id. The others read these files:

- a file counts only once it has changed since the reader started: a file left by an earlier launch of
  the same run (killed, failed) never passes for this launch's, and needs no cleaning up (which would race
  with the processes starting);
- a process whose file has stopped changing for ``timeout`` seconds has stopped (killed, machine gone);
  one whose file has not changed within ``timeout`` of the reader's start is missing (it did not start, or
  stopped before the reader started);
- a failed process's reason reaches the others, which stop with it instead of waiting for ever.

A process keeps beating while it waits for the others, so a process that finished its part before a
slower one started is still seen as part of this launch; a failed one beats on until it has seen every
other start (:meth:`Peers.until_seen`), so its failure reaches even a process that started after it failed.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from actbench.atomic import atomic_write_json
from actbench.errors import ActbenchError

RUNNING, DONE, MERGED, FAILED = "running", "done", "merged", "failed"
_QUIET = (MERGED, FAILED)  # last states: the process may stop beating


def state_file(ranks_dir: Path, rank: int, world_size: int) -> Path:
    return Path(ranks_dir) / f"rank-{rank}-of-{world_size}.state.json"


def beat_interval(timeout: float) -> float:
    """Often enough that a live process is never taken for a stopped one, at most once a second."""
    return min(1.0, timeout / 10)


class Heartbeat:
    """This process's state file, kept fresh by a daemon thread until the last state is set."""

    def __init__(self, path: Path, rank: int, world_size: int, interval: float):
        self.path = Path(path)
        self.interval = interval
        self.record = {"rank": rank, "world_size": world_size, "state": RUNNING, "error": None, "beat": 0,
                       "session": uuid.uuid4().hex, "host": socket.gethostname(), "pid": os.getpid()}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="actbench-heartbeat", daemon=True)

    def start(self) -> None:
        self._write()
        self._thread.start()

    def set(self, state: str, error: str | None = None) -> None:
        """Record ``state`` (a beat of its own: the file changes)."""
        with self._lock:
            self.record.update(state=state, error=error, beat=self.record["beat"] + 1)
            self._write()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                if self._stop.is_set():
                    return
                self.record["beat"] += 1
                self._write()

    def _write(self) -> None:
        try:
            atomic_write_json(self.path, self.record)
        except OSError:
            pass  # a full or flaky disk: the others see no beat and report this process as stopped


@dataclass
class _Seen:
    content: bytes | None  # the file as last read
    record: dict | None = None  # parsed, once it changed during this launch
    changed: float = 0.0  # when it last changed (time.monotonic)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


class Peers:
    """The other processes of the launch, as their state files show them (see the module's docstring)."""

    def __init__(self, ranks_dir: Path, rank: int, world_size: int, timeout: float):
        self.ranks_dir = Path(ranks_dir)
        self.world_size = world_size
        self.timeout = timeout
        self.interval = beat_interval(timeout)
        self.paths = {r: state_file(ranks_dir, r, world_size) for r in range(world_size) if r != rank}
        self.started = time.monotonic()
        self.seen = {r: _Seen(_read(p)) for r, p in self.paths.items()}  # before this process's first beat
        self._polled = float("-inf")

    def _poll(self) -> None:
        now = time.monotonic()
        self._polled = now
        for rank, path in self.paths.items():
            content, seen = _read(path), self.seen[rank]
            if content is None or content == seen.content:
                continue
            seen.content, seen.changed = content, now
            try:
                record = json.loads(content)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue  # not written by a heartbeat: wait for one
            if isinstance(record, dict) and isinstance(record.get("state"), str):
                seen.record = record

    def _problems(self) -> list[str]:
        now = time.monotonic()
        failed = [f"rank {r} of {self.world_size} failed: {s.record.get('error')}" for r, s in self.seen.items()
                  if s.record is not None and s.record["state"] == FAILED]
        stopped = [f"rank {r} of {self.world_size} stopped: {self.paths[r]} has not changed for {self.timeout:g} s "
                   "(killed?)" for r, s in self.seen.items()
                   if s.record is not None and s.record["state"] not in _QUIET and now - s.changed > self.timeout]
        absent = [r for r, s in self.seen.items() if s.record is None]
        if absent and now - self.started > self.timeout:
            which = f"rank {absent[0]} of {self.world_size} is" if len(absent) == 1 else \
                f"ranks {', '.join(map(str, absent))} of {self.world_size} are"
            failed.append(f"{which} missing: no heartbeat in {self.ranks_dir} within {self.timeout:g} s (not "
                          "started, or stopped before this process started)")
        return failed + stopped

    def check(self) -> None:
        """Raise if another process failed, stopped or never started (reads the files at most every interval/2)."""
        if time.monotonic() - self._polled >= self.interval / 2:
            self._poll()
        problems = self._problems()
        if problems:
            raise ActbenchError(f"{'; '.join(problems)}; the answers so far are kept in {self.ranks_dir}: relaunch "
                                "with --resume to finish the run")

    def until_seen(self) -> None:
        """Block until every other process has beaten during this launch, or ``timeout`` after the start."""
        while time.monotonic() - self.started <= self.timeout:
            self._poll()
            if all(s.record is not None for s in self.seen.values()):
                return
            time.sleep(self.interval / 2)

    def wait(self, ranks: Collection[int], state: str) -> None:
        """Block until each of ``ranks`` has reached ``state`` in this launch; raise as :meth:`check` does."""
        while True:
            self._poll()
            if all(self.seen[r].record is not None and self.seen[r].record["state"] == state for r in ranks):
                return
            self.check()
            time.sleep(self.interval / 2)
