"""The group committer's writer process: ``python -m governance.store.writer IN OUT``.

Started by :class:`governance.store.committer.GroupCommitter`, never by hand. It takes
every unit that has arrived, commits them as one batch
(:func:`governance.store.group_commit.commit_batch`), answers them all and takes the
next. A thread reads the units pipe without pause; on SQLite another runs passive WAL
checkpoints beside the commits, and the writer itself catches the WAL up between batches
once it outgrows its limit (see ``docs/serving.md``).
"""

from __future__ import annotations

import importlib
import logging
import pickle
import queue
import signal
import sys
import threading
import time
from typing import Any

from sqlalchemy import text

from governance.store.engine import Database
from governance.store.frames import CLOSE, ID, READY, Frames, write_frames
from governance.store.group_commit import BatchResult, Unit, commit_batch

log = logging.getLogger(__name__)
MAX_BATCH = 256
CHECKPOINT_PAUSE = 0.1  # seconds between the checkpointer's passes, at most one per pause


def writer_main(fd_in: int, fd_out: int) -> None:
    """The writer: take every unit waiting, commit them as one batch, answer, repeat."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which stops us
    frames = Frames(fd_in)
    config = pickle.loads(frames.next())
    sys.path[:] = config["sys_path"]
    for module in config["warm"]:  # what units unpickle into: imported now, not per request
        importlib.import_module(module)
    # Commits never checkpoint the SQLite WAL themselves: the checkpointer does, beside them.
    wal_limit = config["wal_limit"]
    db = Database(
        config["url"], **config["options"], sqlite_autocheckpoint=0, sqlite_wal_limit=wal_limit
    )
    checkpointer = _Checkpointer(db, config["checkpoint_pause"])
    max_batch = config["max_batch"]
    try:
        with db.read() as session:  # reachable, or the serving process hears why not
            session.execute(text("SELECT 1"))
        checkpointer.start()
        inbox = _Inbox(frames)
        inbox.start()
        write_frames(fd_out, [[pickle.dumps(READY)]])
        stop = False
        while not stop:
            raw = inbox.take(max_batch)
            if raw is None:  # the serving process is gone
                break
            if CLOSE in raw:
                stop = True
                raw = raw[: raw.index(CLOSE)]
            if raw:
                write_frames(fd_out, [[_run(db, raw)]])
                if db.wal_bytes() > wal_limit:
                    _catch_up(db)
                checkpointer.due.set()
    finally:
        checkpointer.stop()
        db.dispose()  # the last connection to close checkpoints what is left


class _Inbox(threading.Thread):
    """Reads the units pipe without pause, beside the batches.

    Both pipes are bounded. When the writer only read between batches, a batch whose reply
    filled the reply pipe (a large response, or many) blocked it writing, while the serving
    process's event loop, which reads the replies, was itself blocked writing new units into
    the full units pipe: each waited for the other, for good (found by the stateful
    schemathesis run: replenishment runs, whose responses are large, back to back). Read
    here, the units pipe always drains, so the event loop's write returns and it reads.
    """

    def __init__(self, frames: Frames) -> None:
        super().__init__(name="units-inbox", daemon=True)
        self.frames = frames
        self.queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

    def run(self) -> None:
        try:
            while True:
                self.queue.put(self.frames.next())
        except (EOFError, OSError):  # the serving process is gone
            self.queue.put(None)

    def take(self, limit: int) -> list[bytes] | None:
        """Every frame waiting (at least one, up to ``limit``); None at the end."""
        first = self.queue.get()
        if first is None:
            return None
        raw = [first]
        while len(raw) < limit:
            try:
                frame = self.queue.get_nowait()
            except queue.Empty:
                break
            if frame is None:
                self.queue.put(None)  # the end, after this batch
                break
            raw.append(frame)
        return raw


def _catch_up(db: Database) -> None:
    """Checkpoint the WAL between two batches, so that the next commit starts it over.

    SQLite starts the WAL over only at a commit that finds it checkpointed whole. Under
    sustained writes the checkpointer never does that: a commit always lands while it
    copies, and the WAL grows by every commit (~20 kB per scored order) without bound.
    Between two batches nothing else writes, so this one copies what is left (what came
    since the checkpointer's last pass) and completes, unless a reader still needs old
    frames or the checkpointer is copying at this moment: then after the next batch.
    It holds the batches behind it for a sync of the database file (2-25 ms here), once
    per ``wal_limit`` of WAL (64 MiB: ~3,000 scored orders).
    """
    try:
        db.checkpoint()
    except Exception as exc:  # e.g. the disk is full: retried after the next batch
        log.warning("WAL checkpoint between batches failed: %s", exc)


class _Checkpointer(threading.Thread):
    """Passive WAL checkpoints in the writer process, at most one per ``pause``.

    A commit that checkpoints (SQLite's default, every 1000 WAL pages: ~150 scored
    orders) takes 20-60 ms instead of 5, and every request in its batch and behind it
    waits. A passive checkpoint on another connection blocks no commit.
    """

    def __init__(self, db: Database, pause: float = CHECKPOINT_PAUSE) -> None:
        super().__init__(name="wal-checkpoint", daemon=True)
        self.db = db
        self.pause = pause
        self.due = threading.Event()
        self._stopping = threading.Event()

    def run(self) -> None:
        if self.db.dialect != "sqlite":
            return
        while True:
            self.due.wait()
            # The commits of the pause share one checkpoint.
            if self._stopping.wait(self.pause):
                return
            self.due.clear()
            try:
                self.db.checkpoint()
            except Exception as exc:  # retried after the next commit
                log.warning("WAL checkpoint failed: %s", exc)

    def stop(self) -> None:
        self._stopping.set()
        self.due.set()
        if self.is_alive():
            self.join(10)


def _run(db: Database, raw: list[bytes]) -> bytes:
    ids: list[int] = []
    units: list[Unit] = []
    refused: list[tuple[int, bool, Any]] = []
    for frame in raw:
        (uid,) = ID.unpack_from(frame)
        try:
            units.append(pickle.loads(memoryview(frame)[ID.size :]))
            ids.append(uid)
        except Exception as exc:  # e.g. a module the writer cannot import
            refused.append((uid, False, exc))
    start = time.perf_counter()
    result = commit_batch(db, units) if units else BatchResult([], True, False)
    answers = [(uid, ok, value) for uid, (ok, value) in zip(ids, result.outcomes, strict=True)]
    took = time.perf_counter() - start
    reply = (len(units) if result.committed else 0, result.retried, took, answers + refused)
    try:
        return pickle.dumps(reply, pickle.HIGHEST_PROTOCOL)
    except Exception:  # one result or exception does not pickle: send the rest as they are
        safe = [(uid, ok, _picklable(value)) for uid, ok, value in reply[3]]
        return pickle.dumps((*reply[:3], safe), pickle.HIGHEST_PROTOCOL)


def _picklable(value: Any) -> Any:
    try:
        pickle.dumps(value)
        return value
    except Exception:
        return RuntimeError(f"{type(value).__name__} from the writer: {value!r:.500}")


if __name__ == "__main__":
    writer_main(int(sys.argv[1]), int(sys.argv[2]))
