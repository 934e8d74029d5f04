"""The pipes between the serving process and its writer: length-prefixed frames.

Units go to the writer as frames ``[length][id][pickled unit]``, answers come back as
``[length][pickled reply]``; an empty frame asks the writer to finish and exit.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence

PIPE_BYTES = 1 << 20  # room for ~100 scored orders while the writer commits
LENGTH = struct.Struct("<I")
ID = struct.Struct("<Q")
CLOSE = b""  # an empty frame: finish what is queued, then exit
READY = "ready"


def write_frames(fd: int, frames: Sequence[Sequence[bytes]]) -> None:
    """Frames of parts, in as few system calls as the pipe allows."""
    chunks: list[bytes | memoryview] = []
    for parts in frames:
        chunks += [LENGTH.pack(sum(map(len, parts))), *parts]
    while chunks:
        written = os.writev(fd, chunks)
        while chunks and written >= len(chunks[0]):
            written -= len(chunks[0])
            chunks.pop(0)
        if written:
            chunks[0] = memoryview(chunks[0])[written:]


class Frames:
    """Frames read from a pipe in large chunks."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.eof = False
        self._buffer = bytearray()

    def _complete(self) -> bool:
        buffer = self._buffer
        return len(buffer) >= 4 and len(buffer) >= 4 + LENGTH.unpack_from(buffer)[0]

    def _pop(self) -> bytes:
        (size,) = LENGTH.unpack_from(self._buffer)
        frame = bytes(self._buffer[4 : 4 + size])
        del self._buffer[: 4 + size]
        return frame

    def next(self) -> bytes:
        """The next frame, waiting for it (blocking pipe); ``EOFError`` at the end."""
        while not self._complete():
            chunk = os.read(self.fd, PIPE_BYTES)
            if not chunk:
                raise EOFError
            self._buffer += chunk
        return self._pop()

    def drain(self) -> list[bytes]:
        """The complete frames readable now (non-blocking pipe); sets ``eof`` at the end."""
        while True:
            try:
                chunk = os.read(self.fd, PIPE_BYTES)
            except BlockingIOError:
                break
            if not chunk:
                self.eof = True
                break
            self._buffer += chunk
        frames = []
        while self._complete():
            frames.append(self._pop())
        return frames
