"""Give QEMU's slirp listeners (a kvm run's published ports) a real listen backlog.

libslirp (4.7, Debian bookworm) opens each `hostfwd` listener with `listen(fd, 1)`: the host
kernel then keeps at most two completed connections for QEMU to accept, and a burst of
clients (wrk -c200, or 64 browsers at once) has its SYNs dropped and retried after 1, 3, 7 s.
QEMU has no option for it. Linux lets `listen()` on a socket that already listens change
only its backlog, and `pidfd_getfd` (Linux 5.6) gives the runner a duplicate of QEMU's
descriptor (its child: the ptrace check passes), so the runner raises the backlog from
outside, once QEMU listens, while the guest boots. Why slirp and not passt on kvm:
docs/network.md "Known problem (passt): the published port closes".
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
import socket
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

BACKLOG = 1024
"""The backlog given to slirp's listeners (the kernel caps it at net.core.somaxconn)."""

WAIT_S = 2.0
"""How long to wait for QEMU to open its listeners (it does so ~20-30 ms after exec)."""

_SYS_PIDFD_GETFD = 438  # the same number on x86_64 and aarch64 (the common syscall table)


class BacklogError(Exception):
    """The backlog could not be raised (no pidfd_getfd, not permitted, QEMU gone)."""


def _getfd(pidfd: int, fd: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    dup = int(libc.syscall(_SYS_PIDFD_GETFD, pidfd, fd, 0))
    if dup < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return dup


def _socket_fds(pid: int) -> list[int]:
    fds = []
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                fds.append(int(name))
        except OSError:  # closed meanwhile
            continue
    return fds


def _raise_listeners(pidfd: int, pid: int, ports: set[int], backlog: int) -> set[int]:
    """Raise the backlog of `pid`'s listening TCP sockets on `ports`; the ports done."""
    done: set[int] = set()
    for fd in _socket_fds(pid):
        try:
            dup = _getfd(pidfd, fd)
        except OSError as e:
            if e.errno == errno.EBADF:
                continue  # closed between the listing and the call
            raise
        with socket.socket(fileno=dup) as s:
            if s.family not in (socket.AF_INET, socket.AF_INET6) or s.type != socket.SOCK_STREAM:
                continue
            if not s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                continue
            port = s.getsockname()[1]
            if port in ports:
                s.listen(backlog)
                done.add(port)
    return done


def raise_backlog(
    pid: int, ports: set[int], backlog: int = BACKLOG, wait_s: float = WAIT_S
) -> None:
    """Wait until process `pid` listens on every TCP port of `ports`, and give each of those
    listeners `backlog`. BacklogError when that cannot be done (the run still works, with
    slirp's backlog of 1)."""
    if not ports:
        return
    try:
        pidfd = os.pidfd_open(pid)
    except (OSError, AttributeError) as e:
        raise BacklogError(f"pidfd_open: {getattr(e, 'strerror', e)}") from None
    try:
        deadline = time.monotonic() + wait_s
        left = set(ports)
        while True:
            gone = bool(select.select([pidfd], [], [], 0)[0])  # readable once it has exited
            try:
                left -= _raise_listeners(pidfd, pid, left, backlog)
            except OSError as e:
                raise BacklogError(
                    "QEMU exited" if gone else f"pidfd_getfd: {e.strerror}"
                ) from None
            if not left:
                return
            if gone:
                raise BacklogError("QEMU exited")
            if time.monotonic() >= deadline:
                raise BacklogError(f"QEMU did not listen on port {min(left)} within {wait_s:g} s")
            time.sleep(0.002)
    finally:
        os.close(pidfd)


def raise_or_warn(pid: int, ports: set[int], running: Callable[[], bool]) -> None:
    """raise_backlog for a run (the runner's and the kvm quick start's): where it cannot be
    done and QEMU still runs (`running`), the run goes on with slirp's backlog of 1, said
    in one line."""
    try:
        raise_backlog(pid, ports)
    except BacklogError as e:
        if running():
            print(
                f"wasmkiln: warning: published ports keep slirp's listen backlog of 1 ({e}): "
                "bursts of connections wait on SYN retries",
                file=sys.stderr,
            )
