"""The child process of execute.py: runs papermill, speaks JSON lines on stdout.

Besides the notebook's cells it runs two silent snippets in the kernel, which add no cell to the
notebook: a prologue that notes the modules the kernel itself loaded, and an epilogue that writes
the distributions the notebook imported (mapped from the kernel's `sys.modules`) to the capture
file. That is how a record lists the packages a notebook really used.
This module is executed as `python -m repronotes.execute_child '<json args>'`, never imported by the engine.
"""

from __future__ import annotations

import json
import sys
from typing import Any

PROLOGUE = "import sys as __rn_sys\n__rn_baseline = set(__rn_sys.modules)\ndel __rn_sys\n"
EPILOGUE = """
def __rn_epilogue():
    import json, os, sys
    from importlib import metadata
    target = os.environ.get("REPRONOTES_CAPTURE_FILE")
    if not target:
        return
    baseline = globals().get("__rn_baseline", set())
    tops = {name.partition(".")[0] for name in list(sys.modules) if name not in baseline}
    mapping = metadata.packages_distributions()
    versions = {}
    for dist in sorted({d for top in tops for d in mapping.get(top, ())}):
        try:
            versions[dist] = metadata.version(dist)
        except Exception:
            pass
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"kind": "imports", "distributions": versions}, sort_keys=True) + "\\n")
__rn_epilogue()
del __rn_epilogue
"""


def _emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event, default=str) + "\n")
    sys.stdout.flush()


def _install_silent_snippets() -> None:
    """papermill's engine builds its client from this module attribute; this child swaps in a subclass."""
    import papermill.engines
    from papermill.clientwrap import PapermillNotebookClient

    class Client(PapermillNotebookClient):  # type: ignore[misc]
        def papermill_execute_cells(self) -> None:
            self._silently(PROLOGUE)
            super().papermill_execute_cells()
            self._silently(EPILOGUE)

        def _silently(self, code: str) -> None:
            try:
                msg_id = self.kc.execute(code, silent=True, store_history=False)
                self.wait_for_reply(msg_id)
            except Exception:  # a dead kernel is reported by the cells, not by this bookkeeping
                return

    papermill.engines.PapermillNotebookClient = Client


def main(raw: str) -> int:
    import nbformat
    import papermill
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    args = json.loads(raw)
    total = len(nbformat.read(args["notebook"], as_version=4).cells) + 1  # + papermill's parameters cell
    _install_silent_snippets()

    def on_cell_start(cell: Any, cell_index: int, **_: Any) -> None:
        _emit({"event": "cell", "index": cell_index, "total": total})

    try:
        papermill.execute_notebook(
            args["notebook"],
            args["output"],
            parameters=args["parameters"],
            cwd=args["cwd"],
            kernel_name=args["kernel"],
            progress_bar=False,
            log_output=False,
            on_cell_start=on_cell_start,
        )
    except PapermillExecutionError as exc:
        _emit(_cell_failure(exc))
        return 1
    except DeadKernelError as exc:
        _emit({"event": "error", "kind": "dead_kernel", "message": str(exc) or "kernel died"})
        return 1
    except NoSuchKernel as exc:
        _emit({"event": "error", "kind": "no_kernel", "message": str(exc)})
        return 1
    _emit({"event": "done", "cells": total})
    return 0


def _cell_failure(exc: Any) -> dict[str, Any]:
    from repronotes.redact import strip_ansi

    return {
        "event": "error",
        "kind": "cell",
        "cell_index": exc.exec_count if exc.exec_count is not None else exc.cell_index,
        "ename": exc.ename,
        "evalue": exc.evalue,
        "traceback": [strip_ansi(line) for line in "\n".join(exc.traceback).splitlines()],
        "source": exc.source,
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
