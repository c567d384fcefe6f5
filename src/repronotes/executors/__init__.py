"""Where a run happens. `local` (this machine, one run after another) is the default."""

from __future__ import annotations

from repronotes.errors import SpecError
from repronotes.executors.base import Executor
from repronotes.executors.local import LocalExecutor

__all__ = ["Executor", "LocalExecutor", "make_executor"]


def make_executor(name: str) -> Executor:
    if name == "local":
        return LocalExecutor()
    raise SpecError("<settings>", "executor", f"unknown executor {name!r}; use local")
