"""CPU limits respected (course_api.system.cpu): the usable cores from fake cgroup trees, affinity and OMP_NUM_THREADS;
torch's threads lowered to them when the models load, never raised, an explicit setting left alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from course_api.system import cpu
from course_api.system.cpu import ThreadLimit, UsableCpus, apply_thread_limit, cgroup_quota, plan_threads, usable_cpus
from helpers import ROOT


def v2_tree(root: Path, cpu_max: str, folder: str = "") -> Path:
    """A cgroup v2 tree with ``cpu.max`` in ``root/folder``."""
    where = root / folder
    where.mkdir(parents=True, exist_ok=True)
    (where / "cpu.max").write_text(cpu_max + "\n")
    return root


def v1_tree(root: Path, quota: int, period: int = 100_000, mount: str = "cpu", folder: str = "") -> Path:
    """A cgroup v1 tree with ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` under ``root/mount/folder``."""
    where = root / mount / folder
    where.mkdir(parents=True, exist_ok=True)
    (where / "cpu.cfs_quota_us").write_text(f"{quota}\n")
    (where / "cpu.cfs_period_us").write_text(f"{period}\n")
    return root


# ------------------------------------------------------------------------------- the usable count
def test_cgroup_v2_quota(tmp_path):
    root = v2_tree(tmp_path, "200000 100000")
    assert usable_cpus(16, None, root, {}) == (2, "cgroup quota 2.0 of 16")


def test_cgroup_v2_max_is_no_quota(tmp_path):
    root = v2_tree(tmp_path, "max 100000")
    assert cgroup_quota(root) is None
    cores, reason = usable_cpus(16, None, root, {})
    assert cores == 16
    assert reason == "all 16 of this machine; no quota or affinity limit"


@pytest.mark.parametrize(
    ("cpu_max", "cores", "reason"),
    [
        ("50000 100000", 1, "cgroup quota 0.5 of 16, rounded up to 1"),
        ("1000 100000", 1, "cgroup quota 0.01 of 16, rounded up to 1"),
        ("150000 100000", 2, "cgroup quota 1.5 of 16, rounded up to 2"),
        ("250000 100000", 3, "cgroup quota 2.5 of 16, rounded up to 3"),
        ("100000 100000", 1, "cgroup quota 1.0 of 16"),
    ],
)
def test_a_fractional_quota_rounds_up_to_at_least_one_core(tmp_path, cpu_max, cores, reason):
    assert usable_cpus(16, None, v2_tree(tmp_path, cpu_max), {}) == (cores, reason)


def test_cgroup_v1_quota(tmp_path):
    root = v1_tree(tmp_path, 300_000)
    assert usable_cpus(16, None, root, {}) == (3, "cgroup quota 3.0 of 16")


@pytest.mark.parametrize("mount", ["cpu,cpuacct", "cpuacct,cpu"])
def test_cgroup_v1_under_a_combined_mount(tmp_path, mount):
    root = v1_tree(tmp_path, 50_000, 100_000, mount=mount)
    assert usable_cpus(8, None, root, {}) == (1, "cgroup quota 0.5 of 8, rounded up to 1")


def test_cgroup_v1_minus_one_is_no_quota(tmp_path):
    root = v1_tree(tmp_path, -1)
    assert cgroup_quota(root) is None
    assert usable_cpus(4, None, root, {}).cores == 4


def test_a_quota_above_the_machine_is_no_limit(tmp_path):
    root = v2_tree(tmp_path, "6400000 100000")  # 64 cores on a 16-core machine
    assert usable_cpus(16, None, root, {}).cores == 16


@pytest.mark.parametrize("content", ["", "garbage", "max", "0 100000", "100000 0", "-5 100000", "1.5 100000"])
def test_unreadable_cpu_max_is_no_quota(tmp_path, content):
    assert cgroup_quota(v2_tree(tmp_path, content)) is None


def test_no_cgroup_files_at_all(tmp_path):
    assert cgroup_quota(tmp_path / "missing") is None
    assert usable_cpus(4, None, tmp_path / "missing", {}).cores == 4


def test_the_own_cgroup_and_every_parent_count(tmp_path):
    """A systemd or JupyterHub unit's quota, found through /proc/self/cgroup; the smallest on the way up wins."""
    v2_tree(tmp_path, "max 100000")
    v2_tree(tmp_path, "400000 100000", "system.slice")
    v2_tree(tmp_path, "200000 100000", "system.slice/jupyter-ada.service")
    assert cgroup_quota(tmp_path, "0::/system.slice/jupyter-ada.service\n") == 2
    v2_tree(tmp_path, "100000 100000", "system.slice")  # the parent is tighter now
    assert cgroup_quota(tmp_path, "0::/system.slice/jupyter-ada.service\n") == 1
    assert cgroup_quota(tmp_path, "") is None  # only the top of the tree: no quota there


def test_a_container_sees_its_own_cgroup_at_the_top(tmp_path):
    """Inside a container /proc/self/cgroup names a path of the host that is not in the mounted tree."""
    v1_tree(tmp_path, 200_000, mount="cpu,cpuacct")
    self_cgroup = "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/docker/abc\n"
    assert cgroup_quota(tmp_path, self_cgroup) == 2


def test_affinity_smaller_than_the_quota(tmp_path):
    root = v2_tree(tmp_path, "400000 100000")
    cores, reason = usable_cpus(16, {0, 1}, root, {})
    assert cores == 2
    assert reason == "CPU affinity 2 of 16; cgroup quota 4.0 of 16"  # the binding limit first


def test_quota_smaller_than_the_affinity(tmp_path):
    root = v2_tree(tmp_path, "100000 100000")
    assert usable_cpus(16, set(range(8)), root, {}) == (1, "cgroup quota 1.0 of 16; CPU affinity 8 of 16")


def test_affinity_alone():
    assert usable_cpus(16, {3, 5, 7}, "/nonexistent", {}) == (3, "CPU affinity 3 of 16")
    assert usable_cpus(4, set(range(4)), "/nonexistent", {}).cores == 4  # every core: no limit


def test_unknown_cpu_count():
    assert usable_cpus(None, {0, 1}, "/nonexistent", {}).cores == 2
    assert usable_cpus(None, None, "/nonexistent", {}).cores == 1


@pytest.mark.parametrize(
    ("value", "cores"),
    [("1", 1), ("3", 3), (" 2 ", 2), ("4,2", 4), ("32", 16), ("0", 16), ("-1", 16), ("abc", 16), ("", 16)],
)
def test_omp_num_threads(value, cores):
    assert usable_cpus(16, None, "/nonexistent", {"OMP_NUM_THREADS": value}).cores == cores


def test_omp_num_threads_with_a_quota(tmp_path):
    root = v2_tree(tmp_path, "400000 100000")
    assert usable_cpus(16, None, root, {"OMP_NUM_THREADS": "1"}) == (1, "OMP_NUM_THREADS=1; cgroup quota 4.0 of 16")
    assert usable_cpus(16, None, root, {"OMP_NUM_THREADS": "8"}).cores == 4


def test_detect_reads_the_cgroup_root_variable(tmp_path):
    root = v2_tree(tmp_path, "50000 100000")
    cores, reason = cpu.detect_usable_cpus({cpu.CGROUP_ROOT_VARIABLE: str(root)})
    assert cores == 1
    assert "cgroup quota 0.5" in reason


# --------------------------------------------------------------------------------- torch's threads
class FakeTorch:
    """The four torch functions apply_thread_limit uses, recording what was set."""

    def __init__(self, threads: int, interop: int, interop_locked: bool = False) -> None:
        self.threads, self.interop, self.interop_locked = threads, interop, interop_locked
        self.calls: list[tuple[str, int]] = []

    def get_num_threads(self) -> int:
        return self.threads

    def set_num_threads(self, nthreads: int, /) -> None:
        self.calls.append(("threads", nthreads))
        self.threads = nthreads

    def get_num_interop_threads(self) -> int:
        return self.interop

    def set_num_interop_threads(self, nthreads: int, /) -> None:
        if self.interop_locked:
            raise RuntimeError("Error: cannot set number of interop threads after parallel work has started")
        self.calls.append(("interop", nthreads))
        self.interop = nthreads


TWO = UsableCpus(2, "cgroup quota 2.0 of 16")


def test_plan_lowers_never_raises_and_leaves_an_explicit_choice():
    assert plan_threads(TWO, 16, {}) == (2, "lowered from 16 when the models load")
    assert plan_threads(TWO, 1, {}) == (1, "")  # e.g. training's deterministic() or someone's own choice
    assert plan_threads(TWO, 2, {}) == (2, "")
    assert plan_threads(TWO, 16, {"OMP_NUM_THREADS": "8"}) == (16, "set by OMP_NUM_THREADS=8")
    assert plan_threads(TWO, 16, {"MKL_NUM_THREADS": "4"}) == (16, "set by MKL_NUM_THREADS=4")
    assert plan_threads(TWO, 16, {"OMP_NUM_THREADS": "nonsense"}) == (2, "lowered from 16 when the models load")


def test_apply_lowers_both_thread_pools():
    torch = FakeTorch(16, 16)
    limit = apply_thread_limit(TWO, {}, torch)
    assert torch.calls == [("threads", 2), ("interop", 2)]
    assert limit == ThreadLimit(TWO, 2, "lowered from 16 when the models load")
    assert not limit.oversubscribed


def test_apply_never_raises_the_thread_count():
    torch = FakeTorch(1, 1)
    assert apply_thread_limit(UsableCpus(8, "all 8"), {}, torch).threads == 1
    assert torch.calls == []


def test_apply_leaves_omp_num_threads_alone():
    torch = FakeTorch(16, 16)
    limit = apply_thread_limit(TWO, {"OMP_NUM_THREADS": "16"}, torch)
    assert torch.calls == []
    assert limit.threads == 16
    assert limit.oversubscribed  # course-api doctor says so


def test_apply_when_torch_no_longer_allows_the_interop_threads():
    torch = FakeTorch(16, 16, interop_locked=True)
    assert apply_thread_limit(TWO, {}, torch).threads == 2
    assert torch.calls == [("threads", 2)]
    assert torch.interop == 16


def test_the_limit_applies_once_per_process(monkeypatch):
    torch = FakeTorch(16, 16)
    monkeypatch.setattr(cpu, "_APPLIED", {})
    monkeypatch.setattr(cpu, "_torch", lambda: torch)
    monkeypatch.setattr(cpu, "detect_usable_cpus", lambda environ=None: TWO)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    first = cpu.limit_torch_threads()
    torch.set_num_threads(4)  # someone's own choice afterwards
    assert cpu.limit_torch_threads() is first
    assert torch.threads == 4
    assert cpu.preview_thread_limit() is first


# ---------------------------------------------------------------------------------------- doctor
def test_doctor_shows_the_limits(monkeypatch):
    from course_api.workbook.doctor import check_cpu

    limit = ThreadLimit(TWO, 2, "lowered from 16 when the models load")
    monkeypatch.setattr(cpu, "preview_thread_limit", lambda: limit)
    check = check_cpu()
    assert check.ok
    assert check.name == "cpu"
    assert check.detail == (
        "2 usable cores (cgroup quota 2.0 of 16); torch uses 2 threads (lowered from 16 when the models load)"
    )


def test_doctor_flags_more_threads_than_cores(monkeypatch):
    from course_api.workbook.doctor import check_cpu

    limit = ThreadLimit(UsableCpus(1, "cgroup quota 1.0 of 16"), 16, "set by OMP_NUM_THREADS=16")
    monkeypatch.setattr(cpu, "preview_thread_limit", lambda: limit)
    check = check_cpu()
    assert not check.ok
    assert check.detail.startswith("1 usable core (cgroup quota 1.0 of 16); torch uses 16 threads")
    assert "OMP_NUM_THREADS=1" in check.fix


# ------------------------------------------------------------------------- a real torch, a process
PROBE = textwrap.dedent(
    """
    import json, threading
    import torch
    before = torch.get_num_threads()
    from course_api.server.inference import ModelService
    from course_api.server.settings import Settings
    from course_api.server.training import deterministic
    ModelService.load(Settings.from_env().weights_dir, "cpu")
    seen = []
    worker = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))  # like the inference thread
    worker.start(); worker.join()
    with deterministic():
        training = torch.get_num_threads()
    print(json.dumps({"before": before, "after": torch.get_num_threads(), "thread": seen[0],
                      "interop": torch.get_num_interop_threads(), "training": training,
                      "after_training": torch.get_num_threads()}))
    """
)


def probe(**variables: str) -> dict[str, int]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env.update(COURSE_API_DEVICE="cpu", **variables)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", out.stderr  # the package prints nothing about it
    return json.loads(out.stdout)


@pytest.mark.subprocess
def test_a_cgroup_quota_lowers_torchs_threads_when_the_models_load(tmp_path):
    seen = probe(COURSE_API_CGROUP_ROOT=str(v2_tree(tmp_path, "50000 100000")))
    assert seen["after"] == seen["thread"] == min(1, seen["before"])
    assert seen["interop"] <= 1
    assert seen["training"] == 1  # training's deterministic() sets one thread itself...
    assert seen["after_training"] == seen["after"]  # ...and restores the limited count


@pytest.mark.subprocess
def test_omp_num_threads_is_left_as_it_is(tmp_path):
    seen = probe(OMP_NUM_THREADS="1", COURSE_API_CGROUP_ROOT=str(v2_tree(tmp_path, "max 100000")))
    assert seen["before"] == seen["after"] == seen["thread"] == 1


@pytest.mark.subprocess
def test_a_generous_quota_never_raises_torchs_threads(tmp_path):
    seen = probe(COURSE_API_CGROUP_ROOT=str(v2_tree(tmp_path, "6400000 100000")))
    assert seen["after"] == seen["before"]
    assert seen["training"] == 1
