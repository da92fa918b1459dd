"""Loading a mapping file: a bad one is refused naming the file, the key path, the line and the reason."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pytest

from lapor_sync.config.mapping_file import load_mapping
from lapor_sync.domain.errors import ConfigurationError

PACKAGED = (files("lapor_sync.mappings") / "palangka-raya.toml").read_text(encoding="utf-8")


def _variant(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    """Write the packaged mapping with each ``(old, new)`` text edit applied once."""
    text = PACKAGED
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "city.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _line_of(path: Path, fragment: str, occurrence: int = 0) -> int:
    """The 1-based number of the ``occurrence``-th (from 0) line containing ``fragment``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [number for number, line in enumerate(lines, start=1) if fragment in line][occurrence]


def _refusal(path: Path) -> str:
    with pytest.raises(ConfigurationError) as refused:
        load_mapping(path)
    return str(refused.value)


def test_default_is_the_packaged_mapping_and_a_path_loads_the_same(tmp_path: Path) -> None:
    assert load_mapping() == load_mapping(_variant(tmp_path))


def test_unknown_agency_code_names_file_key_line_and_reason(tmp_path: Path) -> None:
    path = _variant(tmp_path, ('agency = "DISTANKP"', 'agency = "DISPORA"'))

    line = _line_of(path, '"DISPORA"')
    assert _refusal(path) == f"{path}:{line}: category_route[15].agency: unknown agency code 'DISPORA'"


def test_unknown_triage_agency(tmp_path: Path) -> None:
    path = _variant(tmp_path, ('[triage]\nagency = "DISKOMINFO"', '[triage]\nagency = "KOMINFO"'))

    assert _refusal(path) == f"{path}:{_line_of(path, 'KOMINFO')}: triage.agency: unknown agency code 'KOMINFO'"


def test_duplicate_category_route_is_found_whatever_the_case_and_spacing(tmp_path: Path) -> None:
    path = _variant(tmp_path, ('category = "Perairan"', 'category = " PERHUBUNGAN "'))

    line = _line_of(path, 'category = "Perhubungan"')  # the later of the two is refused
    assert _refusal(path) == f"{path}:{line}: category_route[7].category: same category as category_route[6]"


def test_duplicate_institution_route_is_refused(tmp_path: Path) -> None:
    path = _variant(tmp_path, ("institution_id = 627104", "institution_id = 627103"))

    line = _line_of(path, "institution_id = 627103", occurrence=1)
    assert _refusal(path) == f"{path}:{line}: agency[3].institution_id: same institution_id as agency[2]"


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ('100 = "new"', "status_map.100: key must be less than or equal to 99, got '100'"),
        ('x = "new"', "status_map.x: key must be a valid integer, unable to parse string as an integer, got 'x'"),
        ('6 = "forwarded"', "status_map.6: 'forwarded' is set by the engine, never by a status code"),
        ('6 = "closed"', "status_map.6: must be 'new', 'in_progress', 'completed', 'archived', 'forwarded' or"),
    ],
)
def test_bad_status_map_entries(tmp_path: Path, bad: str, reason: str) -> None:
    path = _variant(tmp_path, ('5 = "rejected"     # Ditolak\n', f'5 = "rejected"\n{bad}\n'))

    assert _refusal(path).startswith(f"{path}:{_line_of(path, bad)}: {reason}")


def test_extra_key_is_refused_at_its_line(tmp_path: Path) -> None:
    path = _variant(tmp_path, ('name = "Dinas Sosial"\n', 'name = "Dinas Sosial"\ncolour = "red"\n'))

    assert _refusal(path) == f"{path}:{_line_of(path, 'colour')}: agency[3].colour: unknown key (not allowed here)"


def test_unknown_top_level_table_is_refused(tmp_path: Path) -> None:
    path = _variant(tmp_path, ("[triage]", "[escalation]\nafter_days = 3\n\n[triage]"))

    assert _refusal(path) == f"{path}:{_line_of(path, '[escalation]')}: escalation: unknown key (not allowed here)"


def test_toml_syntax_error_gives_file_and_line(tmp_path: Path) -> None:
    path = _variant(tmp_path, ('name = "Dinas Perhubungan"', "name = Dinas Perhubungan"))

    message = _refusal(path)
    assert message.startswith(f"{path}:{_line_of(path, 'name = Dinas Perhubungan')}: TOML syntax error: ")
    assert "column" in message


