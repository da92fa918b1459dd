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
from lapor_sync.simulator.gateway.faults import FaultFormat
from lapor_sync.simulator.gateway.model import DEFAULT_HEADER, DEFAULT_QUOTA, GatewayMode, GatewaySettings

if TYPE_CHECKING:
    from lapor_sync.simulator import Simulator
    from lapor_sync.simulator.faults.plan import FaultPlan
    from lapor_sync.simulator.gateway.model import Gateway
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


GATEWAY_HELP = (
    "Put a simulated SPLP gateway (WSO2 API Manager) in front: every API call needs "
    f"'{DEFAULT_HEADER}: Bearer <key>' (two fake JWT keys are printed, PRODUCTION and SANDBOX), the API "
    "is served under the production and the sandbox base paths and under '-lmw' variant paths, refusals "
    "are WSO2 faults (900901, 900902, 900906, 900800, ...), and each key has a per-minute quota "
    "(429 without Retry-After). Test hook: POST /_simulator/gateway/faults."
)
QUOTA_HELP = (
    f"Gateway quota: requests per key per minute (fixed windows, whole minutes; default {DEFAULT_QUOTA} with "
    "--gateway splp; 0: no quota). Checked before LAPOR!'s own per-second limit (--rate-limit), which "
    "--no-rate-limit turns off and this does not."
)


def _gateway(
    mode: GatewayMode, header: str | None, faults: FaultFormat | None, quota: int | None, key_lifetime: int | None
) -> GatewaySettings | None:
    """Return the gateway's settings for ``--gateway splp``; refuse its options without it.

    Raises:
        typer.BadParameter: a gateway option without ``--gateway splp``, or an empty header name.
    """
    if mode is GatewayMode.NONE:
        given = {"--gateway-header": header, "--gateway-faults": faults, "--quota-per-minute": quota}
        given["--gateway-key-lifetime"] = key_lifetime
        named = [name for name, value in given.items() if value is not None]
        if named:
            raise typer.BadParameter(f"{', '.join(named)} needs --gateway splp", param_hint="--gateway")
        return None
    try:
        return GatewaySettings(
            header=header or DEFAULT_HEADER,
            quota_per_minute=DEFAULT_QUOTA if quota is None else quota,
            fault_format=faults or FaultFormat.JSON,
            key_lifetime=key_lifetime or None,
        )
    except ValueError as refused:
        raise typer.BadParameter(str(refused), param_hint="--gateway-header") from None


def _announce_gateway(gateway: Gateway, root: str) -> None:
    """Print the sandbox base URL (the production one is the base URL) and the gateway's mode and quota."""
    from lapor_sync.simulator.paths import SANDBOX_PATH

    settings = gateway.settings
    quota = f"{settings.quota_per_minute} requests/minute per key" if settings.quota_per_minute else "no quota"
    typer.echo(f"  sandbox URL  {root}{SANDBOX_PATH}")
    typer.echo(f"  gateway      SPLP (WSO2-like), {quota}, faults as {settings.fault_format.value.upper()}")
    typer.echo(f"               {root}/_simulator/gateway  (state; POST .../faults scripts faults)")


def _announce_keys(gateway: Gateway) -> None:
    """Print the gateway's two fake keys, as the demo credentials are printed (they are not secrets)."""
    header = gateway.settings.header
    typer.echo("Fake SPLP keys (not secrets; each works only under its own base URL):")
    typer.echo(f"  production   {header}: Bearer {gateway.keys.production.token}")
    typer.echo(f"  sandbox      {header}: Bearer {gateway.keys.sandbox.token}")


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
    gateway: Annotated[GatewayMode, typer.Option(help=GATEWAY_HELP)] = GatewayMode.NONE,
    gateway_header: Annotated[
        str | None, typer.Option(help=f"Header of the SPLP key (default {DEFAULT_HEADER}); needs --gateway splp.")
    ] = None,
    gateway_faults: Annotated[
        FaultFormat | None,
        typer.Option(help='Body of the gateway\'s refusals: JSON {"fault": ...} (default) or XML (WSO2 ams:fault).'),
    ] = None,
    quota_per_minute: Annotated[int | None, typer.Option(help=QUOTA_HELP, min=0)] = None,
    gateway_key_lifetime: Annotated[
        int | None,
        typer.Option(help="Seconds until the printed keys expire (their exp claim); default: no exp.", min=1),
    ] = None,
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
        "gateway": _gateway(gateway, gateway_header, gateway_faults, quota_per_minute, gateway_key_lifetime),
    }
    sim = _build(state, seed, complaints, chosen_clock, serving)
    sim.set_faults(plan)
    creds = sim.credentials
    try:
        with sim.serve(host=host, port=port) as base_url:
            root = base_url.removesuffix("/lapor/3.0.0")
            _announce(root, host)
            typer.echo(f"  base URL     {base_url}")
            if sim.gateway is not None:
                _announce_gateway(sim.gateway, root)
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
            if sim.gateway is not None:
                _announce_keys(sim.gateway)
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
