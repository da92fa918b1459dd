"""``lapor-sync user``: console users, roles, passwords and API tokens from the command line, each change audited."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from lapor_sync.accounts.audit import AuditLog
from lapor_sync.accounts.tokens import ApiTokens
from lapor_sync.accounts.users import Accounts
from lapor_sync.cli import app as cli_app
from lapor_sync.cli.context import operator_name
from lapor_sync.domain.clock import SystemClock
from lapor_sync.storage.database import Database
from tests.support.cli import cli_env, invoke, invoke_json

__all__ = ["cli_env"]  # fixture

PASSWORD = "kata-sandi-yang-panjang"


def _invoke(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli_app.app, list(args), input=stdin)


def _main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run ``lapor-sync *args`` through ``main()``, as the installed command does; return its exit code and stderr."""
    monkeypatch.setattr(sys, "argv", ["lapor-sync", *args])
    with pytest.raises(SystemExit) as ended:
        cli_app.main()
    return int(ended.value.code or 0), capsys.readouterr().err


def test_add_asks_the_password_twice_hidden_and_the_user_can_sign_in(cli_env: str) -> None:
    result = _invoke("user", "add", "Ani", "--role", "admin", stdin=f"{PASSWORD}\n{PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert "user ani added, role admin." in result.stdout and PASSWORD not in result.stdout
    db = Database(cli_env)
    assert Accounts(db, SystemClock()).authenticate("ani", PASSWORD, address="127.0.0.1").name == "ani"
    db.dispose()


def test_add_reads_the_password_from_stdin_or_a_file(cli_env: str, tmp_path: Path) -> None:
    secret = tmp_path / "sandi"
    secret.write_text(f"{PASSWORD}\n", encoding="utf-8")

    assert _invoke("user", "add", "ani", "--role", "viewer", "--password-file", "-", stdin=PASSWORD).exit_code == 0
    assert _invoke("user", "add", "budi", "--role", "operator", "--password-file", str(secret)).exit_code == 0

    assert invoke_json("user", "list") == [
        {"id": 1, "name": "ani", "role": "viewer", "disabled": False},
        {"id": 2, "name": "budi", "role": "operator", "disabled": False},
    ]


def test_mismatched_prompts_ask_again(cli_env: str) -> None:
    result = _invoke(
        "user", "add", "ani", "--role", "admin", stdin=f"{PASSWORD}\nlain-sandi-123\n{PASSWORD}\n{PASSWORD}\n"
    )

    assert result.exit_code == 0 and "do not match" in result.output


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (["user", "add", "ani", "--role", "admin", "--password-file", "-"], "pendek", "shorter than 10 characters"),
        (["user", "add", "ani budi", "--role", "admin", "--password-file", "-"], PASSWORD, "1 to 64 characters"),
        (["user", "passwd", "nobody", "--password-file", "-"], PASSWORD, "no console user 'nobody'"),
        (["user", "role", "nobody", "admin"], None, "no console user 'nobody'"),
        (["user", "disable", "nobody"], None, "no console user 'nobody'"),
        (["user", "token", "nobody"], None, "no console user 'nobody'"),
        (["user", "revoke-token", "7"], None, "no API token with id 7"),
    ],
)
def test_bad_input_exits_2_with_one_error_line(
    cli_env: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    stdin: str | None,
    says: str,
) -> None:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", _Stdin(stdin))

    code, err = _main(monkeypatch, capsys, *args)

    assert code == 2
    assert err.strip().startswith("error:") and says in err and len(err.strip().splitlines()) == 1
    assert "pendek" not in err


class _Stdin:
    def __init__(self, text: str) -> None:
        self._text = text

    def read(self) -> str:
        return self._text


