"""Outcomes users can act on: passed, failed, broken, skipped (with a reason), warned; and, for a
rerun of what failed (`--rerun-failed`), flaky: passed only on the rerun."""

from __future__ import annotations

from dataclasses import dataclass, field

ORDER = ("failed", "broken", "flaky", "warned", "passed", "skipped")  # worst first


@dataclass
class InvariantResult:
    id: str
    status: str = "skipped"
    message: str = ""
    objects: list[str] = field(default_factory=list)
    tests: list[str] = field(default_factory=list)

    def add(self, nodeid: str, status: str, message: str, objects: list[str]) -> None:
        """Fold one test's outcome in: the worst status wins; equal ones pool their messages."""
        first = not self.tests
        self.tests.append(nodeid)
        new, old = ORDER.index(status), ORDER.index(self.status)
        if first or new < old:
            self.status, self.message = status, message
        elif new == old and message and message not in self.message:
            self.message = f"{self.message}\n{message}" if self.message else message
        for obj in objects:
            if obj not in self.objects:
                self.objects.append(obj)
