"""Loading the city mapping file: safe TOML parsing, and errors that point at the key and line."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from lapor_sync.config.files import key_path, problem_text, read_toml
from lapor_sync.domain.errors import ConfigurationError
from lapor_sync.domain.routing import CityMapping

DEFAULT_MAPPING = "palangka-raya.toml"
"""The mapping shipped in ``lapor_sync.mappings``, used when no file is configured."""

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\[\]]+?)\s*\]\]?\s*(?:#.*)?$")


def load_mapping(path: Path | None = None) -> CityMapping:
    """Load and validate a city mapping file.

    Args:
        path: the TOML file; ``None`` loads the packaged ``lapor_sync.mappings/palangka-raya.toml``.

    Returns:
        The validated mapping.

    Raises:
        ConfigurationError: the file cannot be read, is not TOML, or breaks a rule of
            :class:`~lapor_sync.domain.routing.CityMapping`. The message has one line per problem:
            ``<file>:<line>: <key path>: <reason>`` (``:<line>`` when it can be found).
    """
    source = path if path is not None else files("lapor_sync.mappings") / DEFAULT_MAPPING
    text, data = read_toml(source)
    try:
        return CityMapping.model_validate(data)
    except ValidationError as exc:
        lines = [_problem_line(str(source), text, error) for error in exc.errors(include_url=False)]
        raise ConfigurationError("\n".join(lines)) from None


def _problem_line(source: str, text: str, error: ErrorDetails) -> str:
    """Word one validation error as ``<file>[:<line>]: <key path>: <reason>``."""
    line = _line_of(text, error["loc"])
    where = f"{source}:{line}" if line is not None else source
    return f"{where}: {key_path(error['loc']) or '(top level)'}: {problem_text(error)}"


def _line_of(text: str, loc: tuple[str | int, ...]) -> int | None:
    """Find the 1-based line that a key path points at, best effort.

    Follows the file's layout: ``[table]`` or the n-th ``[[table]]`` for the first part, then
    ``key =`` lines inside that table. Stops at the deepest part it finds (an inline table's keys
    share their parent's line). ``None`` when not even the first part is found.
    """
    lines = text.splitlines()
    headers = [
        (number, match.group(2).strip("\"'")) for number, line in enumerate(lines) if (match := _HEADER.match(line))
    ]
    parts = [part for part in loc if part != "[key]"]
    if not parts:
        return None
    tables = [number for number, name in headers if name == parts[0]]
    if tables:
        index = parts[1] if len(parts) > 1 and isinstance(parts[1], int) else 0
        found = tables[min(index, len(tables) - 1)]
        rest = parts[2:] if len(parts) > 1 and isinstance(parts[1], int) else parts[1:]
        end = next((number for number, _ in headers if number > found), len(lines))
    else:
        found, rest, end = None, parts, (headers[0][0] if headers else len(lines))
    start = -1 if found is None else found
    for part in rest:
        if isinstance(part, int):
            break
        key = re.compile(rf"^\s*(?:{re.escape(str(part))}|\"{re.escape(str(part))}\")\s*=")
        hit = next((number for number in range(start + 1, end) if key.match(lines[number])), None)
        if hit is None:
            break
        found, start, end = hit, hit, hit + 1
    return None if found is None else found + 1
