"""Pydantic models of the platform's JSON objects and their conversion into domain objects (CONTRACT §4).

Fields that drive a decision (complaint, follow-up and institution ids, ``updated_at``,
``status_code``, ``disposition_id``, ``category_id`` (routing), the anonymity and secrecy flags of
complaints and follow-ups, the follow-up's author type) are read strictly: a wrong type is refused,
never coerced (``"yes"``, ``2`` or ``1.0`` is no flag; ``3.7``, ``true`` or ``"12abc"`` no id), and
the secrecy flags are required, since reading one as "not confidential" would show a confidential
text. Fields that are only shown are read leniently.
Numbers the city's records keep must fit an INTEGER column, and a tracking id its 32 characters,
so that no record that passes here can make the store fail. Every text is made valid on the way
in (NUL characters and lone surrogates removed, see ``lapor_sync.domain.text``); a content keeps
its length as received. Validation messages name the rule broken, never the value (it may be personal data).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from lapor_sync.adapters.national.wire.timestamps import parse_wib_date, parse_wib_datetime
from lapor_sync.domain.complaint import Attachment, AuthorType, Complaint, Reporter, StatusLogEntry, ThreadEntry
from lapor_sync.domain.text import receive_text, valid_text

MAX_INTEGER = 2**31 - 1
"""The largest value of an INTEGER column (PostgreSQL ``integer``), where ids and codes are stored."""
MAX_TRACKING_ID = 32
"""The width of the tracking id columns."""


def whole_number(value: object) -> int:
    """Strict: an int from 0 to :data:`MAX_INTEGER`, or such a string of ASCII digits; never a bool, float or blank."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INTEGER:
        return value
    raise ValueError(f"expected a whole number from 0 to {MAX_INTEGER}")


def _storable(value: int | None) -> int | None:
    if value is not None and not -MAX_INTEGER - 1 <= value <= MAX_INTEGER:
        raise ValueError(f"a number beyond ±{MAX_INTEGER} cannot be stored")
    return value


def _optional_whole_number(value: object) -> int | None:
    return None if value is None else whole_number(value)


def _blank_or_whole_number(value: object) -> int | None:
    return None if value in (None, "") else whole_number(value)


def _flag(value: object) -> bool:
    """Strict 0/1 flag; JSON booleans and "0"/"1" strings are the same thing; a float is not."""
    if isinstance(value, int | str) and value in (0, 1, "0", "1"):  # a bool is an int: true/false pass
        return bool(int(value))
    raise ValueError("expected 0 or 1")


def _blank_to_none(value: object) -> object:
    return None if value == "" else value


def _none_to_blank(value: object) -> object:
    return "" if value is None else value


def _valid_or_none(value: str | None) -> str | None:
    return None if value is None else valid_text(value)


def _tracking_id(value: str) -> str:
    if len(value) > MAX_TRACKING_ID:
        raise ValueError(f"expected at most {MAX_TRACKING_ID} characters")
    return value


def _whole_number_or_none(value: object) -> int | None:
    """A number only compared, never stored: anything that is not a whole number reads as "not given"."""
    try:
        return None if value is None else whole_number(value)
    except ValueError:
        return None


def _dict_or_none(value: object) -> object:
    return value if isinstance(value, dict) else None


def _lenient_date(value: object) -> date | None:
    """Display-only date: anything unreadable becomes ``None`` rather than setting the record aside."""
    try:
        return parse_wib_date(value)
    except ValueError:
        return None


WholeNumber = Annotated[int, BeforeValidator(whole_number)]
OptionalWholeNumber = Annotated[int | None, BeforeValidator(_optional_whole_number)]
BlankOrWholeNumber = Annotated[int | None, BeforeValidator(_blank_or_whole_number)]
Flag = Annotated[bool, BeforeValidator(_flag)]
WibDateTime = Annotated[datetime, BeforeValidator(parse_wib_datetime)]
Text = Annotated[str, BeforeValidator(_none_to_blank), AfterValidator(valid_text)]
OptionalText = Annotated[str | None, AfterValidator(_valid_or_none)]
RawContent = Annotated[str, BeforeValidator(_none_to_blank)]
"""A content, kept as received until ``to_domain`` takes its length and makes it valid."""
TrackingId = Annotated[Text, AfterValidator(_tracking_id)]
LenientInt = Annotated[int | None, BeforeValidator(_blank_to_none)]
StoredLenientInt = Annotated[LenientInt, AfterValidator(_storable)]
"""A lenient number the city's records keep, so it must fit an INTEGER column."""
LenientDate = Annotated[date | None, BeforeValidator(_lenient_date)]
CheckedNumber = Annotated[int | None, BeforeValidator(_whole_number_or_none)]
"""A number read only to be checked against one we know (unreadable: ``None``, the record is kept)."""


