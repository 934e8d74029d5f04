"""The group committer: a writer process that commits units of work in batches.

:func:`governance.store.group_commit.commit_batch` says what a batch means; the batches
run in a **writer process** of their own (:mod:`governance.store.writer`), and this
module is its serving side: it starts the writer, sends it units and settles their
futures. Writing is mostly Python (SQLAlchemy statements, canonical JSON, link hashes):
on a thread of the serving process it held the interpreter lock about a third of the
time the event loop needed it, so every request waited for every other request's write.
In its own process it runs on the other core. The writer takes every unit waiting,
commits them as one batch, answers them all and takes the next batch; nothing waits for
a timer, so an idle store commits a lone unit at once.

Units cross the process boundary pickled: a unit is a module-level function taking the
session, or a :func:`functools.partial` of one with plain-data arguments. Results and
exceptions come back pickled (the error hierarchy of :mod:`stockpilot.errors` pickles).

The serving process starts ``python -m governance.store.writer`` with two pipes: units
go in as frames ``[length][id][pickled unit]``, answers come back as ``[length][pickled
reply]``. The first frame configures the writer (store URL and options, ``sys.path``):
over the pipe, not the command line, because a PostgreSQL URL may carry a password. Once
:meth:`GroupCommitter.bind` names the event loop, replies are read by that loop when the
pipe is readable; before (and in programs without a loop) a thread reads them. Under
load the loop's thread is running anyway, while a reply thread would first have to be
scheduled onto a busy core: ~4 ms per request on two cores.

Why one module of ~430 lines, past the house's few hundred: it holds one object, the
serving side of one writer process, in three parts that share one lock and one
``_Writer`` record — its life (spawn, replace, close), submitting (a unit pickled, held
to the end of the loop's turn, sent), and replies (read on the loop or a thread, futures
settled, a writer that exits failing what it had not answered). Every race fixed here
(a reply before the loop is bound, a writer gone between submit and send, close after
the loop) crosses all three; split by part, a reader would follow one unit from submit
to settle through three files, each reaching into the others' private state. What could
stand alone already does: the frame protocol (``frames.py``), the writer's side
(``writer.py``), what a batch means (``group_commit.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import logging
import os
import pickle
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from governance.store.engine import SQLITE_WAL_LIMIT_BYTES, Database
from governance.store.frames import CLOSE, ID, PIPE_BYTES, READY, Frames, write_frames
from governance.store.writer import CHECKPOINT_PAUSE, MAX_BATCH
from stockpilot.errors import NotReady

log = logging.getLogger(__name__)
T = TypeVar("T")
_F_SETPIPE_SZ = 1031  # Linux fcntl
Pending = Future | asyncio.Future  # threads wait on the first kind, the event loop on the second


@dataclass(slots=True)
class _Writer:
    process: subprocess.Popen
    fd_in: int  # ours to write
    replies: Frames  # ours to read (non-blocking)
    pending: dict[int, Pending] = field(default_factory=dict)  # sent, not yet answered
    settled: threading.Event = field(default_factory=threading.Event)  # ready, or gone
    reached: bool = False  # the writer opened the store
    lock: threading.Lock = field(default_factory=threading.Lock)  # one reader of the replies
    loop: asyncio.AbstractEventLoop | None = None  # reads the replies, once bound
    receiver: threading.Thread | None = None  # reads them before
    gone: bool = False  # EOF seen: the writer has exited

    @property
    def alive(self) -> bool:
        return not self.gone and self.process.poll() is None


class GroupCommitter:
    """Submit units of work; a writer process commits them in batches (see the module).

    ``warm`` names modules the writer imports at start, so the first request does not pay
    for importing what its unit unpickles into. On SQLite the writer checkpoints the WAL
    beside its commits (at most once per ``checkpoint_pause`` seconds) and, when the WAL
    file outgrows ``wal_limit`` bytes, between two batches (:func:`_catch_up`). A writer
    that exits is replaced at the next submit; the units it had not answered fail with
    :class:`NotReady`.
    """

    def __init__(
        self,
        db: Database,
        *,
        max_batch: int = MAX_BATCH,
        warm: Sequence[str] = (),
        wal_limit: int = SQLITE_WAL_LIMIT_BYTES,
        checkpoint_pause: float = CHECKPOINT_PAUSE,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.db = db
        self.max_batch = max_batch
        self.wal_limit = wal_limit
        self.checkpoint_pause = checkpoint_pause
        self.warm = tuple(warm)
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._writer: _Writer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._spawned = 0
        self._outgoing: list[tuple[_Writer, int, bytes]] = []  # deferred to the turn's end
        self._flush_scheduled = False
        self.batches = 0  # commits made; with ``units`` it gives the mean batch size
        self.units = 0
        self.retried = 0  # batches run again unit by unit because one of their units failed
        self.batch_seconds = 0.0  # the writer's time running batches (queueing excluded)
        self.wait_seconds = 0.0  # what run_async callers waited in all (queue + batch + IPC)
        self.waits = 0

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> GroupCommitter:
        """Start the writer (it connects to the store in the background; see ``ready``)."""
        with self._lock:
            if self._closed:
                raise NotReady("the governance store is not accepting writes")
            if self._writer is None:
                self._writer = self._spawn()
        return self

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Read replies on ``loop`` from now on (call it from that loop)."""
        with self._lock:
            self._loop = loop
            writer = self._writer
        if writer is not None:
            self._attach(writer, loop)

    def _spawn(self) -> _Writer:
        units_r, units_w = os.pipe()
        replies_r, replies_w = os.pipe()
        with contextlib.suppress(OSError):  # Linux only; elsewhere the default size
            fcntl.fcntl(units_w, _F_SETPIPE_SZ, PIPE_BYTES)
            fcntl.fcntl(replies_w, _F_SETPIPE_SZ, PIPE_BYTES)
        package_root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ}
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (package_root, os.environ.get("PYTHONPATH")) if p
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "governance.store.writer", str(units_r), str(replies_w)],
            pass_fds=(units_r, replies_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # the pipes are the protocol; logs go to stderr
            env=env,
        )
        os.close(units_r)
        os.close(replies_w)
        os.set_blocking(replies_r, False)
        self._spawned += 1
        config = {
            "url": self.db.url,
            "options": self.db.options,
            "max_batch": self.max_batch,
            "wal_limit": self.wal_limit,
            "checkpoint_pause": self.checkpoint_pause,
            "warm": self.warm,
            "sys_path": list(sys.path),
        }
        write_frames(units_w, [[pickle.dumps(config, pickle.HIGHEST_PROTOCOL)]])
        writer = _Writer(process, units_w, Frames(replies_r))
        loop = self._loop
        if loop is not None and loop.is_closed():
            loop = self._loop = None  # the loop we were bound to has ended: back to a thread
        if loop is None:
            writer.receiver = threading.Thread(
                target=self._receive, args=(writer,), name="group-commit-replies", daemon=True
            )
            writer.receiver.start()
        elif _running_loop() is loop:
            self._attach(writer, loop)
        else:
            loop.call_soon_threadsafe(self._attach, writer, loop)
        return writer

    def close(self, timeout: float = 10.0) -> None:
        """Finish the units already submitted, then stop the writer."""
        self._flush()
        with self._lock:
            self._closed = True
            writer, self._writer = self._writer, None
        if writer is None:
            return
        with contextlib.suppress(OSError):  # already gone
            write_frames(writer.fd_in, [[CLOSE]])
        try:
            writer.process.wait(timeout)
        except subprocess.TimeoutExpired:
            writer.process.kill()
            writer.process.wait(timeout)
        receiver = writer.receiver
        if receiver is not None and receiver is not threading.current_thread():
            receiver.join(timeout)  # it reads up to the end: the writer has exited
        with writer.lock:
            loop, writer.loop = writer.loop, None  # what is left is read here
        if loop is not None and not loop.is_closed() and _running_loop() is loop:
            loop.remove_reader(writer.replies.fd)
        while not writer.gone:
            if self._read(writer):
                self._lost(writer)
                break
            select.select([writer.replies.fd], [], [], timeout)
        os.close(writer.fd_in)

    def __enter__(self) -> GroupCommitter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def ready(self) -> bool:
        """The writer is running and has reached the store."""
        writer = self._writer
        return writer is not None and writer.reached and writer.alive

    def wait_ready(self, timeout: float = 30.0) -> bool:
        """Wait until the writer has reached the store (True) or exited (False)."""
        writer = self._writer
        if writer is None:
            return False
        writer.settled.wait(timeout)
        return writer.reached and writer.alive

    @property
    def restarts(self) -> int:
        """Writers started again after one exited."""
        return max(0, self._spawned - 1)

    # --- submitting ---------------------------------------------------------------------

    def submit(self, fn: Callable[[Session], T]) -> Future[T]:
        """Queue ``fn(session)``; the future resolves once its batch is committed."""
        future: Future[T] = Future()
        self._submit(fn, future, defer=False)
        return future

    def _submit(self, fn: Callable[[Session], Any], future: Pending, *, defer: bool) -> None:
        """``defer`` (the event loop's path, see :meth:`run_async`): hold the unit until the
        current turn of the event loop ends, then send it with the others of that turn."""
        try:
            payload = pickle.dumps(fn, pickle.HIGHEST_PROTOCOL)
        except Exception as err:
            raise TypeError(
                "a group-commit unit must pickle (a module-level function of the session, "
                f"or a functools.partial of one with plain-data arguments): {err}"
            ) from None
        with self._lock:
            if self._closed:
                raise NotReady("the governance store is not accepting writes")
            writer = self._writer
            if writer is None or not writer.alive:
                if self._spawned:
                    log.warning("the writer process exited; starting a new one")
                writer = self._writer = self._spawn()
            uid = next(self._ids)
            writer.pending[uid] = future
            if defer:
                self._outgoing.append((writer, uid, payload))
            else:
                self._send(writer, [(uid, payload)])

    def run(self, fn: Callable[[Session], T]) -> T:
        """Submit and wait (for threads)."""
        return self.submit(fn).result()

    async def run_async(self, fn: Callable[[Session], T]) -> T:
        """Submit and await (for the event loop; no thread is held while waiting).

        Units submitted in one turn of the event loop reach the writer together, so they
        share a batch and its commit: the requests of one scoring pass resume in the same
        turn and submit one after another. Nothing waits for a timer; the turn ends anyway.
        """
        start = time.perf_counter()
        loop = asyncio.get_running_loop()
        # An asyncio future: the loop's reply reader settles it, and the awaiting task
        # resumes in the next turn (a thread's future would take one more turn).
        future: asyncio.Future[T] = loop.create_future()
        self._submit(fn, future, defer=True)
        self.flush_soon()
        try:
            return await future
        finally:
            self.wait_seconds += time.perf_counter() - start
            self.waits += 1

    def flush_soon(self) -> None:
        """Send the deferred units in a callback queued now (on the running loop).

        :meth:`run_async` queues one behind whatever is already waiting; code that knows
        which requests are about to submit (the scoring pass that resumes them) can queue
        it right behind them, so their units do not wait for unrelated work first.
        """
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        with self._lock:
            self._flush_scheduled = False
            outgoing, self._outgoing = self._outgoing, []
            by_writer: dict[int, tuple[_Writer, list[tuple[int, bytes]]]] = {}
            for writer, uid, payload in outgoing:
                by_writer.setdefault(id(writer), (writer, []))[1].append((uid, payload))
            for writer, units in by_writer.values():
                self._send(writer, units)

    def _send(self, writer: _Writer, units: list[tuple[int, bytes]]) -> None:
        """Write units to the writer (holding the lock); a dead pipe fails their futures."""
        try:
            write_frames(writer.fd_in, [(ID.pack(uid), payload) for uid, payload in units])
        except OSError as err:
            error = NotReady(f"the writer process is not accepting writes: {err}")
            for uid, _ in units:
                future = writer.pending.pop(uid, None)
                if future is not None:
                    _settle(future, False, error)

    # --- replies ------------------------------------------------------------------------

    def _attach(self, writer: _Writer, loop: asyncio.AbstractEventLoop) -> None:
        with writer.lock:
            if writer.gone:
                return
            writer.loop = loop
        loop.add_reader(writer.replies.fd, self._on_readable, writer)
        self._on_readable(writer)  # what arrived before

    def _on_readable(self, writer: _Writer) -> None:
        loop = writer.loop
        if self._read(writer) and loop is not None:
            loop.remove_reader(writer.replies.fd)
            self._lost(writer)

    def _receive(self, writer: _Writer) -> None:
        """The reply thread, until an event loop takes over (:meth:`bind`)."""
        while True:
            with contextlib.suppress(OSError):  # closed by close(): nothing left to read
                select.select([writer.replies.fd], [], [])
            with writer.lock:
                if writer.loop is not None or writer.gone:
                    return
            if self._read(writer):
                self._lost(writer)
                return

    def _read(self, writer: _Writer) -> bool:
        """Dispatch what the writer has sent; True when it has just gone (EOF seen)."""
        with writer.lock:
            if writer.gone:
                return False  # somebody else saw the end and settles it
            frames = writer.replies.drain()
            ended = writer.replies.eof
            if ended:
                writer.gone = True
        for frame in frames:
            message = pickle.loads(frame)
            if message == READY:
                writer.reached = True
                writer.settled.set()
                continue
            committed, retried, took, answers = message
            with self._lock:
                if committed:
                    self.batches += 1
                    self.units += committed
                self.retried += int(retried)
                self.batch_seconds += took
                resolved = [(writer.pending.pop(uid), ok, v) for uid, ok, v in answers]
            for future, ok, value in resolved:
                _settle(future, ok, value)
        return ended

    def _lost(self, writer: _Writer) -> None:
        """The writer exited: what it had not answered may or may not have committed.

        One that had reached the store is replaced at once; one that never did is tried
        again at the next submit (not in a loop).
        """
        writer.settled.set()
        os.close(writer.replies.fd)
        with self._lock:
            orphans, writer.pending = writer.pending, {}
            closing = self._closed
            if self._writer is writer:
                self._writer = self._spawn() if writer.reached and not closing else None
        if orphans or not closing:
            log.error("the writer process exited (code %s)", writer.process.poll())
        error = NotReady(
            "the writer process exited before answering; the write may or may not have "
            "committed: retry with the same Idempotency-Key"
        )
        for future in orphans.values():
            _settle(future, False, error)


def _settle(future: Pending, ok: bool, value: Any) -> None:
    """Resolve a caller's future from whichever thread read the reply."""
    if isinstance(future, asyncio.Future):
        loop = future.get_loop()
        if _running_loop() is not loop:  # the reply thread, or close() after the loop
            if not loop.is_closed():
                loop.call_soon_threadsafe(_settle, future, ok, value)
            return
    if future.done():  # cancelled: the caller has gone away
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
