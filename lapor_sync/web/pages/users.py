"""Console users (admins only): add, change role, disable and enable, set a password, issue and revoke API tokens.

Each change goes through :class:`~lapor_sync.accounts.users.Accounts` or
:class:`~lapor_sync.accounts.tokens.ApiTokens` with the signed-in admin as the actor, so the change and
its audit entry commit together, exactly as ``lapor-sync user`` does from a shell.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel

from lapor_sync.accounts.roles import Role
from lapor_sync.accounts.users import ConsoleUser
from lapor_sync.domain.errors import LaporSyncError
from lapor_sync.web.context import Console, console
from lapor_sync.web.security import audit_actor, require
from lapor_sync.web.templating import redirect_after, refusal, render, translate

router = APIRouter()
api = APIRouter()
Admin = Annotated[ConsoleUser, Depends(require(Role.ADMIN))]
Services = Annotated[Console, Depends(console)]


class NewUser(BaseModel):
    """A user to add: name (a-z, 0-9, '.', '_', '-'), role and password (10 characters or more)."""

    name: str
    role: Role
    password: str


class RoleChange(BaseModel):
    """A user's new role."""

    role: Role


def users_with_tokens(services: Console) -> list[dict[str, Any]]:
    """Every console user with their API tokens (prefixes only: a token is shown once, when issued)."""
    tokens = services.tokens.tokens_by_user()  # one query for all: not one per user
    return [
        {
            "name": user.name,
            "role": user.role.value,
            "disabled": user.disabled,
            "tokens": [vars(info) for info in tokens.get(user.name, [])],
        }
        for user in services.accounts.list()
    ]


@router.get("/users")
def users_page(request: Request, services: Services, _admin: Admin) -> Response:
    """The users, their roles and tokens, with the forms to change them."""
    return render(
        request, "users.html", title=translate(request, "Users"), users=users_with_tokens(services), roles=list(Role)
    )


@api.get("/users")
def users_api(services: Services, _admin: Admin) -> list[dict[str, Any]]:
    """Every console user, their role, whether disabled, and their tokens (never the tokens themselves)."""
    return users_with_tokens(services)


@router.post("/users")
def add_user(
    request: Request,
    services: Services,
    admin: Admin,
    name: Annotated[str, Form(max_length=64)],
    role: Annotated[Role, Form()],
    password: Annotated[str, Form(max_length=1024)],
    password_again: Annotated[str, Form(max_length=1024)],
) -> Response:
    """Add a user; the password is typed twice."""
    if password != password_again:
        return redirect_after(request, "/users", translate(request, "The two passwords differ; nothing was changed."))
    return _change(
        request,
        "/users",
        lambda: services.accounts.add(name, role, password, actor=audit_actor(request, admin)),
        translate(request, "User %(name)s added.", name=name.strip().lower()),
    )


@api.post("/users", status_code=201)
def add_user_api(request: Request, body: NewUser, services: Services, admin: Admin) -> dict[str, Any]:
    """Add a user (``AccountRefused`` or ``WeakPassword`` answer 422 with the reason)."""
    user = services.accounts.add(body.name, body.role, body.password, actor=audit_actor(request, admin))
    return {"name": user.name, "role": user.role.value, "disabled": user.disabled}


@router.post("/users/{name}/role")
def set_role(request: Request, name: str, role: Annotated[Role, Form()], services: Services, admin: Admin) -> Response:
    """Change a user's role."""
    return _change(
        request,
        "/users",
        lambda: services.accounts.set_role(name, role, actor=audit_actor(request, admin)),
        translate(request, "%(name)s is now %(role)s.", name=name, role=role.value),
    )


@api.post("/users/{name}/role")
def set_role_api(request: Request, name: str, body: RoleChange, services: Services, admin: Admin) -> dict[str, str]:
    """Change a user's role."""
    user = services.accounts.set_role(name, body.role, actor=audit_actor(request, admin))
    return {"name": user.name, "role": user.role.value}


@router.post("/users/{name}/disable")
def disable(request: Request, name: str, services: Services, admin: Admin) -> Response:
    """Disable a user: their sessions and tokens stop working at once."""
    return _change(
        request,
        "/users",
        lambda: services.accounts.disable(name, actor=audit_actor(request, admin)),
        translate(request, "%(name)s is disabled.", name=name),
    )


@router.post("/users/{name}/enable")
def enable(request: Request, name: str, services: Services, admin: Admin) -> Response:
    """Enable a disabled user again."""
    return _change(
        request,
        "/users",
        lambda: services.accounts.enable(name, actor=audit_actor(request, admin)),
        translate(request, "%(name)s is enabled.", name=name),
    )


@router.post("/users/{name}/password")
def set_password(
    request: Request,
    name: str,
    password: Annotated[str, Form(max_length=1024)],
    services: Services,
    admin: Admin,
) -> Response:
    """Give a user a new password (their open sessions end)."""
    return _change(
        request,
        "/users",
        lambda: services.accounts.set_password(name, password, actor=audit_actor(request, admin)),
        translate(request, "The password of %(name)s is changed; their sessions have ended.", name=name),
    )


@router.post("/users/{name}/tokens")
def issue_token(
    request: Request, name: str, label: Annotated[str, Form(max_length=64)], services: Services, admin: Admin
) -> Response:
    """Issue an API token and show it once, on this answer only (never in a redirect, a cookie or a log)."""
    try:
        token = services.tokens.issue_token(name, label=label, actor=audit_actor(request, admin))
    except LaporSyncError as exc:
        return redirect_after(request, "/users", refusal(request, exc))
    return render(request, "token_issued.html", title=translate(request, "API token"), name=name, token=token)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: int, services: Services, admin: Admin) -> Response:
    """Revoke an API token: programs using it are refused from now on."""
    return _change(
        request,
        "/users",
        lambda: services.tokens.revoke_token(token_id, actor=audit_actor(request, admin)),
        translate(request, "Token %(id)d revoked.", id=token_id),
    )


def _change(request: Request, back: str, change: Any, done: str) -> Response:
    """Make ``change``; go back to ``back`` saying ``done``, or the service's refusal (in the page's language)."""
    try:
        change()
    except LaporSyncError as exc:
        return redirect_after(request, back, refusal(request, exc))
    return redirect_after(request, back, done)
