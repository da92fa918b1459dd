"""Packaging: every package folder is installed, and only under the lapor_sync namespace."""

from __future__ import annotations

import tomllib

from tests.support.paths import REPO_ROOT


def _config() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_every_package_folder_is_listed_under_its_installed_name():
    config = _config()
    folder_of = {name: folder for name, folder in config["package-dir"].items()}
    expected = set()
    for name, folder in folder_of.items():
        for init in (REPO_ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO_ROOT / folder)
            expected.add(".".join([name, *relative.parts]))
    assert expected == set(config["packages"])


def test_nothing_is_installed_under_a_generic_top_level_name():
    assert all(name == "lapor_sync" or name.startswith("lapor_sync.") for name in _config()["packages"])


def test_the_domain_imports_no_http_sql_or_scheduler_code():
    forbidden = (
        "httpx",
        "sqlalchemy",
        "sqlmodel",
        "apscheduler",
        "starlette",
        "uvicorn",
        "lapor_sync.storage",
        "lapor_sync.adapters",
    )
    for module in (REPO_ROOT / "lapor_sync" / "domain").glob("*.py"):
        imports = [
            line for line in module.read_text(encoding="utf-8").splitlines() if line.startswith(("import ", "from "))
        ]
        assert not [line for line in imports if any(f" {name}" in line for name in forbidden)], module.name