def test_a_taken_name_or_an_unknown_role_exits_2(
    cli_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _invoke("user", "add", "ani", "--role", "admin", "--password-file", "-", stdin=PASSWORD).exit_code == 0
    monkeypatch.setattr(sys, "stdin", _Stdin(PASSWORD))

    code, err = _main(monkeypatch, capsys, "user", "add", "ANI", "--role", "viewer", "--password-file", "-")

    assert (code, err.strip()) == (2, "error: user 'ani' exists already")
    assert _invoke("user", "add", "budi", "--role", "boss", "--password-file", "-", stdin=PASSWORD).exit_code == 2
    assert _invoke("user", "role", "ani", "boss").exit_code == 2


def test_role_disable_enable_and_passwd_change_the_user(cli_env: str) -> None:
    assert _invoke("user", "add", "ani", "--role", "viewer", "--password-file", "-", stdin=PASSWORD).exit_code == 0

    assert "user ani is now operator." in invoke("user", "role", "ani", "operator").stdout
    assert invoke("user", "disable", "ani").exit_code == 0
    assert invoke_json("user", "list")[0] == {"id": 1, "name": "ani", "role": "operator", "disabled": True}
    assert invoke("user", "enable", "ani").exit_code == 0
    assert _invoke("user", "passwd", "ANI", "--password-file", "-", stdin="sandi-baru-yang-panjang").exit_code == 0

    db = Database(cli_env)
    assert Accounts(db, SystemClock()).authenticate("ani", "sandi-baru-yang-panjang", address="::1").role == "operator"
    db.dispose()


def test_a_token_is_printed_once_listed_by_its_start_and_revocable(cli_env: str) -> None:
    assert _invoke("user", "add", "dasbor", "--role", "viewer", "--password-file", "-", stdin=PASSWORD).exit_code == 0

    issued = CliRunner().invoke(cli_app.app, ["user", "token", "dasbor", "--label", "dasbor kominfo"])
    assert issued.exit_code == 0
    token = issued.stdout.strip()
    assert "shown once" in issued.stderr

    listed = invoke_json("user", "tokens", "dasbor")
    assert [(t["id"], t["label"], t["prefix"], t["revoked_at"]) for t in listed] == [
        (1, "dasbor kominfo", token[:8], None)
    ]
    table = invoke("user", "tokens", "dasbor")
    assert f"{token[:8]}…" in table.stdout and token not in table.stdout

    db = Database(cli_env)
    assert ApiTokens(db, SystemClock()).user_for_token(token) is not None
    assert "API token 1 revoked." in invoke("user", "revoke-token", "1").stdout
    assert ApiTokens(db, SystemClock()).user_for_token(token) is None
    assert invoke_json("user", "tokens", "dasbor")[0]["revoked_at"] is not None
    db.dispose()


def test_each_change_is_audited_as_the_os_user_from_the_cli(cli_env: str) -> None:
    steps = [
        ("user", "add", "ani", "--role", "viewer", "--password-file", "-"),
        ("user", "passwd", "ani", "--password-file", "-"),
        ("user", "role", "ani", "admin"),
        ("user", "disable", "ani"),
        ("user", "enable", "ani"),
        ("user", "token", "ani"),
        ("user", "revoke-token", "1"),
        ("user", "list"),
        ("user", "tokens", "ani"),
    ]
    outputs = [_invoke(*step, stdin=PASSWORD) for step in steps]
    assert [r.exit_code for r in outputs] == [0] * len(steps)

    db = Database(cli_env)
    entries = AuditLog(db, SystemClock()).search()
    db.dispose()
    assert [e.action for e in entries] == [
        "user.revoke_token",
        "user.token",
        "user.enable",
        "user.disable",
        "user.role",
        "user.passwd",
        "user.add",
    ]
    assert {(e.user, e.role, e.address) for e in entries} == {(operator_name(), "shell", "cli")}
    token = outputs[5].stdout.strip()
    assert all(PASSWORD not in (e.detail or "") and token not in (e.detail or "") for e in entries)


def test_every_user_command_teaches_with_an_example() -> None:
    for command in ["add", "passwd", "role", "disable", "enable", "list", "token", "tokens", "revoke-token"]:
        result = invoke("user", command, "--help")
        assert result.exit_code == 0, command
        assert "Example:" in result.stdout and "lapor-sync user" in result.stdout.split("Example:")[1], command
