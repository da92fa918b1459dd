"""``lapor-sync user``: the web console's users, their roles, passwords and API tokens.

Each change is written to the audit log as done by the OS user (role ``shell``, address ``cli``).
Passwords are never taken from an option value: they would be left in the shell history and in
``ps`` output. They are prompted for twice, hidden, or read from a file or stdin for scripts.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lapor_sync.accounts.roles import Role
from lapor_sync.cli.context import operator_name, state
from lapor_sync.cli.output import JSON_OPTION, console, print_json, print_table

if TYPE_CHECKING:
    from lapor_sync.accounts.audit import Actor
    from lapor_sync.accounts.tokens import ApiTokens
    from lapor_sync.accounts.users import Accounts

user_app = typer.Typer(
    name="user",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    help="The web console's users: add them, set their role and password, disable them, issue API tokens.",
)

NAME = Annotated[str, typer.Argument(help="The user name: 1 to 64 characters a-z, 0-9, '.', '_', '-'.")]
PASSWORD_FILE = Annotated[
    Path | None,
    typer.Option(
        "--password-file",
        help="Read the password from the first line of this file, or from stdin with `-` (for scripts). "
        "Without it the password is asked twice, hidden.",
        dir_okay=False,
        allow_dash=True,
    ),
]


def register(app: typer.Typer) -> None:
    """Add the ``user`` group to the main CLI ``app``."""
    app.add_typer(user_app)


def _actor() -> Actor:
    """The OS user running this command, as the audit log names them."""
    from lapor_sync.accounts.audit import Actor

    return Actor(user=operator_name(), role="shell", address="cli")


def _accounts(ctx: typer.Context) -> Accounts:
    # Imported here: the accounts pull in SQLAlchemy and argon2, which `--help` never needs.
    from lapor_sync.accounts.users import Accounts

    app = state(ctx).app()
    return Accounts(app.writable_db(), app.clock)


def _tokens(ctx: typer.Context) -> ApiTokens:
    from lapor_sync.accounts.tokens import ApiTokens

    app = state(ctx).app()
    return ApiTokens(app.writable_db(), app.clock)


def _password(password_file: Path | None) -> str:
    """The new password: the first line of ``password_file`` (``-``: stdin), or asked twice, hidden.

    Raises:
        typer.BadParameter: the file cannot be read.
    """
    if password_file is None:
        return typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if str(password_file) == "-":
        text = sys.stdin.read()
    else:
        try:
            text = password_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise typer.BadParameter(f"cannot read it: {type(exc).__name__}", param_hint="--password-file") from None
    return text.splitlines()[0] if text else ""


@user_app.command(name="add")
def add(
    ctx: typer.Context,
    name: NAME,
    role: Annotated[
        Role, typer.Option("--role", help="viewer reads; operator also acts on cases; admin also manages users.")
    ],
    password_file: PASSWORD_FILE = None,
) -> None:
    """Add a console user with a role and a password (at least 10 characters).

    Example: `lapor-sync user add ani --role admin`

    In scripts: `lapor-sync user add ani --role admin --password-file - < /run/secrets/ani`
    """
    password = _password(password_file)
    user = _accounts(ctx).add(name, role, password, actor=_actor())
    console.print(f"user {user.name} added, role {user.role}.", highlight=False, markup=False)


@user_app.command(name="passwd")
def passwd(ctx: typer.Context, name: NAME, password_file: PASSWORD_FILE = None) -> None:
    """Set a user's password; their console sessions signed in before now end.

    Example: `lapor-sync user passwd ani`
    """
    password = _password(password_file)
    _accounts(ctx).set_password(name, password, actor=_actor())
    console.print(f"password of {name.strip().casefold()} changed.", highlight=False, markup=False)


@user_app.command(name="role")
def role(
    ctx: typer.Context,
    name: NAME,
    new_role: Annotated[Role, typer.Argument(metavar="ROLE", help="viewer, operator or admin.")],
) -> None:
    """Change a user's role; it applies to their next request.

    Example: `lapor-sync user role budi operator`
    """
    user = _accounts(ctx).set_role(name, new_role, actor=_actor())
    console.print(f"user {user.name} is now {user.role}.", highlight=False, markup=False)


@user_app.command(name="disable")
def disable(ctx: typer.Context, name: NAME) -> None:
    """Stop a user signing in; their sessions and API tokens stop working. The audit log keeps their name.

    Example: `lapor-sync user disable budi`
    """
    _accounts(ctx).disable(name, actor=_actor())
    console.print(f"user {name.strip().casefold()} disabled.", highlight=False, markup=False)


@user_app.command(name="enable")
def enable(ctx: typer.Context, name: NAME) -> None:
    """Let a disabled user sign in again (with their old password and tokens).

    Example: `lapor-sync user enable budi`
    """
    _accounts(ctx).enable(name, actor=_actor())
    console.print(f"user {name.strip().casefold()} enabled.", highlight=False, markup=False)


@user_app.command(name="list")
def list_users(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """List the console users by name, with their role and whether they are disabled.

    Example: `lapor-sync user list --json`
    """
    users = _accounts(ctx).list()
    if as_json:
        print_json([{"id": u.id, "name": u.name, "role": u.role.value, "disabled": u.disabled} for u in users])
        return
    print_table(
        "Console users", ["id", "name", "role", "disabled"], [[u.id, u.name, u.role, u.disabled] for u in users]
    )


@user_app.command(name="token")
def token(
    ctx: typer.Context,
    name: NAME,
    label: Annotated[str, typer.Option("--label", help="What the token is for, shown in `user tokens`.")] = "api",
) -> None:
    """Issue an API token acting as the user (with their role), for `/api/v1`; it is shown once only.

    Send it as `Authorization: Bearer TOKEN`. Only its hash is kept: a lost token cannot be shown
    again; revoke it and issue another.

    Example: `lapor-sync user token dasbor --label "dasbor kominfo"`
    """
    issued = _tokens(ctx).issue_token(name, label=label, actor=_actor())
    typer.echo(issued)
    typer.echo("This token is shown once only: store it now.", err=True)


@user_app.command(name="tokens")
def tokens(ctx: typer.Context, name: NAME, as_json: bool = JSON_OPTION) -> None:
    """List a user's API tokens, newest first: id, label, first characters, created, last used, revoked (WIB).

    Example: `lapor-sync user tokens dasbor`
    """
    listed = _tokens(ctx).tokens(name)
    if as_json:
        print_json(
            [
                {
                    "id": t.id,
                    "label": t.label,
                    "prefix": t.prefix,
                    "created_at": t.created_at,
                    "last_used_at": t.last_used_at,
                    "revoked_at": t.revoked_at,
                }
                for t in listed
            ]
        )
        return
    print_table(
        f"API tokens of {name.strip().casefold()}",
        ["id", "label", "starts with", "created", "last used", "revoked"],
        [[t.id, t.label, f"{t.prefix}…", t.created_at, t.last_used_at, t.revoked_at] for t in listed],
        keep_whole=["id", "starts with"],
    )


@user_app.command(name="revoke-token")
def revoke_token(
    ctx: typer.Context, token_id: Annotated[int, typer.Argument(metavar="ID", help="The id `user tokens` lists.")]
) -> None:
    """Revoke an API token now; requests with it are refused from then on.

    Example: `lapor-sync user revoke-token 3`
    """
    _tokens(ctx).revoke_token(token_id, actor=_actor())
    console.print(f"API token {token_id} revoked.", highlight=False, markup=False)
