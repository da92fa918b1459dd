"""Service logs (stderr; stdout for the worker): JSON lines for log collectors, or text lines for people.

``--log-format auto`` (the default) writes text lines (time in WIB, level, message; drawn by rich)
when the stream is a terminal, and one JSON object per line otherwise.

Sync events are the durable record (``lapor-sync log``); these lines mirror them as they happen.
httpx and httpcore stay at WARNING so request headers (credentials) are never printed. Every field
of a line (message, extra fields, traceback) is redacted just before it is written
(``lapor_sync.runtime.redaction``): an exception or a server's message may quote a reporter's phone
number, e-mail address or NIK, or a confidential text being sent.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from enum import StrEnum

from pythonjsonlogger.core import LogData
from pythonjsonlogger.json import JsonFormatter
from rich.console import Console
from rich.logging import RichHandler
from rich.text import Text

from lapor_sync.domain.timezones import WIB
from lapor_sync.runtime.redaction import redact, redact_value


class LogLevel(StrEnum):
    """Levels a user can pick for the service log."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class LogFormat(StrEnum):
    """How log lines are written: ``json`` (one object a line), ``text`` (for people), ``auto`` (text on a terminal)."""

    JSON = "json"
    TEXT = "text"
    AUTO = "auto"


class _UtcJsonFormatter(JsonFormatter):
    """JSON log lines, every text redacted, ``time`` in ISO 8601 UTC with its offset.

    The offset is written so that a log collector never guesses the host's zone.
    """

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        """The record's creation instant, e.g. ``2024-10-31T09:30:00.123+00:00``."""
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")

    def process_log_record(self, log_data: LogData) -> LogData:
        """Redact every string of the line: message, ``exc_info`` traceback and extra fields, nested ones too.

        Values are first turned into what the line will print (an exception or a dataclass in
        ``extra`` becomes its text or its fields), so no value is redacted as one thing and then
        printed as another.
        """
        printed: LogData = json.loads(self.jsonify_log_record(log_data))
        return {key: redact_value(value) for key, value in printed.items()}


class _CurrentStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` (or ``sys.stdout``) is at the time of the record, not at set-up.

    Tests and embedding tools swap ``sys.stderr``; a handler bound to the old one would write to a
    closed stream.
    """

    def __init__(self, name: str) -> None:
        self._stream_name = name
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> object:
        return getattr(sys, self._stream_name)

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


class _RedactedTextFormatter(logging.Formatter):
    """The record's message and any traceback, redacted as a whole (the text lines' counterpart of the JSON one)."""

    def format(self, record: logging.LogRecord) -> str:
        """The redacted ``message`` (with its traceback, when the record has one)."""
        return redact(super().format(record))


def _wib_time(local: datetime) -> Text:
    """Rich's log time (naive, the host's zone) as WIB, the zone people here read: ``16:30:05``."""
    return Text(local.astimezone(WIB).strftime("%H:%M:%S"))


class _CurrentStream:
    """``sys.<name>`` as it is at each write, a live status line's stand-in for it included.

    A rich Console given no file would unwrap that stand-in (rich's ``FileProxy``) and write to the
    terminal itself, at the end of the status line (``lapor-sync sync``): through the stand-in, the
    status line is cleared and the record drawn above it.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def write(self, text: str) -> int:
        return getattr(sys, self._name).write(text)

    def flush(self) -> None:
        getattr(sys, self._name).flush()

    def isatty(self) -> bool:
        return getattr(sys, self._name).isatty()

    def fileno(self) -> int:
        return getattr(sys, self._name).fileno()

    @property
    def encoding(self) -> str:
        return getattr(getattr(sys, self._name), "encoding", None) or "utf-8"


def _text_handler(stream_name: str) -> logging.Handler:
    """Text lines drawn by rich on ``sys.<stream_name>`` as it is at each record: WIB time, level, message."""
    handler = RichHandler(
        console=Console(file=_CurrentStream(stream_name)),  # type: ignore[arg-type]
        show_path=False,
        log_time_format=_wib_time,
        markup=False,  # a message may quote a server's text: never markup
    )
    handler.setFormatter(_RedactedTextFormatter("%(message)s"))
    return handler


def text_chosen(log_format: LogFormat, stream_name: str) -> bool:
    """Whether ``log_format`` means text lines on ``sys.<stream_name>``: ``text``, or ``auto`` on a terminal."""
    if log_format is LogFormat.AUTO:
        isatty = getattr(getattr(sys, stream_name), "isatty", None)
        return bool(isatty and isatty())
    return log_format is LogFormat.TEXT


def configure_logging(
    level: LogLevel = LogLevel.WARNING, *, to_stdout: bool = False, log_format: LogFormat = LogFormat.JSON
) -> None:
    """Send lapor-sync's log records at ``level`` and above to stderr, as JSON lines or text lines.

    Args:
        level: the lowest level printed.
        to_stdout: write to stdout instead (the worker: its output is the log a collector takes).
        log_format: ``json``, ``text``, or ``auto``: text when the stream is a terminal now.
    """
    stream_name = "stdout" if to_stdout else "stderr"
    handler: logging.Handler
    if text_chosen(log_format, stream_name):
        handler = _text_handler(stream_name)
    else:
        handler = _CurrentStreamHandler(stream_name)
        handler.setFormatter(
            _UtcJsonFormatter(
                "{asctime}{levelname}{name}{message}",
                style="{",
                rename_fields={"asctime": "time", "levelname": "level"},
            )
        )
    root = logging.getLogger("lapor_sync")
    root.handlers[:] = [handler]
    root.setLevel(level.value.upper())
    # The servers lapor-sync runs on uvicorn (/healthz, the simulator) log through "uvicorn.error":
    # the same lines, not Python's plain-text fallback on stderr.
    served = logging.getLogger("uvicorn.error")
    served.handlers[:] = [handler]
    served.propagate = False
    for noisy in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
