"""Input: fields that drive a decision are read strictly (refused, never coerced); configuration files are
data only, of bounded size, and refused in one line when they are no files (a pipe nobody writes to, a
directory, a symlink loop)."""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from lapor_sync.adapters.national import wire
from lapor_sync.config.files import MAX_FILE_BYTES, read_toml
from lapor_sync.config.mapping_file import load_mapping
from lapor_sync.config.sources import read_secret_file
from lapor_sync.domain.complaint import MalformedRecord
from lapor_sync.domain.errors import ConfigurationError, MalformedRecordError
from tests.unit.test_national_wire import detail, followup

# -- the wire: decision fields ---------------------------------------------------------------------

NOT_AN_ID = ["12abc", " 12", "1e3", "１２", "", True, False, 12.0, 3.7, -1, 2**31, [12], {"id": 12}]
NOT_A_FLAG = ["yes", "true", "", 2, -1, 1.0, 0.0, None, [1]]


def _refused(results: object, field: str) -> MalformedRecordError:
    with pytest.raises(MalformedRecordError) as caught:
        wire.read_complaint_detail(results, 1916449)
    assert caught.value.reason.startswith(field), caught.value.reason
    return caught.value


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (field, value)
        for field in ("status_code", "disposition_id", "category_id")
        for value in NOT_AN_ID
        if (field, value) != ("category_id", "")  # a blank category is "no category": see below
    ],
)
def test_a_complaint_number_that_drives_a_decision_is_refused_not_coerced(field: str, value: object) -> None:
    _refused(detail(**{field: value}), f"data.{field}")


@pytest.mark.parametrize("value", NOT_AN_ID)
def test_a_complaint_id_that_is_no_whole_number_is_refused(value: object) -> None:
    _refused(detail(complaint_id=value), "data.complaint_id")


@pytest.mark.parametrize("field", ["is_anonymous", "is_secret", "is_priority"])
@pytest.mark.parametrize("value", NOT_A_FLAG)
def test_a_complaint_flag_other_than_0_or_1_is_refused(field: str, value: object) -> None:
    error = _refused(detail(**{field: value}), f"data.{field}")
    assert error.reason.endswith("expected 0 or 1")


@pytest.mark.parametrize("field", ["is_anonymous", "is_secret", "disposition_id", "status_code", "updated_at"])
def test_a_missing_decision_field_is_refused_not_defaulted(field: str) -> None:
    results = detail()
    del results["data"][field]  # type: ignore[attr-defined]
    _refused(results, f"data.{field}")


@pytest.mark.parametrize("value", ["2024-10-31T16:59:59Z", "31/10/2024 23:59:59", 1730397599, None, True])
def test_an_updated_at_not_in_the_contracts_format_is_refused(value: object) -> None:
    _refused(detail(updated_at=value), "data.updated_at")


def test_a_status_log_code_that_is_no_whole_number_is_refused() -> None:
    _refused(
        detail(status_logs=[{"status_code": True, "status_name": "x", "timestamp": "31-10-2024 09:00:00"}]),
        "data.status_logs.0.status_code",
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"complaint_id": "1916449"}, ("complaint_id", 1916449)),
        ({"status_code": "3"}, ("status_code", 3)),
        ({"category_id": "23"}, ("category_id", 23)),
        ({"category_id": ""}, ("category_id", None)),  # no category: routed by disposition or triage
        ({"category_id": None}, ("category_id", None)),
        ({"disposition_id": None}, ("disposition_id", None)),
        ({"is_secret": "1"}, ("is_secret", True)),
        ({"is_secret": 0}, ("is_secret", False)),
        ({"is_secret": True}, ("is_secret", True)),  # a JSON boolean is a flag
        ({"is_anonymous": "0"}, ("is_anonymous", False)),
        ({"is_anonymous": False}, ("is_anonymous", False)),
    ],
)
def test_the_contracts_own_forms_are_read(changes: dict[str, object], expected: tuple[str, object]) -> None:
    complaint, _ = wire.read_complaint_detail(detail(**changes), 1916449)
    field, value = expected
    assert getattr(complaint, field) == value and type(getattr(complaint, field)) is type(value)


def _followup_refused(changes: dict[str, object], field: str, drop: str | None = None) -> None:
    row = {**followup(1, "01-11-2024 10:00:00"), **changes}
    if drop:
        del row[drop]
    with pytest.raises(MalformedRecordError) as caught:
        wire.read_followups([row], 1916449)
    assert caught.value.reason.startswith(f"followups.0.{field}"), caught.value.reason


@pytest.mark.parametrize("value", NOT_A_FLAG)
def test_a_followup_secrecy_flag_other_than_0_or_1_is_refused(value: object) -> None:
    _followup_refused({"is_secret": value}, "is_secret")


def test_a_followup_without_its_secrecy_flag_is_refused_not_read_as_public() -> None:
    _followup_refused({}, "is_secret", drop="is_secret")


@pytest.mark.parametrize("value", ["INSTANSI", "reporter", "", None, 1, True])
def test_a_followup_author_type_outside_the_contract_is_refused(value: object) -> None:
    _followup_refused({"user_type": value}, "user_type")


@pytest.mark.parametrize("value", NOT_AN_ID)
def test_a_followup_id_that_is_no_whole_number_is_refused(value: object) -> None:
    _followup_refused({"id": value}, "id")