class _WireModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True)


class WireUser(_WireModel):
    """The reporter object (``user``); personal data."""

    name: OptionalText = None
    email: OptionalText = None
    phone: OptionalText = None


class WireAttachment(_WireModel):
    """An attachment's metadata."""

    id: int
    file_name: Text = ""
    extension: OptionalText = None
    path: OptionalText = None

    def to_domain(self) -> Attachment:
        """Return the domain attachment."""
        return Attachment(id=self.id, file_name=self.file_name, extension=self.extension, path=self.path)


class WireStatusLog(_WireModel):
    """One entry of ``status_logs`` in the complaint detail."""

    status_code: WholeNumber
    status_name: Text = ""
    note: OptionalText = None
    timestamp: WibDateTime

    def to_domain(self) -> StatusLogEntry:
        """Return the domain status-log entry (``at`` in UTC)."""
        return StatusLogEntry(self.status_code, self.status_name, self.note, self.timestamp)


class WireComplaint(_WireModel):
    """A complaint (laporan) as the detail endpoint sends it (CONTRACT §4)."""

    complaint_id: WholeNumber
    tracking_id: TrackingId = ""
    title: Text = ""
    content: RawContent = ""
    classification_id: LenientInt = None
    classification_name: OptionalText = None
    category_id: BlankOrWholeNumber = None  # routes the complaint; none at all is "no category"
    category_name: OptionalText = None
    status_code: WholeNumber
    status_name: Text = ""
    disposition_id: OptionalWholeNumber  # required key: a missing one must not read as "forwarded away"
    disposition_name: OptionalText = None
    is_anonymous: Flag
    is_secret: Flag
    is_priority: Flag = False
    channel: LenientInt = None
    channel_name: OptionalText = None
    location_id: LenientInt = None
    location_name: OptionalText = None
    date_of_incident: LenientDate = None
    created_at: WibDateTime
    updated_at: WibDateTime
    user: Annotated[WireUser | None, BeforeValidator(_dict_or_none)] = None
    attachments: Annotated[list[WireAttachment], BeforeValidator(lambda value: value or [])] = []
    status_logs: Annotated[list[WireStatusLog], BeforeValidator(lambda value: value or [])] = []

    def to_domain(self) -> Complaint:
        """Return the domain complaint; the reporter is ``None`` for an anonymous complaint.

        ``content`` is made valid here and ``content_length`` is its length as received.
        """
        reporter = None
        if self.user is not None and not self.is_anonymous:
            reporter = Reporter(name=self.user.name, email=self.user.email, phone=self.user.phone)
        content = receive_text(self.content)
        return Complaint(
            complaint_id=self.complaint_id,
            tracking_id=self.tracking_id,
            title=self.title,
            content=content.text,
            content_length=content.received_length,
            classification_id=self.classification_id,
            classification_name=self.classification_name,
            category_id=self.category_id,
            category_name=self.category_name,
            status_code=self.status_code,
            status_name=self.status_name,
            disposition_id=self.disposition_id,
            disposition_name=self.disposition_name,
            is_anonymous=self.is_anonymous,
            is_secret=self.is_secret,
            is_priority=self.is_priority,
            channel=self.channel,
            channel_name=self.channel_name,
            location_id=self.location_id,
            location_name=self.location_name,
            date_of_incident=self.date_of_incident,
            created_at=self.created_at,
            updated_at=self.updated_at,
            reporter=reporter,
            attachments=tuple(attachment.to_domain() for attachment in self.attachments),
        )


class WireComplaintDetail(_WireModel):
    """``results`` of ``GET /complaints/{id}/complaint``."""

    data: WireComplaint


def _inbox_tracking_id(value: object) -> str | None:
    """An inbox row's tracking id when it is one (digits, short enough); anything else is ``None``, never a fault."""
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    return text if text.isdigit() and text.isascii() and len(text) <= MAX_TRACKING_ID else None


