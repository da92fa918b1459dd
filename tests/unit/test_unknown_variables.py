"""Environment variables under LAPOR_SYNC_ that nothing reads: named, with the nearest known name."""

from __future__ import annotations

from lapor_sync.config.settings import ENV_PREFIX, known_variables
from lapor_sync.config.variables import unknown_variables

TABLES = ["LAPOR_SYNC_ENDPOINTS"]


def _unknown(*names: str) -> dict[str, str | None]:
    return unknown_variables(dict.fromkeys(names, "x"), ENV_PREFIX, known_variables(), TABLES)


def test_a_mistyped_variable_is_named_with_the_one_it_meant() -> None:
    assert _unknown("LAPOR_SYNC_API_KEYY") == {"LAPOR_SYNC_API_KEYY": "LAPOR_SYNC_API_KEY"}
    assert _unknown("lapor_sync_databse_url") == {"lapor_sync_databse_url": "LAPOR_SYNC_DATABASE_URL"}
    assert _unknown("LAPOR_SYNC_API_TOKEN_FIEL") == {"LAPOR_SYNC_API_TOKEN_FIEL": "LAPOR_SYNC_API_TOKEN_FILE"}
    assert _unknown("LAPOR_SYNC_ENDPOINT__INBOX") == {"LAPOR_SYNC_ENDPOINT__INBOX": "LAPOR_SYNC_ENDPOINTS__INBOX"}


def test_a_variable_like_no_known_one_is_named_without_a_guess() -> None:
    assert _unknown("LAPOR_SYNC_COFFEE_MACHINE") == {"LAPOR_SYNC_COFFEE_MACHINE": None}


def test_known_variables_in_any_case_file_and_cli_variables_and_the_tests_own_are_not_named() -> None:
    quiet = (
        "LAPOR_SYNC_API_KEY",
        "lapor_sync_api_key",
        "LAPOR_SYNC_API_KEY_FILE",
        "LAPOR_SYNC_DATABASE_URL_FILE",
        "LAPOR_SYNC_ENDPOINTS",
        "LAPOR_SYNC_ENDPOINTS__INBOX",
        "LAPOR_SYNC_CONFIG",
        "LAPOR_SYNC_LOG_LEVEL",
        "LAPOR_SYNC_TEST_POSTGRES_URL",
        "LAPOR_SYNC_TEST_KILL_EVERY_STATEMENT",
        "PATH",
        "LAPOR_SYNCHRONOUS",
    )
    assert _unknown(*quiet) == {}


def test_an_unknown_key_of_a_table_is_left_to_the_settings_which_refuse_it() -> None:
    assert _unknown("LAPOR_SYNC_ENDPOINTS__NOPE") == {}


def test_the_global_options_variables_are_known() -> None:
    from lapor_sync.config.settings import known_variables

    known = set(known_variables())
    assert {"LAPOR_SYNC_CONFIG", "LAPOR_SYNC_LOG_LEVEL", "LAPOR_SYNC_LOG_FORMAT"} <= known
