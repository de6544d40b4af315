"""kcs.logs: log formats for applications, the ``kcs`` command's among them.

kcs's packages only use loggers (``kcs.client``, ``kcs.manager``, ...); they never
configure logging, so a program that does not either sees only warnings and errors, bare,
through Python's last-resort handler (see ``docs/logging.md``). An application turns it
on with :func:`configure_logging`, or with :mod:`logging` directly:

* :class:`TextFormatter`: ``2026-05-04T10:11:12.345+02:00 INFO    kcs.manager: message``;
* :class:`JsonFormatter`: one JSON object per line (``time``, ``level``, ``logger``,
  ``message``, ``exception``).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime
from typing import Any, Literal, TextIO

__all__ = ["LOG_FORMATS", "LOG_LEVELS", "JsonFormatter", "TextFormatter", "configure_logging"]

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
"""The names ``--log-level`` accepts."""
LOG_FORMATS = ("text", "json")
"""The names ``--log-format`` accepts."""

LogFormat = Literal["text", "json"]


def _timestamp(record: logging.LogRecord) -> str:
    """The record's time in ISO-8601, local time with its UTC offset, to the millisecond."""
    return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")


class TextFormatter(logging.Formatter):
    """``2026-05-04T10:11:12.345+02:00 INFO    kcs.manager: message``, then the traceback
    (if any) on the following lines."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (as in the text format), ``level``, ``logger``,
    ``message``, and ``exception`` / ``stack`` when the record has them. Newlines inside
    the message are escaped, so a record is always exactly one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(
    level: str | int = "info", fmt: LogFormat = "text", stream: TextIO | None = None
) -> logging.Handler:
    """Send every logger's records at ``level`` and above to ``stream`` (stderr by default)
    in the text or JSON format; returns the handler installed on the root logger.

    Replaces the root logger's handlers, so calling it again changes the format instead of
    printing each line twice. Meant for applications (the ``kcs`` command calls it); a
    library never should. Raises ``ValueError`` for an unknown level or format.
    """
    if isinstance(level, str):
        if level.lower() not in LOG_LEVELS:
            raise ValueError(f"unknown log level {level!r}: use one of {', '.join(LOG_LEVELS)}")
        level = getattr(logging, level.upper())
    if fmt not in LOG_FORMATS:
        raise ValueError(f"unknown log format {fmt!r}: use one of {', '.join(LOG_FORMATS)}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
