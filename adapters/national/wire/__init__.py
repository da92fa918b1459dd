"""The LAPOR! v3 wire format, the only place that knows the platform's JSON and WIB strings (CONTRACT §2, §4).

``timestamps`` converts WIB strings, ``models`` holds the pydantic models of the JSON objects and
their conversion into domain objects, ``read`` reads whole answers, ``faults`` the SPLP gateway's
WSO2 fault bodies (CONTRACT §7 G1). When a city obtains the real API documentation, this package
is what should have to change.
"""

from lapor_sync.adapters.national.wire.faults import WireFault, read_fault
from lapor_sync.adapters.national.wire.read import (
    Category,
    Institution,
    error_message,
    read_categories,
    read_complaint_detail,
    read_followups,
    read_inbox_row,
    read_institutions,
    read_master_institutions,
    read_page,
    read_posted_followup,
    read_reply_templates,
    server_text,
    unwrap_envelope,
)
from lapor_sync.adapters.national.wire.timestamps import WIB, format_wib_datetime, parse_wib_date, parse_wib_datetime

__all__ = [
    "WIB",
    "Category",
    "Institution",
    "WireFault",
    "error_message",
    "format_wib_datetime",
    "parse_wib_date",
    "parse_wib_datetime",
    "read_categories",
    "read_fault",
    "read_complaint_detail",
    "read_followups",
    "read_inbox_row",
    "read_institutions",
    "read_master_institutions",
    "read_page",
    "read_posted_followup",
    "read_reply_templates",
    "server_text",
    "unwrap_envelope",
]
