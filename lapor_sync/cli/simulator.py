"""The ``simulator`` command: serve the built-in SP4N-LAPOR! simulator on loopback until Ctrl-C."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lapor_sync.domain.clock import Clock, ManualClock, SystemClock
from lapor_sync.runtime.loopback import is_loopback, listening_notice

# Light: the auth modes and fault profiles name the options. The server (Starlette, the generated
# world) is imported when the command runs, so building the CLI does not pay for it.
from lapor_sync.simulator.auth import AuthMode
from lapor_sync.simulator.faults.profiles import PROFILES, resolve_faults

if TYPE_CHECKING:
    from lapor_sync.simulator import Simulator
    from lapor_sync.simulator.faults.plan import FaultPlan
    from lapor_sync.simulator.server import Serving

CLOCK_HELP = (
    "Simulated clock: 'start' (00:00 WIB on 1 Jan 2024, nothing visible yet; default for a new data set), "
    "'end' (31 Oct 2024 23:59:59 WIB, everything visible), 'saved' (frozen where --state left it; "
    "default with --state), 'system' (the machine's clock) or a WIB time 'DD-MM-YYYY HH:MM:SS'. "
    "Move it later with POST /_simulator/clock."
)


FAULTS_HELP = (
    f"Inject faults into the contract's endpoints: a profile ({', '.join(PROFILES)}) or a TOML profile "
    "file (format: lapor_sync/simulator/faults/profiles.py). Counts: GET /_simulator/faults."
)


def _fault_plan(faults: str, seed: int) -> FaultPlan | None:
    """Resolve ``--faults`` before serving, so a bad profile or file is a usage error."""
    try:
        return resolve_faults(faults, seed)
    except ValueError as refused:
        raise typer.BadParameter(str(refused), param_hint="--faults") from None


def _manual_clock(choice: str) -> ManualClock:
    """Return the ManualClock named by ``choice`` ('start', 'end' or a WIB time)."""
    from lapor_sync.simulator import END_OF_DATA, START_OF_DATA
    from lapor_sync.simulator.wire import parse_wib

    named = {"start": START_OF_DATA, "end": END_OF_DATA}
    try:
        return ManualClock(named[choice] if choice in named else parse_wib(choice))
    except ValueError:
        raise typer.BadParameter(f"unknown clock {choice!r}", param_hint="--clock") from None


def _build(state: Path | None, seed: int, complaints: int, clock: str, serving: Serving) -> Simulator:
    """Load or generate the simulator with the clock asked for, served as ``serving`` says."""
    from lapor_sync.simulator import Simulator

    system: Clock | None = SystemClock() if clock == "system" else None
    if state is None:
        if clock == "saved":
            raise typer.BadParameter("'saved' needs --state", param_hint="--clock")
        try:
            return Simulator.generate(
                seed=seed,
                clock=system or _manual_clock(clock),
                complaints=complaints,
                **serving,
            )
        except ValueError as refused:
            raise typer.BadParameter(str(refused), param_hint="--complaints") from None
    simulator = Simulator.load(state, clock=system, **serving)
    if clock not in ("saved", "system"):
        try:
            simulator.advance_to(_manual_clock(clock).now())
        except ValueError:
            raise typer.BadParameter("the clock cannot move before the saved instant", param_hint="--clock") from None
    return simulator


def _announce(root: str, host: str) -> None:
    """Say where the simulator listens and who can reach it: a warning on stderr when it is not loopback."""
    notice = listening_notice(
        root,
        host,
        how_to_expose="--host 0.0.0.0 exposes it",
        exposed_risk="the simulator has no real authentication",
    )
    if is_loopback(host):
        typer.echo(f"SP4N-LAPOR! simulator {notice}. Ctrl-C to stop.")
    else:
        typer.secho(f"Warning: {notice}.", fg=typer.colors.YELLOW, err=True)
        typer.echo(f"SP4N-LAPOR! simulator listening on {root}. Ctrl-C to stop.")


def _wait_for_ctrl_c() -> None:
    """Block until Ctrl-C (``KeyboardInterrupt``); the server runs in its own thread meanwhile."""
    threading.Event().wait()


def simulator(
    port: Annotated[int, typer.Option(help="TCP port to listen on (0: any free port).")] = 8765,
    host: Annotated[
        str, typer.Option(help="Address to bind. Keep it on loopback: the simulator has no real authentication.")
    ] = "127.0.0.1",
    state: Annotated[
        Path | None,
        typer.Option(help="Serve a world saved earlier (--save-state) instead of a new data set."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the generated data set (ignored with --state).")] = 2024,
    complaints: Annotated[
        int,
        typer.Option(
            help="Size of the generated data set: 1,983 is the demo's; another size keeps its shape and "
            "period, for benchmarks (ignored with --state).",
            min=1,
        ),
    ] = 1983,
    save_state: Annotated[
        Path | None,
        typer.Option(
            help="On exit, save the whole world (clock, complaints, events) to this file; "
            "POST /_simulator/save saves it there at once."
        ),
    ] = None,
    clock: Annotated[str | None, typer.Option(help=CLOCK_HELP)] = None,
    rate_limit: Annotated[float, typer.Option(help="Requests per second per client before 429.")] = 20.0,
    no_rate_limit: Annotated[bool, typer.Option("--no-rate-limit", help="Serve without a rate limit.")] = False,
    auth_mode: Annotated[AuthMode, typer.Option(help="Accepted authentication: static key, OAuth2 or any.")] = (
        AuthMode.ANY
    ),
    faults: Annotated[str, typer.Option(help=FAULTS_HELP)] = "none",
    fault_seed: Annotated[int, typer.Option(help="Seed of the fault decisions: same seed, same faults.")] = 0,
) -> None:
    """Serve the built-in SP4N-LAPOR! simulator (data set palangka-raya-2024, or --complaints N like it) until Ctrl-C."""
    from lapor_sync.simulator.app import TOKEN_PATH
    from lapor_sync.simulator.wire import format_wib

    chosen_clock = clock or ("saved" if state else "start")
    plan = _fault_plan(faults, fault_seed)
    serving: Serving = {
        "rate_limit": None if no_rate_limit else rate_limit,
        "auth_mode": auth_mode,
        "save_to": save_state,
    }
    sim = _build(state, seed, complaints, chosen_clock, serving)
    sim.set_faults(plan)
    creds = sim.credentials
    try:
        with sim.serve(host=host, port=port) as base_url:
            root = base_url.removesuffix("/lapor/3.0.0")
            _announce(root, host)
            typer.echo(f"  base URL     {base_url}")
            typer.echo(f"  token URL    {root}{TOKEN_PATH}")
            typer.echo(f"  clock        {root}/_simulator/clock  (now {format_wib(sim.world.clock.now())} WIB)")
            typer.echo(f"  tallies      {root}/_simulator/tallies?from=01-01-2024&to=31-10-2024")
            if save_state is not None:
                typer.echo(f"  save         POST {root}/_simulator/save  (to {save_state}; also on exit)")
            if plan is not None and plan.active:
                typer.echo(f"  faults       {root}/_simulator/faults  ({plan.name}, seed {plan.seed})")
            typer.echo("Fake demo credentials (not secrets):")
            typer.echo(f"  api key {creds.api_key}   app token {creds.app_token}")
            typer.echo(f"  OAuth client id {creds.client_id}   client secret {creds.client_secret}")
            _wait_for_ctrl_c()
    except KeyboardInterrupt:
        typer.echo("Stopping the simulator.")
    finally:
        if save_state is not None:
            sim.save(save_state)
            typer.echo(f"World saved to {save_state}.")


def register(app: typer.Typer) -> None:
    """Add the ``simulator`` command to the main CLI ``app``."""
    app.command(name="simulator")(simulator)
