"""Where settings come from, besides arguments and plain environment variables.

- the TOML file given with ``--config`` (:class:`ConfigFileSource`);
- files named by ``LAPOR_SYNC_<NAME>_FILE`` variables (:class:`SecretFileSource`): Docker and
  Kubernetes mount a secret as a file (``/run/secrets/lapor_api_key``) and the container sets
  ``LAPOR_SYNC_API_KEY_FILE`` to its path, so the key itself is not in the environment, where
  ``docker inspect`` and ``/proc/<pid>/environ`` would show it;
- and :class:`NotedSource`, which notes which source gave each value (``config show``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from lapor_sync.config.files import read_text, read_toml
from lapor_sync.domain.errors import ConfigurationError

FILE_SUFFIX = "_FILE"
MAX_SECRET_FILE_BYTES = 64 * 1024  # a key, a token or a URL; anything bigger is the wrong file


@dataclass
class Loading:
    """What one construction of the settings tells its sources, and what they note back.

    Attributes:
        config_file: the TOML file to read, or ``None``.
        origins: setting name -> the label of the source that gave its value.
    """

    config_file: Path | None = None
    origins: dict[str, str] = field(default_factory=dict)


_LOADING: ContextVar[Loading | None] = ContextVar("lapor_sync_settings_loading", default=None)


@contextmanager
def loading(config_file: Path | None = None, *, join: bool = False) -> Iterator[Loading]:
    """Put a :class:`Loading` in force for the settings built inside the block.

    Args:
        config_file: the TOML file the sources read.
        join: keep the one already in force, if any (a ``Settings(...)`` built inside a load).
    """
    current = _LOADING.get() if join else None
    state = current or Loading(config_file)
    token = _LOADING.set(state)
    try:
        yield state
    finally:
        _LOADING.reset(token)


TABLES = {("national", "endpoints"): "endpoints"}
"""TOML tables that hold one table setting, by their path in the file: ``[national.endpoints]`` is ``endpoints``."""


def _settings_of(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """The settings in a TOML file's ``data``: its keys, with each of :data:`TABLES` moved to its setting.

    Raises:
        ConfigurationError: a setting given both as a table of :data:`TABLES` and under its own
            name, or another key in a table that holds only :data:`TABLES`.
    """
    values = dict(data)
    for (outer, inner), setting in TABLES.items():
        table = values.get(outer)
        if not isinstance(table, dict) or inner not in table:
            continue
        if setting in values:
            raise ConfigurationError(f"{path}: [{outer}.{inner}] and {setting} both set; keep one of them")
        values[setting] = table[inner]
        rest = {key: value for key, value in table.items() if key != inner}
        if rest:
            raise ConfigurationError(f"{path}: unknown setting '{outer}.{sorted(rest)[0]}'")
        del values[outer]
    return values


class ConfigFileSource(PydanticBaseSettingsSource):
    """The TOML file of the :class:`Loading` in force; its keys are the setting names, lowercase.

    A table setting may also be written where :data:`TABLES` puts it (``[national.endpoints]``).

    Secrets may be in the file only when it is private, as libpq asks of ``.pgpass``: no permission
    for group or others, and owned by the user running lapor-sync (who could otherwise not keep
    others out). Anyone else who can read it holds the city's credentials. Where the mode bits say
    nothing of who may read a file (Windows, where ACLs do), a file with secrets is refused.

    Args:
        settings_cls: the settings class (its ``env_prefix`` names the variables of the fix).
        is_secret: ``(setting, value)`` → whether that value may only be in a private file.
        from_files: the settings that have a ``_FILE`` variable, named in the fix (others by their
            plain variable).
    """

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        is_secret: Callable[[str, Any], bool],
        from_files: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(settings_cls)
        self._is_secret, self._from_files = is_secret, from_files

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: the whole file is read at once in ``__call__``."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        """Read the file.

        Raises:
            ConfigurationError: it cannot be read or is not TOML; or it holds secrets and is not
                private: one line naming the file, the keys (never their values), its mode and the
                two fixes (``chmod 600``, or the ``LAPOR_SYNC_<NAME>_FILE`` variables).
        """
        state = _LOADING.get()
        if state is None or state.config_file is None:
            return {}
        data = _settings_of(read_toml(state.config_file)[1], state.config_file)
        secrets = sorted(name for name, value in data.items() if self._is_secret(name, value))
        if secrets:
            self._require_private(state.config_file, secrets)
        return data

    def _require_private(self, path: Path, secrets: list[str]) -> None:
        prefix = str(self.config.get("env_prefix", ""))
        variables = ", ".join(
            f"{prefix}{name}{FILE_SUFFIX if name in self._from_files else ''}".upper() for name in secrets
        )
        held = f"{path}: holds secrets ({', '.join(secrets)})"
        geteuid = getattr(os, "geteuid", None)
        if geteuid is None:
            raise ConfigurationError(
                f"{held}, and this system cannot tell whether its owner alone may read it; "
                f"set {variables} instead and remove them from the file"
            )
        try:
            status = os.stat(path)  # what was read: a symbolic link's target, a pipe for -c <(...)
        except OSError as exc:  # gone since it was read, or a pipe closed meanwhile
            raise ConfigurationError(
                f"{held}, and who may read it cannot be checked "
                f"({exc.strerror or type(exc).__name__}); set {variables} instead"
            ) from None
        mode, owner, user = stat.S_IMODE(status.st_mode), status.st_uid, geteuid()
        if mode & 0o077 == 0 and owner == user:
            return
        target = os.path.realpath(path)  # what chmod must change: a symbolic link's target, /dev/stdin's file
        if owner == user:
            found, fix = f"others have access to it (mode {mode:04o})", f"run chmod 600 {target}"
        else:
            found = f"it belongs to uid {owner}, not to uid {user} running lapor-sync (mode {mode:04o})"
            fix = f"give it to uid {user} and run chmod 600 {target}"
        raise ConfigurationError(
            f"{held}, so it must be readable by its owner alone, but {found}; "
            f"{fix}, or set {variables} instead and remove them from the file"
        )


class NotedSource(PydanticBaseSettingsSource):
    """Wraps a source and notes in the :class:`Loading` in force which settings it gave, under ``label``.

    Args:
        inner: the source wrapped: the environment, the ``_FILE`` secret files or the TOML file.
        label: the origin noted for its values (``"env"``, ``"env-file"``, ``"file"``), as ``config show`` prints it.
    """

    def __init__(self, inner: PydanticBaseSettingsSource, label: str) -> None:
        super().__init__(inner.settings_cls)
        self._inner, self._label = inner, label

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Delegate to the wrapped source."""
        return self._inner.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        """The wrapped source's values, noted; a table setting's keys each under ``table.key``."""
        values = self._inner()
        if (state := _LOADING.get()) is not None:
            for name, value in values.items():
                keys = [f"{name}.{key}" for key in value] if isinstance(value, dict) else []
                for noted in [name, *keys]:
                    state.origins.setdefault(noted, self._label)  # sources run highest priority first
        return values


