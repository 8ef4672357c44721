"""What a ledger run (verify, replay, import) could not accept, and where.

A result keeps the first ``MAX_PROBLEMS`` and counts every one: a ledger of garbage must not fill
memory, and the first problems say what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["MAX_PROBLEMS", "FrameLocation", "Problem", "ProblemLog"]

MAX_PROBLEMS = 1000


@dataclass(frozen=True, slots=True)
class FrameLocation:
    partition: str
    segment: str
    offset: int

    def __str__(self) -> str:
        return f"{self.partition}/{self.segment}@{self.offset}"


@dataclass(frozen=True, slots=True)
class Problem:
    """Something a run could not take, and where: a frame, a segment, a partition, a row."""

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass
class ProblemLog:
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def add_problem(self, where: object, what: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(str(where), what))
