"""The README tells the truth: every setting and every command is documented (like Datasette's test_docs)."""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

import pytest

from fieldapp.cli import build_parser
from fieldapp.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _commands(parser: argparse.ArgumentParser, prefix: str = "fieldapp") -> list[str]:
    """Every leaf command of the CLI, e.g. 'fieldapp user add'."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _commands(sub, f"{prefix} {name}")
    return found or [prefix]


@pytest.mark.parametrize("name", sorted(Settings.declared()))
def test_every_setting_is_in_the_readme(name):
    variable, default, _help = Settings.declared()[name]
    row = re.search(rf"^\|\s*`{variable}`\s*\|(.*)$", README, re.MULTILINE)
    assert row, f"README.md has no table row for {variable}"
    if default:
        assert default in row.group(1), f"README.md gives another default for {variable}"


def test_every_settings_field_is_read_from_the_environment_and_has_help():
    names = {f.name for f in dataclasses.fields(Settings)} - {"extra"}
    assert names == set(Settings.declared()), "each Settings field needs setting(variable, default, help)"
    assert all(help_text for _variable, _default, help_text in Settings.declared().values())


def test_settings_from_the_environment_keep_their_types_and_defaults():
    settings = Settings.from_env({"FIELDAPP_SESSION_HOURS": "3", "FIELDAPP_DB": "/tmp/x.db", "FIELDAPP_TILE_URL": "t"})
    assert (settings.session_hours, settings.db_path, settings.tile_url) == (3, Path("/tmp/x.db"), "t")
    assert Settings.from_env({}) == Settings()


@pytest.mark.parametrize("command", _commands(build_parser()))
def test_every_cli_command_is_in_the_readme(command):
    assert f"`{command}" in README, f"README.md does not mention `{command}`"


def test_readme_starts_with_the_two_commands():
    first_section = README.split("\n## ", 2)[1]
    assert "bash scripts/demo.sh" in first_section and "bash scripts/test.sh" in first_section
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert "scripts/test.sh" in ci
