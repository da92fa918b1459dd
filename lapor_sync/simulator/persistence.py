"""Saving and loading a whole simulated world as one JSON file, so it can be served again exactly.

The file holds every complaint with its logs and thread, the pending requests and events, the id
counters and the clock's instant. Datetimes are written as ISO 8601 UTC strings.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
from datetime import date, datetime
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from lapor_sync.domain.clock import Clock, ManualClock
from lapor_sync.runtime.private_files import open_private
from lapor_sync.simulator.model import Complaint, Counters, Event
from lapor_sync.simulator.world import World

FORMAT = "lapor-sync-simulator-state/1"


def save_world(world: World, path: Path) -> None:
    """Write ``world`` to ``path`` atomically (a temporary file, then a rename).

    The file contains fictitious reporter data only; it is still personal-data shaped, so it is
    written with owner-only permissions.
    """
    with world.lock:
        state = {
            "format": FORMAT,
            "dataset": world.dataset,
            "seed": world.seed,
            "institution_id": world.institution_id,
            "reply_rate": world.reply_rate,
            "clock": world.clock.now().isoformat(),
            "counters": _plain(world.counters),
            "complaints": _plain(world.all_complaints()),
            "events": _plain(world.pending_events()),
        }
    # json.dumps, not json.dump: only the one-shot encoder is the C one (json.dump writes through
    # the pure-Python one, several times slower on the demo's 5 MB world, which the demo waits for).
    text = json.dumps(state, ensure_ascii=False, default=_encode)
    temporary = path.with_name(path.name + ".tmp")
    with open_private(temporary) as out:
        out.write(text)
    temporary.replace(path)


def load_world(path: Path, clock: Clock | None = None) -> World:
    """Read a world saved by :func:`save_world`.

    Args:
        path: the JSON file.
        clock: the clock to run on; default a ``ManualClock`` frozen at the saved instant.

    Raises:
        ValueError: the file is not a saved simulator state of this format.
    """
    state = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a simulator state file ({FORMAT})")
    return World(
        clock or ManualClock(datetime.fromisoformat(state["clock"])),
        [_decode(Complaint, c) for c in state["complaints"]],
        _decode(Counters, state["counters"]),
        seed=state["seed"],
        dataset=state["dataset"],
        institution_id=state["institution_id"],
        events=[_decode(Event, e) for e in state["events"]],
        reply_rate=state["reply_rate"],
    )


def _plain(value: Any) -> Any:
    """``value`` with its dataclasses (nested, in lists) as dicts, as ``dataclasses.asdict`` gives.

    Leaves are shared, not copied: ``asdict`` deep-copies every one of them, which made saving the
    demo's world take most of a second; ``json.dumps`` only reads them, under the world's lock.
    """
    if isinstance(value, list):
        return [_plain(item) for item in value]
    names = _field_names(type(value))
    if names is None:
        return value
    return {name: _plain(getattr(value, name)) for name in names}


@functools.cache
def _field_names(kind: type) -> tuple[str, ...] | None:
    """The field names of dataclass ``kind`` in declaration order, or ``None`` for another type."""
    return tuple(f.name for f in dataclasses.fields(kind)) if dataclasses.is_dataclass(kind) else None


def _encode(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot save a {type(value).__name__}")


def _decode(kind: Any, value: Any) -> Any:
    """Rebuild a value of type ``kind`` (dataclass, list, optional, datetime, date, enum, plain)."""
    if value is None:
        return None
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        return _decode(next(arg for arg in get_args(kind) if arg is not type(None)), value)
    if origin is list:
        return [_decode(get_args(kind)[0], item) for item in value]
    if dataclasses.is_dataclass(kind):
        hints = get_type_hints(kind)
        return kind(**{f.name: _decode(hints[f.name], value[f.name]) for f in dataclasses.fields(kind)})
    if kind is datetime:
        return datetime.fromisoformat(value)
    if kind is date:
        return date.fromisoformat(value)
    return kind(value)
