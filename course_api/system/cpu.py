"""How many CPU cores this process may use, and torch's threads kept within them.

On a laptop that is every core. On a shared machine it is often fewer: a class JupyterHub on Kubernetes, Binder
or a container gives each person a CPU quota through cgroups, and a batch system pins a job to some cores (its
CPU affinity). torch does not look at either: it starts one thread per core of the whole machine, so 30 students
on a 16-core node would each start 16 threads, and the quota then throttles all of them. The usable count is the
smallest of these, each one only where it is set:

1. ``os.cpu_count()``: the machine's cores (1 when unknown);
2. the CPU affinity, ``os.sched_getaffinity(0)`` (Linux; cpusets show up here too);
3. the cgroup CPU quota, rounded up to a whole core and at least 1 (0.5 -> 1, 2.5 -> 3): cgroup v2 ``cpu.max``
   (``"quota period"``, ``"max ..."`` means none), cgroup v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (-1
   means none). Read under ``/sys/fs/cgroup`` (``COURSE_API_CGROUP_ROOT`` points elsewhere, for tests), in
   this process's own cgroup (``/proc/self/cgroup``) and every cgroup above it: the smallest quota applies;
4. ``OMP_NUM_THREADS``, a positive whole number (the first of a list such as ``4,2``), when someone set it.

:func:`limit_torch_threads` applies it once per process, when the models load (``ModelService.load``): it lowers
torch's threads to the usable count and never raises them, and it changes nothing when ``OMP_NUM_THREADS`` or
``MKL_NUM_THREADS`` is set, since that is someone's explicit choice (torch reads both itself). It prints nothing.
``course-api serve --workers N`` shares the cores out: :func:`worker_thread_variables` gives each worker
``OMP_NUM_THREADS`` = usable cores // N (at least 1), unless one of those variables is set already.

Nothing here imports the rest of the package; :func:`usable_cpus` reads only what it is given, so it is tested
with fake cgroup trees.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path, PurePosixPath
from typing import NamedTuple, Protocol, cast

__all__ = [
    "CGROUP_ROOT_VARIABLE",
    "DEFAULT_CGROUP_ROOT",
    "ThreadLimit",
    "UsableCpus",
    "apply_thread_limit",
    "cgroup_quota",
    "detect_usable_cpus",
    "limit_torch_threads",
    "plan_threads",
    "preview_thread_limit",
    "usable_cpus",
    "worker_thread_variables",
]

DEFAULT_CGROUP_ROOT = "/sys/fs/cgroup"
CGROUP_ROOT_VARIABLE = "COURSE_API_CGROUP_ROOT"  # a fake cgroup tree, for tests
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")  # torch reads these itself: an explicit choice
_V1_CPU_MOUNTS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


class UsableCpus(NamedTuple):
    """How many cores this process may keep busy, and why (``cores, reason = usable_cpus(...)``)."""

    cores: int
    reason: str


@dataclass(frozen=True)
class ThreadLimit:
    """What :func:`limit_torch_threads` found and did: the usable cores and torch's intra-op threads."""

    usable: UsableCpus
    threads: int
    # "lowered from 16 when the models load", "set by OMP_NUM_THREADS=8", or "" when torch used no more anyway
    note: str = ""

    @property
    def oversubscribed(self) -> bool:
        """More torch threads than usable cores: they take turns on the cores (or wait for the quota)."""
        return self.threads > self.usable.cores


class _Torch(Protocol):
    def get_num_threads(self) -> int: ...
    def set_num_threads(self, nthreads: int, /) -> None: ...
    def get_num_interop_threads(self) -> int: ...
    def set_num_interop_threads(self, nthreads: int, /) -> None: ...


