"""Nested rich progress bars sharing one live display (method > setting > seed > step)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from alignlab.log import console

_live: Progress | None = None
_depth = 0


def _noop(advance: int = 1, **fields: Any) -> None:
    return None


@contextlib.contextmanager
def progress_task(description: str, total: int | None, enabled: bool = True) -> Iterator[Callable[..., None]]:
    """A bar for one loop; yields ``advance(n=1, **fields)``. Bars opened inside are nested below it."""
    global _live, _depth
    if not enabled:
        yield _noop
        return
    if _live is None:
        _live = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            # In Jupyter the kernel's streams feed the console back into itself: no redirection there.
            redirect_stdout=not console.is_jupyter,
            redirect_stderr=not console.is_jupyter,
        )
        _live.start()
    _depth += 1
    task_id = _live.add_task("  " * (_depth - 1) + description, total=total, status="")
    live = _live

    def advance(n: int = 1, **fields: Any) -> None:
        status = " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
        live.update(task_id, advance=n, **({"status": status} if fields else {}))

    try:
        yield advance
    finally:
        live.remove_task(task_id)
        _depth -= 1
        if _depth == 0:
            live.stop()
            _live = None
