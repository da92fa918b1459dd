"""Health reasons read the same in English as before, and the console can say them in Bahasa Indonesia."""

from __future__ import annotations

import json

from lapor_sync.reports.reasons import Reason
from lapor_sync.web.i18n import Language, translations


def _dead(n: int) -> Reason:
    return Reason.counted("%(n)d dead letter", "%(n)d dead letters", n, n=n)


def test_a_reason_is_its_english_sentence() -> None:
    reason = Reason("%(dead)s in the outbox (lapor-sync outbox --state dead)", dead=_dead(2))
    assert reason == "2 dead letters in the outbox (lapor-sync outbox --state dead)"
    assert _dead(1) == "1 dead letter"
    assert json.dumps([reason]) == '["2 dead letters in the outbox (lapor-sync outbox --state dead)"]'


def test_the_console_says_it_in_indonesian_with_the_same_values() -> None:
    reason = Reason("%(dead)s in the outbox (lapor-sync outbox --state dead)", dead=_dead(2))
    assert (
        reason.translated(translations(Language.ID))
        == "2 gagal permanen di kotak keluar (lapor-sync outbox --state dead)"
    )
    assert reason.translated(translations(Language.EN)) == str(reason)


def test_a_sentence_the_catalogue_lacks_stays_english() -> None:
    assert Reason("not in any catalogue: %(x)s", x=1).translated(translations(Language.ID)) == "not in any catalogue: 1"