def read_secret_file(variable: str, path: Path) -> str:
    """Read one secret from ``path``: its text, surrounding whitespace (the trailing newline) stripped.

    Args:
        variable: the ``..._FILE`` variable that named the file, for messages.
        path: the file.

    Returns:
        The secret, one line of printable text.

    Raises:
        ConfigurationError: the file is missing, unreadable, larger than
            :data:`MAX_SECRET_FILE_BYTES`, not UTF-8, empty, or more than one line. The message names
            ``variable`` and ``path``, never the content.
    """
    value = read_text(path, MAX_SECRET_FILE_BYTES, where=f"{variable}: ").strip()  # /dev/zero, a pipe: never stuck
    if not value:
        raise ConfigurationError(f"{variable}: {path}: file is empty")
    if not value.isprintable():
        # A line break inside a header value makes httpx's error quote the whole header, secret and all.
        raise ConfigurationError(f"{variable}: {path}: must hold one line, without control characters")
    return value


class SecretFileSource(PydanticBaseSettingsSource):
    """Settings from the files named by ``<env_prefix><NAME>_FILE`` variables, for the settings in ``names``.

    Variable names are matched in any case, and an empty variable counts as unset, as for the
    environment source. The source ranks with the environment: setting both ``X`` and ``X_FILE`` is
    a configuration error, so neither silently wins.

    Args:
        settings_cls: the settings class (its ``env_prefix`` is used).
        names: the settings that may come from a file (secrets, and URLs that may carry a password).
    """

    def __init__(self, settings_cls: type[BaseSettings], names: frozenset[str]) -> None:
        super().__init__(settings_cls)
        self._names = names

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: every file is read in ``__call__``."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        """Read the file of every setting whose ``_FILE`` variable is set.

        Raises:
            ConfigurationError: ``X`` and ``X_FILE`` are both set, or a file cannot be used
                (see :func:`read_secret_file`).
        """
        environ = {name.lower(): value for name, value in os.environ.items() if value}
        prefix = str(self.config.get("env_prefix", ""))
        values: dict[str, Any] = {}
        for name in sorted(self._names):
            variable = f"{prefix}{name}".upper()
            path = environ.get(f"{variable}{FILE_SUFFIX}".lower())
            if path is None:
                continue
            if variable.lower() in environ:
                raise ConfigurationError(f"{variable} and {variable}{FILE_SUFFIX} are both set; set only one of them")
            values[name] = read_secret_file(f"{variable}{FILE_SUFFIX}", Path(path))
        return values
