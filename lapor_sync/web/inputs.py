"""What the pages share in reading forms and answering them: empty filters, the actor's name, bulk outcome notices."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BeforeValidator
from starlette.requests import Request

from lapor_sync.accounts.users import ConsoleUser
from lapor_sync.web.templating import translate


def _none_if_blank(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


Blank = BeforeValidator(_none_if_blank)
"""Put on a query parameter: a filter form's "all" choice sends it empty, which means no filter."""


def actor(user: ConsoleUser) -> str:
    """The name the services record for an action ``user`` takes in the console (``ani (console)``)."""
    return f"{user.name} (console)"


def bulk_notice(request: Request, done: int, refused: Sequence[int]) -> str:
    """The notice after a bulk action: how many rows were done, and which were refused (by id, a few).

    Args:
        request: the request (its language).
        done: how many rows the action was done to.
        refused: the ids of the rows it was refused for.
    """
    text = translate(request, "Done for %(done)d rows; refused for %(refused)d.", done=done, refused=len(refused))
    if refused:
        shown = ", ".join(f"#{i}" for i in refused[:10]) + (" …" if len(refused) > 10 else "")
        text += " " + translate(request, "Refused: %(ids)s (open each row to see why).", ids=shown)
    return text
