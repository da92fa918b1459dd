"""Walks a Laravel paginator page by page, and stops the run on a pagination loop (CONTRACT §2, §6).

The next page is requested by its number, read from ``next_page_url``, on the client's own base URL:
behind the SPLP gateway a paginator may name the backend's internal host, which the client must
not call. The walk ends when ``next_page_url`` is null.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx

from lapor_sync.adapters.national.wire.models import WirePage
from lapor_sync.domain.errors import RunStoppingError

DEFAULT_MAX_PAGES = 1000


def _next_page_number(page: WirePage, next_page_url: str, page_param: str) -> int:
    """Return the ``page_param`` query parameter of ``next_page_url``, or the page after the current one.

    A ``next_page_url`` that is no URL at all (``"::::"``) also means the page after the current one:
    it is the server's text, and must not crash the walk.
    """
    try:
        value = httpx.URL(next_page_url).params.get(page_param, "")
    except httpx.InvalidURL:
        value = ""
    return int(value) if value.isascii() and value.isdigit() else page.current_page + 1


def walk_pages(
    fetch_page: Callable[[int], WirePage], *, what: str, max_pages: int = DEFAULT_MAX_PAGES, page_param: str = "page"
) -> Iterator[WirePage]:
    """Yield every page of a paginated list, fetched lazily from page 1.

    Args:
        fetch_page: fetches one page by its number (1-based); raises domain errors.
        what: the list being walked, for error texts (e.g. ``"GET /complaints/inbox"``).
        max_pages: the most pages one walk may take.
        page_param: the query parameter of the page number in ``next_page_url`` (a deployment setting).

    Raises:
        RunStoppingError: when a ``next_page_url`` repeats one seen before in this walk, or when
            the list goes on beyond ``max_pages`` pages (CONTRACT §6: loops fail the run clearly).
    """
    seen_next_urls: set[str] = set()
    page_number = 1
    for pages_taken in range(1, max_pages + 1):
        page = fetch_page(page_number)
        yield page
        if page.next_page_url is None:
            return
        if page.next_page_url in seen_next_urls:
            raise RunStoppingError(f"{what}: pagination loop, next_page_url repeated after page {page_number}")
        if pages_taken == max_pages:
            break
        seen_next_urls.add(page.next_page_url)
        page_number = _next_page_number(page, page.next_page_url, page_param)
    raise RunStoppingError(f"{what}: more than {max_pages} pages; stopping the walk")
