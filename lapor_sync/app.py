"""The composition root: turns settings into a database, a mapping, a platform client and a sync service.

Commands, the worker and the demo all build their parts here, so each part is wired one way only.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlmodel import Session

from lapor_sync.adapters.city.builtin import BuiltinCityRecords
from lapor_sync.config.files import MAX_FILE_BYTES, read_bounded
from lapor_sync.config.mapping_file import load_mapping
from lapor_sync.config.settings import Settings
from lapor_sync.domain.clock import Clock, SystemClock
from lapor_sync.domain.errors import ConfigurationError
from lapor_sync.domain.ports import NationalPlatform
from lapor_sync.domain.routing import CityMapping
from lapor_sync.storage.database import Database
from lapor_sync.storage.lease import Leases, holder_name
from lapor_sync.sync.admin.reassign import Reassigner
from lapor_sync.sync.pull import Puller, PullOptions
from lapor_sync.sync.push import Pusher, PushOptions
from lapor_sync.sync.service import SyncService

if TYPE_CHECKING:
    from lapor_sync.adapters.national.quota import Quota

log = logging.getLogger("lapor_sync.app")


@dataclass
class App:
    """Everything a command needs, built lazily from one :class:`Settings`.

    Args:
        settings: the validated settings.
        clock: where "now" comes from (the demo passes its simulated clock).
        purpose: what this process is, for the job leases it takes: ``worker``, or the command
            (``sync``, ``resync``, ...); see :func:`~lapor_sync.storage.lease.holder_name`.
    """

    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    purpose: str = "lapor-sync"
    _mapping_digest: str | None = field(default=None, init=False, repr=False)

    @cached_property
    def mapping(self) -> CityMapping:
        """The city's mapping; raises ConfigurationError when the file is wrong or disagrees with settings."""
        self._mapping_digest = self._mapping_file_digest()
        return self._load_mapping()

    def refresh_mapping(self) -> bool:
        """Reload the mapping file if it changed on disk; return whether a new mapping is in force.

        A long-running worker must route with the file the admins corrected, or its next pull would
        move resynced cases back to their old agency. A changed file that is refused (any
        ``ConfigurationError``: not TOML, nested too deeply, a rule broken) is logged once, as one
        error line, and the mapping in force is kept; the next change of the file is tried again.
        """
        digest = self._mapping_file_digest()
        if "mapping" not in self.__dict__ or digest == self._mapping_digest:
            return False
        refused: ConfigurationError | None = None
        try:
            fresh: CityMapping | None = self._load_mapping()
        except ConfigurationError as exc:
            fresh, refused = None, exc
        if self._mapping_file_digest() != digest:
            return False  # written to while it was read: judged again, whole, at the next call
        self._mapping_digest = digest
        if fresh is None:
            log.error("the mapping file changed but is refused, the previous one stays in force: %s", refused)
            return False
        self.__dict__["mapping"] = fresh
        log.warning(
            "the mapping file changed: routing now follows it (%d agencies, %d category routes)",
            len(fresh.agencies),
            len(fresh.category_routes),
        )
        return True

    def _mapping_file_digest(self) -> str | None:
        path = self.settings.mapping_file
        if path is None:
            return None  # the packaged file does not change under a running process
        try:
            # Bounded like the load: a device that never ends or a pipe nobody writes cannot hold a tick.
            return hashlib.sha256(read_bounded(path, MAX_FILE_BYTES)).hexdigest()
        except OSError as exc:
            return f"unreadable: {type(exc).__name__}"

    def _load_mapping(self) -> CityMapping:
        try:
            mapping = load_mapping(self.settings.mapping_file)
        except ConfigurationError as exc:
            if self.settings.mapping_file is None:
                raise
            raise ConfigurationError(f"LAPOR_SYNC_MAPPING_FILE: {exc}") from None
        configured = self.settings.institution_id
        if configured is not None and configured != mapping.institution.id:
            raise ConfigurationError(
                f"LAPOR_SYNC_INSTITUTION_ID: {configured} differs from the mapping file's institution "
                f"{mapping.institution.id}; use the mapping file written for this institution"
            )
        return mapping

    @property
    def institution_id(self) -> int:
        """The national institution this deployment works for."""
        return self.mapping.institution.id

    @cached_property
    def db(self) -> Database:
        """The database named by ``LAPOR_SYNC_DATABASE_URL`` (not yet checked or migrated).

        Raises:
            ConfigurationError: SQLAlchemy knows no such database, or its driver is not installed.
        """
        try:
            return Database(self.settings.database_url)
        except NoSuchModuleError as exc:  # its text names the dialect only, never the URL
            raise ConfigurationError(f"LAPOR_SYNC_DATABASE_URL: unknown kind of database ({exc})") from None
        except (ArgumentError, ValueError):  # their texts may quote the URL, with its password
            raise ConfigurationError(
                "LAPOR_SYNC_DATABASE_URL: not a usable database URL (check its form and port)"
            ) from None
        except ImportError as exc:
            raise ConfigurationError(f"LAPOR_SYNC_DATABASE_URL: the database driver is not installed ({exc})") from None

    def writable_db(self) -> Database:
        """The database, migrated to the newest schema (creates it when missing)."""
        self.db.upgrade()
        return self.db

    def existing_db(self) -> Database:
        """The database, which must already exist; raises ConfigurationError naming the setting."""
        if not self.db.is_current():
            raise ConfigurationError(
                "LAPOR_SYNC_DATABASE_URL: no lapor-sync database there yet; "
                "run `lapor-sync db upgrade` or a first `lapor-sync sync`"
            )
        return self.db

    def city_records(self, session: Session) -> BuiltinCityRecords:
        """The city-records port on ``session``."""
        return BuiltinCityRecords(session, mapping=self.mapping, clock=self.clock)

    @cached_property
    def quota(self) -> Quota:
        """The request quota of this process (``requests_per_minute``, ``requests_per_second``, CONTRACT §7 G4).

        One for every platform client the process makes, so the worker's pull, push and reconcile
        jobs, each with its own client, spend one quota together.
        """
        from lapor_sync.adapters.national.quota import Quota

        return Quota.from_settings(self.settings)

    def platform(self, *, stop: threading.Event | None = None) -> NationalPlatform:
        """A national platform client from the settings (a context manager: close it).

        Each attempt of a request ends by ``request_deadline_seconds`` and within the retry policy's
        total cap; a ``Retry-After`` is honoured up to ``max_retry_after_seconds`` (both read by
        ``LaporClient.from_settings``). ``stop`` (the worker's stop event), once set, ends the
        attempt in flight within a fraction of a second (a connect or TLS handshake at its timeout, 10 s at most)
        and starts no retry, and ends a wait for the request quota (:attr:`quota`, shared by every client).
        """
        from lapor_sync.adapters.national.client import LaporClient
        from lapor_sync.adapters.national.retry import RetryPolicy

        return LaporClient.from_settings(
            self.settings, clock=self.clock, retry=RetryPolicy(interrupt=stop), quota=self.quota
        )

    def leases(self) -> Leases:
        """Job leases on the migrated database, held as ``"<host>:<pid> <purpose> @<incarnation>"``, in ``lease_mode``."""
        return Leases(
            self.writable_db(),
            self.clock,
            holder_name(self.purpose),
            lease_seconds=self.settings.lease_seconds,
            mode=self.settings.lease_mode,
        )

    def reassigner(self) -> Reassigner:
        """Sets and clears agency overrides on the migrated database, waiting ``lease_wait_seconds`` for a pull."""
        return Reassigner(self.writable_db(), self.leases(), self.mapping, self.settings.lease_wait_seconds)

    def sync_service(self, platform: NationalPlatform, *, stop: threading.Event | None = None) -> SyncService:
        """The sync service for ``platform`` on the migrated database.

        Args:
            platform: the national platform client (one per thread running syncs: the OAuth2 client is not
                thread-safe; a push's delivery threads share it, and may then each fetch a token when
                none is valid).
            stop: the event that stops its runs after the item in flight (the worker shares one).
        """
        from lapor_sync.adapters.national.retry import RetryPolicy
        from lapor_sync.reports.sla import sla_policy
        from lapor_sync.sync.recheck import RecheckLimits

        db = self.writable_db()
        s = self.settings
        pull = PullOptions(
            overlap=timedelta(seconds=s.overlap_seconds),
            initial_since=s.initial_since,
            recheck_after=timedelta(seconds=s.open_case_recheck_seconds),
            page_size=s.per_page,
            fetch_concurrency=s.fetch_concurrency,
            recheck_limits=RecheckLimits(s.recheck_requests_per_cycle, s.recheck_requests_per_day),
            sla=sla_policy(s),
            set_aside_after_failures=s.set_aside_after_failures,
        )
        # A claim outlives one call with all its retries, even with short leases: else a pusher on another
        # host could take the row over while its call is under way. A call may also wait for its turn
        # in the request quota and, after a throttle answer, for the gateway's window before its one
        # more try (neither counted in the retry budget).
        call_budget = RetryPolicy.max_total_seconds
        push = PushOptions(
            max_attempts=s.max_push_attempts,
            claim_seconds=max(s.lease_seconds, 2 * (call_budget + s.quota_wait_seconds)),
            max_retry_after=timedelta(seconds=s.max_retry_after_seconds),
            concurrency=s.push_concurrency,
        )
        records: Callable[[Session], BuiltinCityRecords] = self.city_records
        leases = self.leases()
        return SyncService(
            db=db,
            mapping=self.mapping,
            clock=self.clock,
            puller=Puller(db, platform, self.mapping, records, pull),
            pusher=Pusher(db, platform, self.mapping, push, claimer=leases.holder),
            leases=leases,
            stop=stop or threading.Event(),
        )