class WireInboxRow(_WireModel):
    """The two fields of an inbox row that decide whether the complaint must be fetched, and its tracking id.

    The tracking id is read only to find complaints an admin export names by it (CONTRACT §5: no
    lookup by tracking id); a row without a readable one is still a good row.
    """

    complaint_id: WholeNumber
    updated_at: WibDateTime
    tracking_id: Annotated[str | None, BeforeValidator(_inbox_tracking_id)] = None


class WireFollowup(_WireModel):
    """A follow-up (tindak lanjut) or reply in the thread (CONTRACT §4)."""

    id: WholeNumber
    complaint_id: CheckedNumber = None  # checked against the complaint a follow-up was posted to
    user_type: AuthorType
    institution_from_id: StoredLenientInt = None
    institution_from_name: OptionalText = None
    content: RawContent = ""
    rating: Annotated[int, BeforeValidator(lambda value: value or 0), AfterValidator(_storable)] = 0
    is_secret: Flag  # required: a missing one must not read as "not confidential"
    created_at: WibDateTime

    def to_domain(self) -> ThreadEntry:
        """Return the domain thread entry (``created_at`` in UTC; content made valid, its length as received)."""
        content = receive_text(self.content)
        return ThreadEntry(
            national_id=self.id,
            author_type=self.user_type,
            institution_id=self.institution_from_id,
            institution_name=self.institution_from_name,
            content=content.text,
            rating=self.rating,
            is_secret=self.is_secret,
            created_at=self.created_at,
            content_length=content.received_length,
            complaint_id=self.complaint_id,
        )


class WirePostedFollowup(_WireModel):
    """``results`` of ``POST /complaints/followup/add``: the stored follow-up."""

    data: WireFollowup


class WirePage(_WireModel):
    """A Laravel paginator (CONTRACT §2); rows in ``data`` are read one by one by the caller."""

    current_page: WholeNumber
    last_page: OptionalWholeNumber = None
    total: CheckedNumber = None  # only compared (page drift, CONTRACT §6)
    next_page_url: Annotated[str | None, BeforeValidator(_blank_to_none)] = None
    data: list[Any]


class WireErrorBody(_WireModel):
    """The error body of a non-2xx answer: ``{"message": ..., "errors": {field: [...]}}``."""

    message: OptionalText = None
    errors: Annotated[dict[str, Any] | None, BeforeValidator(_dict_or_none)] = None


class WireInstitution(_WireModel):
    """An institution row."""

    id: WholeNumber
    name: Text
    parent_id: OptionalWholeNumber = None


class WireCategory(_WireModel):
    """A category row; the old API's ``topic_name``/``parent`` names are accepted too."""

    id: WholeNumber
    name: Text = Field(validation_alias=AliasChoices("name", "topic_name"))
    parent_id: Annotated[int, BeforeValidator(lambda value: value or 0)] = Field(
        default=0, validation_alias=AliasChoices("parent_id", "parent")
    )


MAX_TEMPLATE_CODE = 64
"""The width of the ``reply_template.code`` column."""


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _template_code(value: str) -> str:
    if len(value) > MAX_TEMPLATE_CODE:
        raise ValueError(f"expected at most {MAX_TEMPLATE_CODE} characters")
    return value


NonBlankText = Annotated[Text, AfterValidator(_non_blank)]


class WireMasterInstitution(_WireModel):
    """A row of ``GET /masters/institutions/external``: ``{id, name}``, no ``parent_id`` (CONTRACT §7 G8)."""

    id: WholeNumber
    name: NonBlankText


class WireReplyTemplate(_WireModel):
    """A row of ``GET /masters/templates`` (CONTRACT §7 G8: ``template_code`` seen; the other names assumed).

    The code is read strictly (a string, not blank, at most 64 characters): it is the key the city
    picks a template by. The title is ``name``, or ``title`` as some Laravel APIs call it; the text
    is ``content``, required: a template without text is no template.
    """

    id: Annotated[int | None, BeforeValidator(_whole_number_or_none)] = None
    template_code: Annotated[NonBlankText, AfterValidator(_template_code)]
    name: Text = Field(default="", validation_alias=AliasChoices("name", "title"))
    content: NonBlankText

    @field_validator("template_code", mode="before")
    @classmethod
    def _code_is_a_string(cls, value: object) -> object:
        if not isinstance(value, str):
            raise ValueError("expected a string")  # a number coerced to text would be another code
        return value
