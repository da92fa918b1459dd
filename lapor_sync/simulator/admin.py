"""Simulator-only HTTP endpoints, outside the contract: move the simulated clock, read the tallies.

``GET /_simulator/clock`` reads the clock; ``POST /_simulator/clock`` with
``{"to": "DD-MM-YYYY HH:MM:SS"}`` (WIB) moves it forward, applying due events.
``GET /_simulator/tallies?from=DD-MM-YYYY&to=DD-MM-YYYY`` counts the complaints dispositioned to the
city in that period by outcome. ``GET /_simulator/faults`` shows the fault plan in force and the
faults injected so far by kind (over every plan since start); ``POST /_simulator/faults`` with
``{"profile": "flaky", "seed": 7}`` switches to a named profile (``"none"`` stops faults).
``POST /_simulator/save`` (only when the simulator was started with a file to save to, e.g.
``lapor-sync simulator --save-state FILE``) saves the whole world to that file now, as on exit; the
file is fixed at start, never named by a request.
No authentication: the simulator binds to loopback only. Faults never touch these endpoints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lapor_sync.domain.clock import ManualClock
from lapor_sync.simulator.faults.plan import FaultSwitch
from lapor_sync.simulator.faults.profiles import profile
from lapor_sync.simulator.persistence import save_world
from lapor_sync.simulator.wire import format_wib, parse_wib, parse_wire_date
from lapor_sync.simulator.world import World

_Endpoint = Callable[[Request], Awaitable[Response]]


def _refused(message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=422)


def simulator_routes(world: World, faults: FaultSwitch, save_to: Path | None = None) -> list[Route]:
    """Return the ``/_simulator/...`` routes over ``world`` and its fault ``faults`` switch.

    ``save_to``: the file ``POST /_simulator/save`` writes; ``None`` leaves that route out (404).
    """
    routes = [
        Route("/_simulator/clock", _clock(world), methods=["GET", "POST"]),
        Route("/_simulator/tallies", _tallies(world), methods=["GET"]),
        Route("/_simulator/faults", _fault_plan(faults), methods=["GET", "POST"]),
    ]
    if save_to is not None:
        routes.append(Route("/_simulator/save", _save(world, save_to), methods=["POST"]))
    return routes


def _clock(world: World) -> _Endpoint:
    """``GET`` reads the simulated clock; ``POST {"to": "DD-MM-YYYY HH:MM:SS"}`` (WIB) moves it forward."""

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            try:
                body = await request.json()
                world.advance_to(parse_wib(str(body.get("to", "")) if isinstance(body, dict) else ""))
            except (ValueError, TypeError) as refused:
                return _refused(f"Cannot move the clock: {refused}")
        return JSONResponse(
            {
                "now": format_wib(world.clock.now()),
                "movable": isinstance(world.clock, ManualClock),
                "pending_events": len(world.pending_events()),
            }
        )

    return clock


def _save(world: World, path: Path) -> _Endpoint:
    """``POST``: save the whole world to ``path`` (the start-up file; 0600, atomically) and say where."""

    async def save(_: Request) -> Response:
        # Off the event loop: writing a few MB of JSON would hold every other request meanwhile.
        await run_in_threadpool(save_world, world, path)
        return JSONResponse({"saved": str(path), "now": format_wib(world.clock.now())})

    return save


def _tallies(world: World) -> _Endpoint:
    """``GET ?from=DD-MM-YYYY&to=DD-MM-YYYY``: the complaints dispositioned to the city then, by outcome."""

    async def tallies(request: Request) -> Response:
        try:
            start = parse_wire_date(request.query_params.get("from", ""))
            end = parse_wire_date(request.query_params.get("to", ""))
        except ValueError:
            return _refused("from and to must be DD-MM-YYYY.")
        period = {"from": start.strftime("%d-%m-%Y"), "to": end.strftime("%d-%m-%Y")}
        return JSONResponse({**period, **world.tallies(start, end)})

    return tallies


def _fault_plan(faults: FaultSwitch) -> _Endpoint:
    """``GET`` shows the plan in force and the counts; ``POST {"profile": ..., "seed": ...}`` switches it."""

    async def fault_plan(request: Request) -> Response:
        if request.method == "POST":
            try:
                body = await request.json()
                seed = body.get("seed", 0)
                if isinstance(seed, bool) or not isinstance(seed, int):
                    raise ValueError("seed must be a whole number")
                faults.set(profile(str(body.get("profile")), seed))
            except (ValueError, AttributeError) as refused:
                return _refused(f"Cannot switch faults: {refused}")
        plan = faults.plan
        shown: dict[str, object] = {"profile": None}
        if plan is not None:
            shown = {
                "profile": plan.name,
                "seed": plan.seed,
                "requests": plan.requests,
                "rates": dict(plan.rates),
                "settings": dataclasses.asdict(plan.settings),
            }
        return JSONResponse({**shown, "counts": faults.counts()})

    return fault_plan
