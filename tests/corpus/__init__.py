"""Answers students really write, for every exercise: mistakes the check must catch and name, and other correct
answers it must accept. tests/workbook/test_mistakes.py runs each one through its check, as a student's cell would.

A lesson module (``lesson01.py`` ...) defines ``CASES``, and ``RESET``: code run before each case on a copy of
the lesson's namespace (after its setup cell), to give the case fresh objects (a new ``app``, an empty dict).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    exercise: str  # "03.1"
    name: str  # what the student did, e.g. "answers 200 for a missing note"
    code: str  # the student's answer cell, in place of the solution block
    says: tuple[str, ...] = ()  # a mistake: words the check's message must contain (any case)
    passes: bool = False  # True: another correct answer, which the check must accept

    @property
    def id(self) -> str:
        return f"{self.exercise} {self.name}"


def mistake(exercise: str, name: str, code: str, *says: str) -> Case:
    """A wrong answer: the check must fail, and its message must contain each of ``says``."""
    if not says:
        raise ValueError(f"{exercise} {name}: say which words of the message name the mistake")
    return Case(exercise, name, code, tuple(says))


def correct(exercise: str, name: str, code: str) -> Case:
    """A correct answer other than the worked one: the check must accept it."""
    return Case(exercise, name, code, passes=True)


def changed(text: str, old: str, new: str) -> str:
    """``text`` with ``old`` replaced by ``new`` (which must be there: a corpus case that changes nothing is a bug)."""
    if old not in text:
        raise ValueError(f"{old!r} is not in the answer")
    return text.replace(old, new)