# ------------------------------------------------------------------------------------------ cgroups
def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _whole(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _v2_quota(folder: Path) -> Fraction | None:
    """``cpu.max``: ``"200000 100000"`` is 2 cores; ``"max 100000"`` (or no file) is no quota."""
    fields = (_read(folder / "cpu.max") or "").split()
    quota = _whole(fields[0]) if fields else None
    period = _whole(fields[1]) if len(fields) > 1 else 100_000
    if quota is None or period is None or quota <= 0 or period <= 0:
        return None
    return Fraction(quota, period)


def _v1_quota(folder: Path) -> Fraction | None:
    """``cpu.cfs_quota_us`` over ``cpu.cfs_period_us``; a quota of -1 (or no file) is no quota."""
    quota = _whole(_read(folder / "cpu.cfs_quota_us"))
    period = _whole(_read(folder / "cpu.cfs_period_us"))
    if quota is None or period is None or quota <= 0 or period <= 0:
        return None
    return Fraction(quota, period)


def _own_cgroups(self_cgroup: str) -> tuple[str, str]:
    """This process's cgroup paths (v2, v1 cpu controller) from the text of ``/proc/self/cgroup``."""
    v2 = v1 = "/"
    for line in self_cgroup.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and not controllers:
            v2 = path or "/"
        elif "cpu" in controllers.split(","):
            v1 = path or "/"
    return v2, v1


def _folders(base: Path, cgroup: str) -> list[Path]:
    """``base`` joined with ``cgroup`` and each of its parents up to ``base`` itself, those that exist.

    Inside a container the mounted tree often starts at the container's own cgroup, so its full path from
    ``/proc/self/cgroup`` is not there: walking up then finds the container's files at ``base``."""
    parts = [p for p in PurePosixPath(cgroup).parts if p not in ("/", ".", "..")]
    candidates = [base.joinpath(*parts[:n]) for n in range(len(parts), -1, -1)]
    return [folder for folder in candidates if folder.is_dir()]


def cgroup_quota(root: str | os.PathLike[str] = DEFAULT_CGROUP_ROOT, self_cgroup: str = "") -> Fraction | None:
    """The smallest CPU quota, in cores, on this process's cgroup or above it, v2 or v1; None when there is none.

    ``root`` is where the cgroup file systems are mounted; ``self_cgroup`` the text of ``/proc/self/cgroup``
    ("" looks only at the top of the tree, as inside a container)."""
    base = Path(root)
    v2_path, v1_path = _own_cgroups(self_cgroup)
    quotas = [_v2_quota(folder) for folder in _folders(base, v2_path)]
    for mount in _V1_CPU_MOUNTS:
        if (base / mount).is_dir():
            quotas += [_v1_quota(folder) for folder in _folders(base / mount, v1_path)]
    found = [quota for quota in quotas if quota is not None]
    return min(found) if found else None


# ------------------------------------------------------------------------------------- usable cores
def _thread_setting(environ: Mapping[str, str], name: str) -> int | None:
    """A positive whole number in ``name`` (the first of a list like ``4,2``); None when unset or not one."""
    first = environ.get(name, "").split(",")[0].strip()
    value = _whole(first) if first.isdigit() else None
    return value if value else None


def _cores(quota: Fraction) -> str:
    """2 -> "2.0", 1/2 -> "0.5", 1/4 -> "0.25": the quota as a number of cores."""
    text = f"{float(quota):.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def usable_cpus(
    cpu_count: int | None,
    affinity: Collection[int] | None = None,
    cgroup_root: str | os.PathLike[str] = DEFAULT_CGROUP_ROOT,
    environ: Mapping[str, str] | None = None,
    self_cgroup: str = "",
) -> UsableCpus:
    """The cores this process may use (the module's rules) and a reason such as ``cgroup quota 2.0 of 16``.

    Pure: ``cpu_count`` is ``os.cpu_count()``, ``affinity`` ``os.sched_getaffinity(0)`` (None where it does
    not exist), ``environ`` the variables (``OMP_NUM_THREADS``), ``self_cgroup`` the text of ``/proc/self/cgroup``.
    """
    total = cpu_count or (len(affinity) if affinity else 1)
    limits: list[tuple[int, str]] = []
    if affinity and len(affinity) < total:
        limits.append((len(affinity), f"CPU affinity {len(affinity)} of {total}"))
    quota = cgroup_quota(cgroup_root, self_cgroup)
    if quota is not None and quota < total:
        whole = max(1, -(-quota.numerator // quota.denominator))  # rounded up, at least one core
        rounded = "" if whole == quota else f", rounded up to {whole}"
        limits.append((whole, f"cgroup quota {_cores(quota)} of {total}{rounded}"))
    omp = _thread_setting(environ or {}, "OMP_NUM_THREADS")
    if omp is not None and omp < total:
        limits.append((omp, f"OMP_NUM_THREADS={omp}"))
    if not limits:
        return UsableCpus(total, f"all {total} of this machine; no quota or affinity limit")
    limits.sort(key=lambda limit: limit[0])  # the one that binds first
    return UsableCpus(limits[0][0], "; ".join(text for _, text in limits))


def detect_usable_cpus(environ: Mapping[str, str] | None = None) -> UsableCpus:
    """:func:`usable_cpus` for this process: its affinity, its cgroups and its environment."""
    env = os.environ if environ is None else environ
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    root = env.get(CGROUP_ROOT_VARIABLE, "").strip() or DEFAULT_CGROUP_ROOT
    self_cgroup = _read(Path("/proc/self/cgroup")) or ""
    return usable_cpus(os.cpu_count(), affinity, root, env, self_cgroup)


# ----------------------------------------------------------------------------------- torch's threads
def _torch() -> _Torch:
    import torch

    return cast(_Torch, torch)


def _explicit(environ: Mapping[str, str]) -> str | None:
    """``OMP_NUM_THREADS=8`` when a variable that torch reads chose its threads; None when none did."""
    for name in THREAD_VARIABLES:
        value = _thread_setting(environ, name)
        if value is not None:
            return f"{name}={value}"
    return None


def plan_threads(usable: UsableCpus, current: int, environ: Mapping[str, str]) -> tuple[int, str]:
    """torch's intra-op threads after the limit, and a note: never more than ``current``, and ``current`` as it
    is when ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` chose it."""
    explicit = _explicit(environ)
    if explicit is not None:
        return current, f"set by {explicit}"
    if current <= usable.cores:
        return current, ""
    return usable.cores, f"lowered from {current} when the models load"


def apply_thread_limit(
    usable: UsableCpus, environ: Mapping[str, str] | None = None, backend: _Torch | None = None
) -> ThreadLimit:
    """Lower torch's threads (``backend``: the torch module) to ``usable.cores`` as :func:`plan_threads` says,
    and its inter-op threads too while torch still allows it (before any parallel work)."""
    backend = backend or _torch()
    env = os.environ if environ is None else environ
    current = backend.get_num_threads()
    threads, note = plan_threads(usable, current, env)
    if threads < current:
        backend.set_num_threads(threads)
    if _explicit(env) is None and backend.get_num_interop_threads() > usable.cores:
        # RuntimeError once parallel work has started or someone set it already: it stays as it is then.
        with contextlib.suppress(RuntimeError):
            backend.set_num_interop_threads(usable.cores)
    return ThreadLimit(usable, threads, note)


def worker_thread_variables(workers: int, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """For ``workers`` server processes on this machine: ``{"OMP_NUM_THREADS": "N"}``, each worker's share of the
    usable cores (at least 1), to put in the environment the workers start with; ``{}`` for one worker (it keeps
    to the usable cores by itself) and when ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` is set (someone's choice)."""
    env = os.environ if environ is None else environ
    if workers <= 1 or _explicit(env) is not None:
        return {}
    return {"OMP_NUM_THREADS": str(max(1, detect_usable_cpus(env).cores // workers))}


_APPLIED: dict[str, ThreadLimit] = {}
_LOCK = threading.Lock()


def limit_torch_threads() -> ThreadLimit:
    """Keep torch within this process's usable cores, once per process (later calls return the first result
    and change nothing, so a later ``torch.set_num_threads`` of someone's own stays)."""
    with _LOCK:
        if "torch" not in _APPLIED:
            _APPLIED["torch"] = apply_thread_limit(detect_usable_cpus())
        return _APPLIED["torch"]


def preview_thread_limit() -> ThreadLimit:
    """What :func:`limit_torch_threads` did in this process, or would do, changing nothing (``course-api doctor``)."""
    with _LOCK:
        if "torch" in _APPLIED:
            return _APPLIED["torch"]
    usable = detect_usable_cpus()
    threads, note = plan_threads(usable, _torch().get_num_threads(), os.environ)
    return ThreadLimit(usable, threads, note)
