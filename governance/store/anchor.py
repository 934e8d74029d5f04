"""The audit chain's head, anchored outside the database: deleting the tail shows.

The hash chain makes an edit, a gap or a reordering inside the log evident, but not a
deleted *tail*: the events before it still form a valid, shorter chain. So after every
commit that appended audit events, the committing process records the chain's head
(sequence number and hash) in a small file outside the database (``audit_anchor_file``;
by default ``<database file>.anchor`` beside a SQLite store, ``var/audit-anchor-<hash of the
URL>`` for another), the way certificate-transparency logs publish signed tree heads.
:func:`governance.audit.verify` then requires the chain to reach the anchored event with
the anchored hash: a deleted tail, a truncation, or a rewrite with recomputed hashes
(a replaced or reordered row) before the anchored head all break it.

The threat this answers is a database-level one (a DBA or a leaked database credential that
can drop the append-only trigger); whoever can also edit the application host's files can
edit the anchor too. Copy the anchor elsewhere (monitoring, a write-once store) for more.

The file holds two fixed slots of 128 bytes, written alternately with one ``pwrite`` each
(no fsync: ~10 µs per commit batch) and each with its own CRC, so a torn write loses at
most the newer slot. It is written only after the commit, so it never runs ahead of the
database; after a crash it may lag behind, which verification accepts (the anchor is a
lower bound on the head, and the chain is checked at the anchored event).
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

_MAGIC = b"SPA1"
_SLOT = 128
_RECORD = struct.Struct("<4sQ32s")  # magic, seq, head hash (raw sha256)
_CRC = struct.Struct("<I")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The chain had at least ``seq`` events, the last of them hashing to ``head``."""

    seq: int
    head: str  # hex sha256


def _pack(checkpoint: Checkpoint) -> bytes:
    record = _RECORD.pack(_MAGIC, checkpoint.seq, bytes.fromhex(checkpoint.head))
    return (record + _CRC.pack(zlib.crc32(record))).ljust(_SLOT, b"\0")


def _unpack(slot: bytes) -> Checkpoint | None:
    size = _RECORD.size
    if len(slot) < size + _CRC.size:
        return None
    record = slot[:size]
    (crc,) = _CRC.unpack_from(slot, size)
    magic, seq, head = _RECORD.unpack(record)
    if magic != _MAGIC or crc != zlib.crc32(record):
        return None  # never written, or torn
    return Checkpoint(seq, head.hex())


class Anchor:
    """The anchor file of one audit chain; safe to share between threads of a process."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._lock = threading.Lock()

    def record(self, checkpoint: Checkpoint) -> None:
        """Write ``checkpoint`` into its slot (seq parity), after the commit it describes."""
        data = _pack(checkpoint)
        with self._lock:
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            os.pwrite(self._fd, data, (checkpoint.seq % 2) * _SLOT)

    def read(self) -> Checkpoint | None:
        """The newest intact checkpoint, or None when nothing was anchored yet."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        slots = [_unpack(data[i : i + _SLOT]) for i in (0, _SLOT)]
        found = [s for s in slots if s is not None]
        return max(found, key=lambda s: s.seq) if found else None

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __repr__(self) -> str:
        return f"Anchor({str(self.path)!r})"
