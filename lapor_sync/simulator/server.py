"""The simulator as one object: generate or load a world, move its clock, serve it over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from pathlib import Path
from typing import TypedDict, Unpack

from starlette.applications import Starlette

from lapor_sync.domain.clock import Clock, ManualClock
from lapor_sync.runtime.threaded_http import serve_in_thread
from lapor_sync.simulator.app import BASE_PATH, create_app
from lapor_sync.simulator.auth import AccessTokens, AuthMode, Credentials
from lapor_sync.simulator.dataset import DATASET_NAME, FIRST_DAY, LAST_DAY, TOTAL, generate
from lapor_sync.simulator.faults.plan import FaultPlan, FaultSwitch
from lapor_sync.simulator.faults.profiles import FaultSpec, resolve_faults
from lapor_sync.simulator.gateway.model import Gateway, GatewaySettings
from lapor_sync.simulator.persistence import load_world, save_world
from lapor_sync.simulator.workdays import WIB
from lapor_sync.simulator.world import World

START_OF_DATA = datetime.combine(FIRST_DAY, time(), WIB)
"""00:00 WIB on the data set's first day: nothing is visible yet."""
END_OF_DATA = datetime.combine(LAST_DAY, time(23, 59, 59), WIB)
"""23:59:59 WIB on the data set's last day: every complaint is visible."""


class Serving(TypedDict, total=False):
    """How a simulator is served; each one left out takes the default of :class:`Simulator`.

    Attributes:
        rate_limit: requests per second per client, ``None`` to disable (CONTRACT §2).
        credentials: accepted credentials (default: the fake demo ones).
        auth_mode: accepted authentication modes (CONTRACT §1).
        faults: faults to inject: a :class:`FaultPlan`, a profile name (``none``, ``flaky``,
            ``hostile``), a TOML profile file, or ``None``; see :mod:`lapor_sync.simulator.faults.plan`.
        fault_seed: the seed of the fault decisions (a given ``FaultPlan`` keeps its own).
        save_to: the file ``POST /_simulator/save`` saves the world to (fixed here, never named by a
            request); ``None``: no such endpoint.
        gateway: an SPLP gateway in front (``lapor-sync simulator --gateway splp``), or ``None``.
    """

    rate_limit: float | None
    credentials: Credentials | None
    auth_mode: AuthMode
    faults: FaultSpec
    fault_seed: int
    save_to: Path | None
    gateway: GatewaySettings | None


class Simulator:
    """The built-in SP4N-LAPOR! simulator: a world, its clock, and an HTTP server for it.

    Thread safety: every read and write goes through ``world.lock``, so the server thread and the
    caller's thread (a demo moving the clock, a test inserting complaints) can run together.

    Args:
        world: the state to serve.
        rate_limit, credentials, auth_mode, faults, fault_seed, save_to, gateway: how it is served
            (:class:`Serving`).

    Attributes:
        gateway: the SPLP gateway in front (its fake keys, quota, scripted faults), or ``None``.

    Raises:
        ValueError: ``faults`` names no profile and no file, or the file cannot be used.
    """

    def __init__(
        self,
        world: World,
        *,
        rate_limit: float | None = 20.0,
        credentials: Credentials | None = None,
        auth_mode: AuthMode = AuthMode.ANY,
        faults: FaultSpec = None,
        fault_seed: int = 0,
        save_to: Path | None = None,
        gateway: GatewaySettings | None = None,
    ) -> None:
        self.world = world
        self.credentials = credentials or Credentials()
        self.tokens = AccessTokens()
        self.faults = FaultSwitch(resolve_faults(faults, fault_seed))
        self.gateway = Gateway(gateway) if gateway is not None else None
        self.app: Starlette = create_app(
            world,
            credentials=self.credentials,
            rate_limit=rate_limit,
            auth_mode=auth_mode,
            tokens=self.tokens,
            faults=self.faults,
            save_to=save_to,
            gateway=self.gateway,
        )

    @classmethod
    def generate(
        cls,
        seed: int = 2024,
        dataset: str = DATASET_NAME,
        clock: Clock | None = None,
        *,
        reply_rate: float = 0.10,
        complaints: int = TOTAL,
        **serving: Unpack[Serving],
    ) -> Simulator:
        """Build a simulator over a freshly generated data set.

        Args:
            seed: the data set's seed; same seed, same data.
            dataset: the data set's name; only "palangka-raya-2024" exists.
            clock: default a ``ManualClock`` at :data:`START_OF_DATA`.
            reply_rate: share of institution follow-ups that get a reporter reply 1-3 days later.
            complaints: the data set's size N (default 1,983, the demo's); another N keeps its
                shape and period (:func:`~lapor_sync.simulator.dataset.generate`), for benchmarks.
            **serving: how it is served (:class:`Serving`).

        Raises:
            ValueError: an unknown data set name, a size out of range, an unknown fault profile or
                an unusable fault file.
        """
        if dataset != DATASET_NAME:
            raise ValueError(f"unknown data set {dataset!r}")
        generated, counters = generate(seed, complaints)
        start = clock or ManualClock(START_OF_DATA)
        world = World(start, generated, counters, seed=seed, dataset=dataset, reply_rate=reply_rate)
        return cls(world, **serving)

    @classmethod
    def load(cls, path: Path, clock: Clock | None = None, **serving: Unpack[Serving]) -> Simulator:
        """Serve a world saved by :meth:`save`; its clock stays frozen at the saved instant unless given.

        ``serving``: how it is served (:class:`Serving`).

        Raises:
            ValueError: the file is not a saved simulator state; an unknown fault profile or file.
        """
        return cls(load_world(Path(path), clock), **serving)

    def save(self, path: Path) -> None:
        """Save the whole world (complaints, threads, pending events, clock) to a JSON file."""
        save_world(self.world, Path(path))

    def set_faults(self, faults: FaultSpec, fault_seed: int = 0) -> FaultPlan | None:
        """Put other faults in force now (thread-safe; requests in flight finish under the old plan).

        Args:
            faults: a plan, a profile name, a TOML file, or ``None`` to stop injecting.
            fault_seed: the seed of the new decisions (a given ``FaultPlan`` keeps its own).

        Returns:
            The plan now in force, or ``None``.

        Raises:
            ValueError: an unknown profile name or an unusable file (the plan in force stays).
        """
        plan = resolve_faults(faults, fault_seed)
        self.faults.set(plan)
        return plan

    def fault_counts(self) -> dict[str, int]:
        """Faults injected since this simulator was built, over every plan: kind name -> count."""
        return self.faults.counts()

    @property
    def clock(self) -> Clock:
        """The world's clock."""
        return self.world.clock

    def advance_to(self, instant: datetime) -> None:
        """Move the simulated clock to ``instant`` (aware), applying due events; see ``World.advance_to``."""
        self.world.advance_to(instant)

    def tallies(self, start: date, end: date) -> dict[str, int]:
        """Counts of complaints dispositioned to the city between two WIB dates; see ``World.tallies``."""
        return self.world.tallies(start, end)

    @contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve the API from a background thread until the block ends.

        Args:
            host: the address to bind; keep it on loopback.
            port: the port, 0 for a free one.

        Yields:
            The base URL, e.g. ``"http://127.0.0.1:54321/lapor/3.0.0"``.

        Raises:
            RuntimeError: when the server could not start.
        """
        # No access log and no logging setup: the simulator never writes headers or reporter data.
        with serve_in_thread(self.app, host, port, name="simulator-http") as origin:
            yield f"{origin}{BASE_PATH}"
