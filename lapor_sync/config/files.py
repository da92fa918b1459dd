"""Reading TOML configuration files safely, and wording validation problems for people, one line each."""

from __future__ import annotations

import errno
import os
import re
import stat
import tomllib
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from pydantic_core import ErrorDetails

from lapor_sync.domain.errors import ConfigurationError

_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_SHOULD = re.compile(r"^(?:Input|String|Value|Dictionary|Tuple|List|Decimal) should ")
_SCALARS = (str, int, float, bool)
MAX_FILE_BYTES = 1024 * 1024
"""The largest configuration or mapping file read (1 MiB; the packaged mapping is a few KiB). A
larger file, or a device that never ends (``/dev/zero``), is refused before it fills memory."""
MAX_NESTING = 32
"""The deepest nesting of tables and arrays accepted (the packaged mapping uses 3). Deeper data
would exhaust Python's recursion limit in the parser or, a little shallower, in validation."""


def read_toml(path: Path | Traversable) -> tuple[str, dict[str, Any]]:
    """Read and parse a TOML file with ``tomllib`` (data only: nothing in it is executed).

    Args:
        path: a file on disk, or a packaged resource.

    Returns:
        The file's text (to locate keys in it) and its parsed content.

    Raises:
        ConfigurationError: the file is missing, unreadable (a pipe without a writer too), larger than
            :data:`MAX_FILE_BYTES`, not UTF-8, not valid TOML, or nested deeper than
            :data:`MAX_NESTING`; the message starts with the file name (and ``:line`` for syntax errors).
    """
    text = read_text(path, MAX_FILE_BYTES, too_large="; not a configuration file")
    try:
        data = tomllib.loads(text)
    except RecursionError:  # tomllib recurses once per level
        raise _too_deep(path) from None
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        position = _POSITION.search(message)
        if position is None:
            raise ConfigurationError(f"{path}: TOML syntax error: {message}") from None
        reason = message[: position.start()]
        raise ConfigurationError(
            f"{path}:{position.group(1)}: TOML syntax error: {reason} (column {position.group(2)})"
        ) from None
    if _nesting(data) > MAX_NESTING:
        raise _too_deep(path)
    return text, data


def _too_deep(path: Path | Traversable) -> ConfigurationError:
    return ConfigurationError(
        f"{path}: tables or arrays nested deeper than {MAX_NESTING} levels; not a configuration file"
    )


def _nesting(data: dict[str, Any]) -> int:
    """How deep tables and arrays nest in ``data`` (1 for a flat table), counted without recursion."""
    deepest, pending = 0, [(data, 1)]
    while pending:
        value, depth = pending.pop()
        deepest = max(deepest, depth)
        if depth > MAX_NESTING:
            break
        items = value.values() if isinstance(value, dict) else value
        pending.extend((item, depth + 1) for item in items if isinstance(item, dict | list))
    return deepest


def read_text(path: Path | Traversable, limit: int, *, where: str = "", too_large: str = "") -> str:
    """Read ``path`` as UTF-8 text of at most ``limit`` bytes (:func:`read_bounded`).

    Args:
        path: the file, or a packaged resource.
        limit: the largest size read, bytes.
        where: what the messages start with before the path (``"LAPOR_SYNC_API_KEY_FILE: "``).
        too_large: what the "larger than" message adds.

    Raises:
        ConfigurationError: ``<where><path>: file not found``, ``...: cannot read: <why>``,
            ``...: larger than <limit in KiB or MiB><too_large>`` or ``...: not UTF-8 text``.
    """
    try:
        data = read_bounded(path, limit)
    except FileNotFoundError:
        raise ConfigurationError(f"{where}{path}: file not found") from None
    except OSError as exc:
        raise ConfigurationError(f"{where}{path}: cannot read: {exc.strerror or type(exc).__name__}") from None
    if len(data) > limit:
        size = f"{limit // 2**20} MiB" if limit >= 2**20 else f"{limit // 2**10} KiB"
        raise ConfigurationError(f"{where}{path}: larger than {size}{too_large}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigurationError(f"{where}{path}: not UTF-8 text") from None


def read_bounded(path: Path | Traversable, limit: int) -> bytes:
    """Read at most ``limit + 1`` bytes of ``path`` (one more tells a file that is too large).

    A device that never ends (``/dev/zero``) cannot fill memory, and a named pipe that nobody
    writes to cannot hold the start up: opening one would wait forever. A pipe with a writer
    (``-c <(...)``, ``/dev/stdin``) is read like a file.

    Raises:
        OSError: the file cannot be read (``strerror`` says why, also for a pipe without a writer).
    """
    if not isinstance(path, Path):
        with path.open("rb") as resource:  # a packaged resource
            return resource.read(limit + 1)
    with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as file:
        pipe = stat.S_ISFIFO(os.fstat(file.fileno()).st_mode)
        os.set_blocking(file.fileno(), True)  # a writer's data is waited for, once one is there
        data = file.read(limit + 1)
    if pipe and not data:
        raise OSError(errno.ENODATA, "a named pipe that nobody writes to")
    return data


def key_path(loc: tuple[str | int, ...]) -> str:
    """Write a pydantic error location as a key path.

    ``("category_route", 3, "agency")`` becomes ``category_route[3].agency``. Pydantic's ``[key]``
    marker (the key itself was wrong) is dropped.
    """
    path = ""
    for part in loc:
        if part == "[key]":
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def problem_text(error: ErrorDetails, *, show_input: bool = True) -> str:
    """Word one pydantic error as a short reason, e.g. ``must be 'static', 'splp_key' or 'oauth2', got 'basic'``.

    Args:
        error: one entry of ``ValidationError.errors()``.
        show_input: append the offending value (scalars only, shortened); pass ``False`` for
            secrets, whose values must never reach a message.
    """
    kind = error["type"]
    if kind == "missing":
        return "required, but not given"
    if kind == "extra_forbidden":
        return "unknown key (not allowed here)"
    reason = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    reason = _SHOULD.sub("must ", reason)
    if "[key]" in error["loc"]:
        reason = f"key {reason}"
    value = error.get("input")
    if show_input and isinstance(value, _SCALARS) and kind != "mapping":
        shown = repr(value)
        reason += f", got {shown if len(shown) <= 60 else shown[:57] + '...'}"
    return reason
