"""The one logger of alignlab, rendered by rich."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler

console = Console(stderr=True)
logger = logging.getLogger("alignlab")


def setup_logging(level: int | str = logging.INFO) -> None:
    """Attach a rich handler to the alignlab logger (idempotent)."""
    if not any(isinstance(h, RichHandler) for h in logger.handlers):
        handler = RichHandler(console=console, show_path=False, rich_tracebacks=False, markup=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level)
