"""What a person does on a hosted page, and the time-driven work of the sandbox."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .core import Sandbox


def run_due_work(sandbox: Sandbox) -> None:
    """Run everything due by the wall clock."""
