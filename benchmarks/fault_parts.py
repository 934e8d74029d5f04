"""The parts the fault suite breaks on purpose (:mod:`benchmarks.fault_harness` keeps the
books on them).

* :class:`Server` — ``stockpilot serve`` as its own process (and its writer process), killed
  with SIGKILL and started again on the same port and store;
* :class:`PrivateCluster` — a throwaway PostgreSQL cluster (initdb/pg_ctl in a temp dir on a
  free port), restarted ``-m immediate``; never the shared one other tests use;
* :class:`SmallDisk` — a size-limited filesystem for the SQLite store (tmpfs), filled up and
  emptied again; where mounting is not allowed, a file-size limit on the writer process
  (RLIMIT_FSIZE: the kernel refuses its writes past the limit, as a full disk would);
* :func:`prepare_store` — a store migrated, with the default policy and the load's keys.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path
from typing import Any

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the store -------------------------------------------------------------------------


def prepare_store(url: str) -> dict[str, str]:
    """Migrate ``url``, apply the default policy, create the keys the load needs."""
    from governance import keys, policy_versions
    from governance.access import Principal, Role
    from governance.store import migrate
    from governance.store.engine import Database

    db = Database(url)
    try:
        migrate.upgrade(db)
        operator = Principal("faults", Role.admin)
        with db.write() as session:
            policy_versions.ensure_policy(session, actor=operator, policy_file=None)
            made = {}
            for role in (Role.order_system, Role.data_scientist, Role.admin):
                _, made[role.value] = keys.create_key(
                    session, role=role, name=f"faults-{role}", actor=operator
                )
            return made
    finally:
        db.dispose()


# --- the serving process ---------------------------------------------------------------


@dataclass
class Server:
    """``stockpilot serve`` in its own process group, on a fixed port across restarts."""

    env: dict[str, str]
    port: int = field(default_factory=free_port)
    log: Path | None = None
    process: subprocess.Popen | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 240.0, **env: str) -> float:
        """Start and wait for ``/health/ready`` (200); returns the seconds it took."""
        began = time.monotonic()
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [str(BIN / "stockpilot"), "serve", "--port", str(self.port)],
            env={**self.env, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.starts += 1
        deadline = began + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise RuntimeError(f"stockpilot serve exited ({code}); see {self.log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health/ready", timeout=2).status_code == 200:
                    return time.monotonic() - began
            time.sleep(0.2)
        raise RuntimeError(f"not ready after {timeout:.0f} s; see {self.log}")

    def ready(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/health/ready", timeout=5).json()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def writer_pid(self) -> int:
        """The group committer's writer process (a child of the serving process)."""
        for task in glob(f"/proc/{self.pid}/task/*/children"):
            for child in Path(task).read_text().split():
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
                if b"governance.store.writer" in cmdline:
                    return int(child)
        raise RuntimeError("no writer process under the server")

    def kill9(self) -> None:
        """SIGKILL the serving process only; its writer sees the pipe close and exits."""
        assert self.process is not None
        os.kill(self.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            self.process.wait(30)

    def rss_mib(self) -> dict[str, float]:
        """Resident memory of the serving and the writer process."""
        out = {}
        for name, pid in (("server", self.pid), ("writer", self.writer_pid())):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out[name] = int(line.split()[1]) / 1024
        return out


# --- PostgreSQL, privately -------------------------------------------------------------


def _pg_bin(name: str) -> str:
    found = sorted(glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        raise RuntimeError(f"{name} not found (apt-get install postgresql)")
    return found[-1]


class PrivateCluster:
    """A PostgreSQL cluster of our own: restarting it disturbs nobody else's tests."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="sp-pg-"))
        self.port = free_port()
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.socket_dir.mkdir()
        self._as: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to `postgres`
            shutil.chown(self.root, "postgres")
            shutil.chown(self.socket_dir, "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, cwd=self.root)

    def init(self) -> PrivateCluster:
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8")  # fmt: skip
        return self.start()

    def start(self) -> PrivateCluster:
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1"
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.root / "log"), "-w", "start")  # fmt: skip
        return self

    def stop(self, mode: str = "immediate") -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


# --- a disk that fills up --------------------------------------------------------------


class SmallDisk:
    """Where the SQLite store lives when the disk is to fill up.

    ``tmpfs`` of ``size_mib`` when this machine lets us mount (root, or CAP_SYS_ADMIN): the
    kernel answers ENOSPC and SQLite SQLITE_FULL, exactly as on a full disk. Otherwise a
    plain directory, and :meth:`fill` caps the writer's file size instead (RLIMIT_FSIZE):
    the kernel refuses its writes past the cap with EFBIG, which SQLite reports as an I/O
    error; the service must answer both the same way.

    1 GiB, not less: on a quiet host the scenarios before and after the full disk store
    ~20,000 explained orders (~18 KB each with their audit rows) on this one filesystem,
    and a 256 MiB one stayed full after :meth:`free` — every later scenario only saw 503s.
    """

    def __init__(self, size_mib: int = 1024) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="sp-disk-"))
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(self.path)],
            capture_output=True,
        )
        self.mounted = mounted.returncode == 0
        self.kind = f"tmpfs {size_mib} MiB" if self.mounted else "writer file-size limit"
        self._filler = self.path / "filler"
        self._capped: int | None = None

    def fill(self, writer_pid: int) -> None:
        """No more room for the store's files (beyond what they hold now)."""
        if self.mounted:
            fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                for size in (1 << 20, 4096, 1):  # down to the last byte
                    with contextlib.suppress(OSError):  # ENOSPC: full at this size
                        while True:
                            os.write(fd, b"\0" * size)
            finally:
                os.close(fd)
            return
        largest = max(p.stat().st_size for p in self.path.iterdir())
        self._capped = writer_pid
        resource.prlimit(writer_pid, resource.RLIMIT_FSIZE, (largest, resource.RLIM_INFINITY))

    def free(self) -> None:
        """Space again."""
        if self.mounted:
            self._filler.unlink(missing_ok=True)
        elif self._capped is not None:
            with contextlib.suppress(ProcessLookupError):
                limit = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
                resource.prlimit(self._capped, resource.RLIMIT_FSIZE, limit)
            self._capped = None

    def destroy(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True)
        shutil.rmtree(self.path, ignore_errors=True)
