"""The kernel a worksheet is graded in: ``python -m course_api.workbook.grading.sandbox -f CONNECTION_FILE``.

Before it becomes an ordinary IPython kernel, it

* moves into a network namespace of its own where Linux allows it (root, or unprivileged user namespaces):
  only a loopback interface, so the notebook reaches no other machine and its servers' ports are its own;
* caps the memory it may allocate (``RLIMIT_DATA`` on Linux; the grader also watches its resident memory);
* writes no core files.

What it managed is left in ``COURSE_API_GRADER_ISOLATION`` for the grader's report. Where a step is not possible
(macOS, Windows, a container without namespaces) the kernel still runs; the network is then blocked by the
probe's audit hook (:mod:`course_api.workbook.grading.probe`) and ports are whatever the OS hands out.
"""

from __future__ import annotations

import os
import sys

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def _unshare(flags: int) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(flags) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def _map_ids(uid: int, gid: int) -> None:
    """In a new user namespace: be the same user and group as outside."""
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w", encoding="ascii") as file:
            file.write(text)


def _loopback_up() -> None:
    import fcntl
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sh22x", b"lo", 0)
        flags = struct.unpack("16sh22x", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sh22x", b"lo", flags | IFF_UP))


def isolate_network() -> str:
    """A network namespace with only loopback, up; what happened, in words."""
    if not sys.platform.startswith("linux"):
        return f"no network namespace on {sys.platform}"
    uid, gid = os.geteuid(), os.getegid()
    try:
        if uid == 0:
            _unshare(CLONE_NEWNET)
        else:
            _unshare(CLONE_NEWUSER | CLONE_NEWNET)
            _map_ids(uid, gid)
        _loopback_up()
    except OSError as exc:
        return f"no network namespace ({exc.strerror or exc})"
    return "network namespace"


def limit_memory(megabytes: int) -> str:
    try:
        import resource
    except ImportError:  # Windows
        return "memory watched"
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if not sys.platform.startswith("linux") or megabytes <= 0:
        return "memory watched"
    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    return f"memory limit {megabytes} MiB"


def main() -> None:
    steps = []
    if os.environ.get("COURSE_API_GRADER_NETNS", "1") != "0":
        steps.append(isolate_network())
    steps.append(limit_memory(int(os.environ.get("COURSE_API_GRADER_MEMORY_MB", "0") or 0)))
    os.environ["COURSE_API_GRADER_ISOLATION"] = "; ".join(steps)
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
