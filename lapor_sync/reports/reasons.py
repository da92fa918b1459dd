"""Sentences for people that can be said in another language: the English text, plus its template and values.

A :class:`Reason` *is* its English text (a ``str``), so the CLI, ``/healthz`` and JSON use it as
they always did; the console says it in Bahasa Indonesia by looking its template up in the gettext
catalogue (the template is the message id) and filling in the same values.
"""

from __future__ import annotations

import gettext
from typing import Any


class Reason(str):
    """An English sentence made from ``template % values``, keeping both for translation.

    Values may be :class:`Reason` themselves (a counted phrase inside a sentence); they are
    translated too.
    """

    template: str
    plural: str | None
    count: int | None
    values: dict[str, Any]

    def __new__(cls, template: str, /, **values: Any) -> Reason:
        """The sentence ``template % values``."""
        return cls._made(template, None, None, values)

    @classmethod
    def counted(cls, singular: str, plural: str, count: int, /, **values: Any) -> Reason:
        """A phrase with a count, e.g. ``counted("%(n)d dead letter", "%(n)d dead letters", n, n=n)``."""
        return cls._made(singular, plural, count, values)

    @classmethod
    def _made(cls, template: str, plural: str | None, count: int | None, values: dict[str, Any]) -> Reason:
        english = plural if plural is not None and count != 1 else template
        reason = super().__new__(cls, english % values)
        reason.template, reason.plural, reason.count, reason.values = template, plural, count, values
        return reason

    def translated(self, translations: gettext.NullTranslations) -> str:
        """This sentence in the language of ``translations`` (its English text where the catalogue has none)."""
        values = {
            name: value.translated(translations) if isinstance(value, Reason) else value
            for name, value in self.values.items()
        }
        if self.plural is not None and self.count is not None:
            return translations.ngettext(self.template, self.plural, self.count) % values
        return translations.gettext(self.template) % values
