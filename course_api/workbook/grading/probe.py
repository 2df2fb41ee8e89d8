"""The grader's side inside a student's kernel: it runs the course's own checks on the kernel's names.

:func:`install` runs before any student code. It keeps the course's checks (the registry's exercises and
``run_check``) where the notebook cannot reach them by name, caps the output the kernel sends, and blocks network
access beyond this machine. :func:`install` puts :func:`report` into ``builtins`` under a name only the grader
knows; the grader calls it after the cells it needs, through ``user_expressions``, so a notebook that prints
"✔" or defines its own ``check`` changes nothing.

Nothing here is a security boundary against code written to attack the grader; it makes honest mistakes (and
casual shortcuts such as redefining ``check``) harmless. A notebook that rewrites the course's check modules is
reported as such instead of being graded.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import ipaddress
import json
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from course_api.workbook.checks.registry import Outcome

NETWORK_BLOCKED = (
    "The grader blocks network access beyond this machine (127.0.0.1): a graded worksheet may use the course "
    "server it starts, but not the internet."
)
MESSAGE_LIMIT = 4000
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


def _is_local_host(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not isinstance(host, str) or host in _LOCAL_NAMES:
        return True  # unix sockets, None, the empty host
    try:
        address = ipaddress.ip_address(host.split("%")[0])
        return address.is_loopback or address.is_unspecified
    except ValueError:
        return host.endswith(".localhost")


def _network_guard(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.getaddrinfo" and not _is_local_host(args[0]):
        raise PermissionError(NETWORK_BLOCKED)
    if event in ("socket.connect", "socket.sendto") and isinstance(args[1], tuple) and not _is_local_host(args[1][0]):
        raise PermissionError(NETWORK_BLOCKED)


def _cap_stream(stream: Any, limit: int) -> None:
    """Let ``limit`` characters through ``stream.write``, then drop the rest (a notebook may print 100 MB)."""
    write = stream.write
    state = {"left": limit, "told": False}

    def capped(text: str) -> int:
        if state["left"] > 0:
            part = text[: state["left"]]
            state["left"] -= len(part)
            write(part)
        elif not state["told"]:
            state["told"] = True
            write(f"\n[the grader cut the output here: more than {limit} characters]\n")
        return len(text)

    with contextlib.suppress(AttributeError, TypeError):
        stream.write = capped


def _fingerprint(modules: list[types.ModuleType]) -> dict[str, int]:
    """Identity of every function and class in the course's check modules, and of their code."""
    prints: dict[str, int] = {}
    for module in modules:
        for name, value in vars(module).items():
            if callable(value):
                prints[f"{module.__name__}.{name}"] = id(value)
                code = getattr(value, "__code__", None)
                if code is not None:
                    prints[f"{module.__name__}.{name}.__code__"] = id(code)
    return prints


def _check_modules() -> list[types.ModuleType]:
    import course_api.workbook.checks  # noqa: F401  (registers every exercise)

    return [module for name, module in sorted(sys.modules.items()) if name.startswith("course_api.workbook.checks")]


def _changed(expected: dict[str, int], modules: list[types.ModuleType]) -> list[str]:
    now = _fingerprint(modules)
    return sorted(name for name, ident in expected.items() if now.get(name) != ident)


@dataclass(frozen=True)
class ExerciseResult:
    """What became of one exercise when the grader checked it, and what the check said. It leaves the kernel as
    ``as_dict()``, in JSON, and grades.json keeps that form."""

    outcome: Outcome
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"status": self.outcome.value, "message": self.message}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExerciseResult:
        return cls(Outcome(data["status"]), str(data["message"]))


def _result(outcome: Outcome, message: str) -> ExerciseResult:
    if len(message) > MESSAGE_LIMIT:
        message = message[:MESSAGE_LIMIT] + " [...]"
    return ExerciseResult(outcome, message)


def _make_report(namespace: dict[str, Any]) -> Callable[[list[str]], str]:
    """The grader's entry point, bound to the course's checks as they are now (before any student code)."""
    from course_api.workbook.checks.registry import EXERCISES, CheckFailed, ExerciseNotDone, run_check

    exercises = dict(EXERCISES)
    modules = _check_modules()
    expected = _fingerprint(modules)

    def run_one(exercise_id: str) -> ExerciseResult:
        spec = exercises.get(exercise_id)
        if spec is None:
            return _result(Outcome.ERROR, f"There is no exercise {exercise_id!r} in this version of the course.")
        changed = _changed(expected, modules)
        if changed:
            names = ", ".join(changed[:3])
            message = f"The notebook changed the course's checks ({names}), so it cannot be graded."
            return _result(Outcome.TAMPERED, message)
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                return _result(Outcome.DONE, run_check(spec, namespace))
        except ExerciseNotDone as exc:
            missing = ", ".join(f"`{name}`" for name in spec.needs if name not in namespace)
            if not missing:  # a project's file, missing or still a stub: the check says which
                return _result(Outcome.NOT_DONE, f"Not done: {exc}")
            return _result(
                Outcome.NOT_DONE,
                f"Not done: {missing} did not exist when the check ran: never defined, or the cell that defines it "
                "raised an error (see the notes above).",
            )
        except CheckFailed as exc:
            return _result(Outcome.FAILING, str(exc))
        except BaseException as exc:  # an error the course's checks do not explain (or a KeyboardInterrupt)
            return _result(Outcome.FAILING, f"The check stopped with {type(exc).__name__}: {exc}")

    def report(exercise_ids: list[str]) -> str:
        return json.dumps({exercise_id: run_one(exercise_id).as_dict() for exercise_id in exercise_ids})

    return report


def install_probe(name: str, output_limit: int, namespace: dict[str, Any]) -> str:
    """Prepare the kernel for grading; ``builtins.<name>(ids)`` then runs checks. Returns what was set up."""
    setattr(builtins, name, _make_report(namespace))
    sys.addaudithook(_network_guard)  # cannot be removed: every later socket call goes through it
    for stream in (sys.stdout, sys.stderr):
        _cap_stream(stream, output_limit)
    return "ready"
