"""A small file system to fill up, and a throwaway PostgreSQL cluster whose data lives on one: the
full-disk fault of issue 14, for the tests and for `scripts/faults full-disk`.

The file system is a tmpfs of the given size where this machine lets us mount one, else a
size-capped ext4 loop image; with neither (no root, a container without mounts) the callers skip and
say why. The cluster is `initdb` into it, run by the `postgres` user (PostgreSQL refuses to run as
root) on a free port with trust authentication for the local superuser `root`. Its WAL lives outside
the small file system: a full WAL disk stops PostgreSQL altogether (a PANIC, by design), while a full
data disk is what a growing database meets, and what the bot must survive (writes refused, the
server up).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _run(*command: str) -> bool:
    return subprocess.run(command, capture_output=True).returncode == 0


@contextlib.contextmanager
def small_filesystem(folder: Path, mb: int) -> Iterator[Path | None]:
    """A mounted file system of `mb` MB under `folder` (None if this machine allows no mount)."""
    mount = folder / "small"
    mount.mkdir()
    image = folder / "small.img"
    mounted = _run("mount", "-t", "tmpfs", "-o", f"size={mb}m", "tmpfs", str(mount)) or (
        _run("truncate", "-s", f"{mb}M", str(image)) and _run("mkfs.ext4", "-q", "-m", "0", str(image))
        and _run("mount", "-o", "loop", str(image), str(mount)))
    try:
        yield mount if mounted else None
    finally:
        if mounted:
            _run("umount", "-l", str(mount))


def fill(folder: Path) -> Path:
    """Write a file in `folder` until its file system has no block left; returns the file."""
    filler = folder / "filler"
    with open(filler, "wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    return filler


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def throwaway_postgres(folder: Path, mb: int = 96) -> Iterator[tuple[str | None, Path | None, str]]:
    """A PostgreSQL cluster whose data directory is on a small file system under `folder`.

    Yields (admin URL, the small file system's mount, why not) : the URL and mount are None, with the
    reason, where this machine cannot mount or cannot run PostgreSQL as another user."""
    if os.geteuid() != 0 or not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
        yield None, None, "needs root, runuser and PostgreSQL 15's initdb to make a cluster on a small disk"
        return
    folder.chmod(0o755)
    with small_filesystem(folder, mb) as mount:
        if mount is None:
            yield None, None, "this machine allows neither a tmpfs nor a loop mount"
            return
        wal, sockets = folder / "wal", folder / "sockets"
        for d in (wal, sockets):
            d.mkdir()
        for d in (mount, wal, sockets):
            shutil.chown(d, "postgres")
        data, port = mount / "data", free_port()
        as_postgres = ("runuser", "-u", "postgres", "--")
        init = subprocess.run([*as_postgres, str(PG_BIN / "initdb"), "-D", str(data), "-X", str(wal), "-A", "trust",
                               "-U", "root"], capture_output=True, text=True)
        if init.returncode != 0:
            yield None, None, f"initdb failed: {init.stderr[-300:]}"
            return
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c max_connections=60"
        started = subprocess.run([*as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options,
                                  "-l", str(wal / "server.log"), "-w", "start"], capture_output=True, text=True)
        if started.returncode != 0:
            yield None, None, f"pg_ctl start failed: {started.stderr[-300:]}"
            return
        try:
            yield f"postgresql://root@127.0.0.1:{port}/postgres", mount, ""
        finally:
            subprocess.run([*as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                           capture_output=True)