def test_a_followup_institution_beyond_an_integer_column_is_refused() -> None:
    _followup_refused({"institution_from_id": 2**40}, "institution_from_id")


@pytest.mark.parametrize("value", [True, "12abc", 12.0, -3])
def test_an_inbox_row_id_that_is_no_whole_number_is_set_aside(value: object) -> None:
    row = wire.read_inbox_row({"complaint_id": value, "updated_at": "31-10-2024 23:59:59"})
    assert isinstance(row, MalformedRecord) and row.reason.startswith("inbox row complaint_id")


def test_a_malformed_reporter_of_any_shape_is_removed_from_a_set_aside_payload() -> None:
    results = detail(user="Siti Rahasia 0812-9999-0000", status_code="abc")
    original = copy.deepcopy(results)
    error = _refused(results, "data")
    assert error.raw["data"]["user"] == "(removed)"  # type: ignore[index]
    assert results == original  # the caller's payload is not changed


# -- configuration and mapping files ---------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        '!!python/object/apply:os.system ["touch {marker}"]\n',  # YAML's code-running tag
        "__import__('os').system('touch {marker}')\n",  # Python
        "cos\nsystem\n(S'touch {marker}'\ntR.\n",  # a protocol 0 pickle
        "exec = 1\n[[eval]]\ncmd = \"__import__('os').system('touch {marker}')\"\n",  # code-like keys, as data
    ],
)
def test_a_file_with_code_in_it_is_refused_or_read_as_data_never_run(tmp_path: Path, payload: str) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "city.toml"
    path.write_text(payload.format(marker=marker), encoding="utf-8")

    try:
        _, data = read_toml(path)
    except ConfigurationError as refused:
        assert str(refused).startswith(f"{path}:") and "TOML syntax error" in str(refused)
    else:
        assert data["eval"][0]["cmd"].startswith("__import__")  # a string, nothing more
        with pytest.raises(ConfigurationError, match=str(path)):
            load_mapping(path)  # and no mapping
    assert not marker.exists()


def test_a_pickle_is_refused_as_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "mapping.toml"
    path.write_bytes(b"\x80\x04\x95\x1f\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93.")
    with pytest.raises(ConfigurationError, match=rf"^{path}: not UTF-8 text$"):
        read_toml(path)


def test_a_file_over_the_size_limit_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.toml"
    line = "# " + "x" * 1021 + "\n"  # 1 KiB
    path.write_text(line * 1024, encoding="utf-8")
    assert path.stat().st_size == MAX_FILE_BYTES
    assert read_toml(path)[1] == {}  # 1 MiB exactly is read

    path.write_text(line * 1024 + "a = 1\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=rf"^{path}: larger than 1 MiB"):
        read_toml(path)
    with pytest.raises(ConfigurationError, match=rf"^{path}: larger than 1 MiB"):
        load_mapping(path)


def test_a_device_that_never_ends_is_refused_not_read_forever() -> None:
    with pytest.raises(ConfigurationError, match=r"^/dev/zero: larger than 1 MiB"):
        read_toml(Path("/dev/zero"))


def _within(read: Callable[[], object], seconds: float = 10.0) -> object:
    """``read()`` in a daemon thread, so that a read that blocks fails the test instead of hanging it;
    returns what it returned or the ``ConfigurationError`` it raised."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(read())
        except ConfigurationError as refused:
            outcome.append(refused)

    reader = threading.Thread(target=run, daemon=True)
    reader.start()
    reader.join(seconds)
    assert outcome, f"the read did not return within {seconds} s"
    return outcome[0]


def _read_within(path: Path) -> object:
    return _within(lambda: read_toml(path)[1])


def test_a_named_pipe_nobody_writes_to_is_refused_not_waited_on(tmp_path: Path) -> None:
    pipe = tmp_path / "lapor-sync.toml"
    os.mkfifo(pipe)
    refused = _read_within(pipe)
    assert isinstance(refused, ConfigurationError)
    assert str(refused) == f"{pipe}: cannot read: a named pipe that nobody writes to"
    refused = _within(lambda: read_secret_file("LAPOR_SYNC_API_KEY_FILE", pipe))  # a container secret too
    assert str(refused) == f"LAPOR_SYNC_API_KEY_FILE: {pipe}: cannot read: a named pipe that nobody writes to"


def test_a_pipe_with_a_writer_is_read_like_a_file() -> None:
    reading, writing = os.pipe()  # what `lapor-sync -c <(...)` passes: /dev/fd/N
    os.write(writing, b"database_url = 'sqlite:///city.db'\n")
    os.close(writing)
    try:
        assert _read_within(Path(f"/dev/fd/{reading}")) == {"database_url": "sqlite:///city.db"}
    finally:
        os.close(reading)


def test_a_directory_or_a_symlink_loop_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "loop-a").symlink_to(tmp_path / "loop-b")
    (tmp_path / "loop-b").symlink_to(tmp_path / "loop-a")
    for path, why in ((tmp_path, "Is a directory"), (tmp_path / "loop-a", "Too many levels of symbolic links")):
        refused = _read_within(path)
        assert isinstance(refused, ConfigurationError) and str(refused) == f"{path}: cannot read: {why}"
