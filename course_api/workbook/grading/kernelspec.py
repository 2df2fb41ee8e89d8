"""The grader's kernel: this Python, started through :mod:`course_api.workbook.grading.sandbox`."""

from __future__ import annotations

import sys
from typing import Any

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager


class GraderSpecs(KernelSpecManager):
    """Knows one kernel, whatever name is asked for: the sandboxed course kernel in this environment."""

    def get_kernel_spec(self, kernel_name: str, *args: Any, **kwargs: Any) -> KernelSpec:
        return KernelSpec(
            argv=[sys.executable, "-m", "course_api.workbook.grading.sandbox", "-f", "{connection_file}"],
            display_name="course-api grader",
            language="python",
            interrupt_mode="signal",
            metadata={},
        )
