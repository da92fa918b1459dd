"""An exception leaving a delivery is free of the texts withheld in it: its message, its chain, its notes and the
exceptions it groups, as a traceback prints them."""

from __future__ import annotations

import traceback

from lapor_sync.runtime.redaction import withholding
from lapor_sync.sync.scrub import WithheldError, scrubbed

SECRET = "Petugas menemui pelapor di rumah kontrakan belakang pasar Kahayan."


def _printed(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def test_a_note_quoting_a_withheld_text_is_cut() -> None:
    with withholding(SECRET):
        error = ValueError("the answer had an unexpected shape")
        error.add_note(f"while posting: {SECRET}")
        clean = scrubbed(error)

    assert clean is error and "rumah kontrakan" not in _printed(clean)
    assert "the answer had an unexpected shape" in _printed(clean)


def test_a_group_holding_an_exception_that_quotes_a_withheld_text_is_cleaned_or_replaced() -> None:
    class Computed(Exception):
        def __init__(self, said: str) -> None:
            super().__init__()
            self.said = said

        def __str__(self) -> str:
            return self.said

    with withholding(SECRET):
        cleanable = scrubbed(ExceptionGroup("two calls failed", [ValueError(f"quoted: {SECRET}"), KeyError("x")]))
        uncleanable = scrubbed(ExceptionGroup("two calls failed", [Computed(f"quoted: {SECRET}")]))

    assert isinstance(cleanable, ExceptionGroup) and "rumah kontrakan" not in _printed(cleanable)
    assert isinstance(uncleanable, WithheldError) and "rumah kontrakan" not in _printed(uncleanable)