def test_action_map_must_cover_every_action(tmp_path: Path) -> None:
    path = _variant(tmp_path, ('forward = { call = "reject", not_authority = true }', ""))

    assert _refusal(path) == f"{path}:{_line_of(path, '[action_map]')}: action_map: missing action(s): forward"


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (
            'complete = { call = "status", status_code = 3 }',
            'complete = { call = "status" }',
            "action_map.complete.status_code: required for call 'status'",
        ),
        (
            'followup = { call = "followup" }',
            'followup = { call = "followup", not_authority = false }',
            "action_map.followup.not_authority: not allowed for call 'followup'",
        ),
        (
            'followup = { call = "followup" }',
            'followup = { call = "post" }',
            "action_map.followup.call: must be 'followup', 'status' or 'reject', got 'post'",
        ),
        (
            'complete = { call = "status", status_code = 3 }',
            'complete = { call = "status", status_code = 7 }',
            "action_map.complete.status_code: 7 is not in status_map",
        ),
        (
            'followup = { call = "followup" }',
            'followup = { call = "followup" }\nreopen = { call = "status", status_code = 2 }',
            "action_map.reopen: key must be 'followup', 'complete', 'return' or 'forward', got 'reopen'",
        ),
        (
            'followup = { call = "followup" }',
            'followup = { call = "status", status_code = 3 }',
            "action_map.followup.call: must be 'followup' (a follow-up is posted to the complaint's thread, "
            "CONTRACT §5), got 'status'",
        ),
        (
            'complete = { call = "status", status_code = 3 }',
            'complete = { call = "status", status_code = 2 }',
            "action_map.complete.status_code: must be a code status_map maps to 'completed' "
            "(a completion is Dalam Proses -> Selesai, CONTRACT §5), got 2 ('in_progress')",
        ),
        (
            'return = { call = "reject", not_authority = false }',
            'return = { call = "status", status_code = 4 }',
            "action_map.return.call: must be 'reject' (a return is a request to archive and return to the "
            "reporter, CONTRACT §5), got 'status'",
        ),
        (
            'forward = { call = "reject", not_authority = true }',
            'forward = { call = "reject", not_authority = false }',
            "action_map.forward.not_authority: must be true (a forward is a request to forward to another "
            "institution, CONTRACT §5), got false",
        ),
    ],
)
def test_action_map_accepts_only_known_actions_and_calls(tmp_path: Path, old: str, new: str, reason: str) -> None:
    path = _variant(tmp_path, (old, new))

    assert _refusal(path) == f"{path}:{_line_of(path, new.splitlines()[-1])}: {reason}"


def test_a_return_needs_a_status_code_mapped_to_archived(tmp_path: Path) -> None:
    path = _variant(tmp_path, ('4 = "archived"', '4 = "rejected"'))

    assert _refusal(path) == (
        f"{path}:{_line_of(path, '[status_map]')}: status_map: no code maps to 'archived', "
        "which the read-back of action_map.return looks for"
    )


def test_every_problem_gets_its_own_line(tmp_path: Path) -> None:
    path = _variant(
        tmp_path,
        ('agency = "DISTANKP"', 'agency = "DISPORA"'),
        ("id = 9004", "id = 627101"),
    )

    lines = _refusal(path).splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("category_route[15].agency: unknown agency code 'DISPORA'")
    line = _line_of(path, "id = 627101", occurrence=1)  # the first is PUPR's institution_id
    assert lines[1] == f"{path}:{line}: outside_institution[5].id: 627101 is the city or one of its sub-units"


def test_missing_file_is_named(tmp_path: Path) -> None:
    assert _refusal(tmp_path / "absent.toml") == f"{tmp_path / 'absent.toml'}: file not found"


def test_privacy_names_the_roles_that_read_confidential_content_and_defaults_to_admin(tmp_path: Path) -> None:
    packaged = load_mapping()
    assert packaged.privacy.confidential_roles == ("admin",)
    assert packaged.privacy.may_read_confidential("admin") and not packaged.privacy.may_read_confidential("operator")
    left_out = _variant(tmp_path, ('[privacy]\nconfidential_roles = ["admin"]\n', ""))
    assert load_mapping(left_out).privacy == packaged.privacy
    wider = _variant(tmp_path, ('confidential_roles = ["admin"]', 'confidential_roles = ["admin", "operator"]'))
    assert load_mapping(wider).privacy.may_read_confidential("operator")
    assert not load_mapping(wider).privacy.may_read_confidential("viewer")


def test_privacy_refuses_a_role_the_console_does_not_have(tmp_path: Path) -> None:
    path = _variant(tmp_path, ('confidential_roles = ["admin"]', 'confidential_roles = ["admin", "kepala"]'))

    assert _refusal(path) == (
        f"{path}:{_line_of(path, 'kepala')}: privacy.confidential_roles[1]: "
        "must be 'viewer', 'operator' or 'admin', got 'kepala'"
    )
