"""Errors that say which step failed, on which path, and what to do (lesson 00).

Every error the runtime raises on purpose is a `ContainerError`. The CLI prints it on one line
(`minicontainer: error: ...`) instead of a traceback; a notebook shows the same message.
"""

from __future__ import annotations


class ContainerError(Exception):
    """A failure a learner can act on: what step failed, on which path, and the fix."""

    def __init__(self, message: str, *, step: str = "", path: str = "", fix: str = "") -> None:
        self.message = message
        self.step = step
        self.path = path
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.step}: {self.message}" if self.step else self.message
        if self.path and self.path not in text:
            text += f" ({self.path})"
        if self.fix:
            text += f". Fix: {self.fix}"
        return text


class NeedsRoot(ContainerError):
    """The step needs root (CAP_SYS_ADMIN or another capability) and we do not have it."""

    def __init__(self, step: str, fix: str = "") -> None:
        super().__init__(
            "this needs root (CAP_SYS_ADMIN)",
            step=step,
            fix=fix or "run it as root, e.g. `sudo minicontainer ...`, or in the course VM started by `make lab`",
        )


class UsageError(ContainerError):
    """A wrong flag or value from the user (the CLI exits with status 125, like Docker)."""
