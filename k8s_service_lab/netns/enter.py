"""Entering a network namespace from Python, for one thread, and always coming back.

A thread's network namespace decides where the sockets it opens live and which
``/proc/sys/net`` it sees, so the lab binds pod servers and writes node sysctls by entering a
namespace with ``setns(2)`` (Python 3.11 has no ``os.setns``; libc's is called through
ctypes). :func:`entered` restores the thread's namespace on the way out, even on error
(STYLE rule 15), and :func:`netns_inode` is the identity the safety checks compare: a
namespace is the same one exactly when the inode is::

    >>> netns_inode() == netns_inode("/proc/self/ns/net")   # this thread, and the process
    True

``with entered(namespace_path("ksl-node-kind-worker")): ...`` needs root (``CAP_SYS_ADMIN``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "CLONE_NEWNET",
    "NETNS_RUN_DIR",
    "entered",
    "move_to",
    "namespace_path",
    "netns_inode",
]

#: ``include/uapi/linux/sched.h``
CLONE_NEWNET = 0x40000000
#: Where ``ip netns`` (and pyroute2) bind-mount named namespaces.
NETNS_RUN_DIR = Path("/run/netns")

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def namespace_path(name: str) -> Path:
    return NETNS_RUN_DIR / name


def netns_inode(path: str = "/proc/thread-self/ns/net") -> int:
    """The inode that identifies a network namespace (of this thread, by default)."""
    return os.stat(path).st_ino


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextmanager
def entered(path: str | Path) -> Iterator[int]:
    """Run the block in the namespace at ``path`` (this thread only); yields its inode."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(path, os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield netns_inode()
        finally:
            _setns(home)
    finally:
        os.close(home)


def move_to(path: str | Path) -> int:
    """Move this thread into the namespace at ``path`` for good (a server's home); its inode."""
    target = os.open(path, os.O_RDONLY)
    try:
        _setns(target)
    finally:
        os.close(target)
    return netns_inode()
