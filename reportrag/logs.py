"""Logging helpers shared by the command line, the API workers and the Milvus Lite process."""

from __future__ import annotations

import logging


def quiet_jieba(level: int = logging.WARNING) -> None:
    """Set jieba's log level (Milvus Lite's Chinese analyzer).

    jieba logs its dictionary loading at DEBUG on a stderr handler of its own, so the root
    logger's level does not silence it. Nothing happens when jieba is not installed.
    """
    try:
        import jieba
    except ImportError:
        return
    jieba.setLogLevel(level)
