"""Windows: processes that end with this Python, through one job object (the Win32 API, called with ctypes).

A job object groups processes. Made with ``JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE``, Windows kills every process in
it when the last handle to the job closes, and the handles of a process close when it ends in any way: a normal
exit, a crash, "Restart kernel", Task Manager's "End task". So this Python makes one job (at the first
:func:`assign`), keeps its handle for the rest of its life and never closes it; no other process gets that
handle (it is not inheritable). The processes that a process in the job starts are in the job too.

Nothing here raises: where the job cannot be made, or a process cannot be put in it (a Python already in a job
that allows no other job, say), :func:`assign` returns False and :func:`problem` says why; the caller then stops
its processes at a normal exit only (:mod:`atexit`).

This module imports nothing of the package. Tests replace :func:`_kernel32` with a fake
(tests/system/test_portability.py).
"""

from __future__ import annotations

import ctypes
import functools
import threading
from typing import Any

JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x2000
JOB_OBJECT_EXTENDED_LIMIT_INFORMATION = 9  # the JobObjectExtendedLimitInformation class of SetInformationJobObject
PROCESS_SET_QUOTA = 0x0100
PROCESS_TERMINATE = 0x0001


class _State:
    def __init__(self) -> None:
        self.job: int | None = None  # this Python's job, once made; never closed (Windows does, when Python ends)
        self.problem: str | None = None  # why the last process could not be put in the job; None when it was


_state = _State()
_lock = threading.Lock()


class IO_COUNTERS(ctypes.Structure):
    _fields_ = tuple(
        (name, ctypes.c_uint64)
        for name in (
            "ReadOperationCount",
            "WriteOperationCount",
            "OtherOperationCount",
            "ReadTransferCount",
            "WriteTransferCount",
            "OtherTransferCount",
        )
    )


class JOBOBJECT_BASIC_LIMIT_INFORMATION(ctypes.Structure):
    _fields_ = (
        ("PerProcessUserTimeLimit", ctypes.c_int64),
        ("PerJobUserTimeLimit", ctypes.c_int64),
        ("LimitFlags", ctypes.c_uint32),
        ("MinimumWorkingSetSize", ctypes.c_size_t),
        ("MaximumWorkingSetSize", ctypes.c_size_t),
        ("ActiveProcessLimit", ctypes.c_uint32),
        ("Affinity", ctypes.c_size_t),
        ("PriorityClass", ctypes.c_uint32),
        ("SchedulingClass", ctypes.c_uint32),
    )


class JOBOBJECT_EXTENDED_LIMIT_INFORMATION(ctypes.Structure):
    _fields_ = (
        ("BasicLimitInformation", JOBOBJECT_BASIC_LIMIT_INFORMATION),
        ("IoInfo", IO_COUNTERS),
        ("ProcessMemoryLimit", ctypes.c_size_t),
        ("JobMemoryLimit", ctypes.c_size_t),
        ("PeakProcessMemoryUsed", ctypes.c_size_t),
        ("PeakJobMemoryUsed", ctypes.c_size_t),
    )


@functools.cache
def _kernel32() -> Any:
    """kernel32.dll with the signatures used here (handles are pointer-sized: never let ctypes cut them to int)."""
    dll = getattr(ctypes, "WinDLL")("kernel32", use_last_error=True)  # noqa: B009 (WinDLL exists on Windows only)
    handle, dword, boolean = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int
    signatures = {
        "CreateJobObjectW": ((ctypes.c_void_p, ctypes.c_wchar_p), handle),
        "SetInformationJobObject": ((handle, ctypes.c_int, ctypes.c_void_p, dword), boolean),
        "AssignProcessToJobObject": ((handle, handle), boolean),
        "OpenProcess": ((dword, boolean, dword), handle),
        "CloseHandle": ((handle,), boolean),
    }
    for name, (argtypes, restype) in signatures.items():
        function = getattr(dll, name)
        function.argtypes, function.restype = argtypes, restype
    return dll


def _failed(call: str) -> OSError:
    """The error of the Win32 ``call`` that just failed, with the reason Windows gives (GetLastError)."""
    code = getattr(ctypes, "get_last_error", lambda: 0)()  # both exist on Windows only
    reason = getattr(ctypes, "FormatError", lambda code: "")(code).strip()
    return OSError(f"{call} failed" + (f": {reason}" if reason else "") + f" (Windows error {code})")


def _make_job(kernel32: Any) -> int:
    """A new job that kills its processes when its last handle closes. Raises OSError when it cannot be made."""
    job = kernel32.CreateJobObjectW(None, None)  # no security attributes: a handle no child inherits; no name
    if not job:
        raise _failed("CreateJobObjectW")
    info = JOBOBJECT_EXTENDED_LIMIT_INFORMATION()
    info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
    if not kernel32.SetInformationJobObject(
        job, JOB_OBJECT_EXTENDED_LIMIT_INFORMATION, ctypes.pointer(info), ctypes.sizeof(info)
    ):
        error = _failed("SetInformationJobObject")
        kernel32.CloseHandle(job)
        raise error
    return int(job)


def job() -> int:
    """The handle of this Python's job, made at the first call. Raises OSError when it cannot be made."""
    with _lock:
        if _state.job is None:
            _state.job = _make_job(_kernel32())
        return _state.job


def join_failure() -> str | None:
    """Why the last process could not be put in the job (its process is then stopped at a normal exit only);
    None when it was."""
    return _state.problem


def _put_in_job(kernel32: Any, job_handle: int, process: Any) -> None:
    own = getattr(process, "_handle", None)  # subprocess.Popen's handle on Windows, with every access right
    if own is not None:
        handle = int(own)
    else:
        handle = kernel32.OpenProcess(PROCESS_SET_QUOTA | PROCESS_TERMINATE, 0, process.pid)
        if not handle:
            raise _failed("OpenProcess")
    try:
        if not kernel32.AssignProcessToJobObject(job_handle, handle):
            raise _failed("AssignProcessToJobObject")
    finally:
        if own is None:
            kernel32.CloseHandle(handle)


def assign(process: Any) -> bool:
    """Put ``process`` (a :class:`subprocess.Popen`) in this Python's job: it then ends when this Python ends, in
    any way. False when it could not be done, with the reason in :func:`problem` (unless the process had already
    ended: nothing to tie then). Never raises."""
    try:
        _put_in_job(_kernel32(), job(), process)
    except Exception as exc:  # OSError from Windows, anything from ctypes: the caller falls back to atexit
        if process.poll() is None:
            _state.problem = f"not in a job object: {exc}"
        return False
    _state.problem = None
    return True
