"""The exit codes are written once (starter/errors.py): `--help` prints them and the README's table agrees."""

from __future__ import annotations

import re
from pathlib import Path

from starter.errors import EXIT_CODE_MEANINGS, ExitCode, exit_codes_help
from starter.returnsctl import build_parser

README = Path(__file__).resolve().parents[3] / "README.md"


def _readme_table() -> dict[int, str]:
    section = README.read_text().split("Exit codes of `returnsctl`", 1)[1]
    rows = re.findall(r"^\| (\d+) \| (.+?) \|$", section.split("\n\n", 2)[1], flags=re.MULTILINE)
    return {int(code): meaning for code, meaning in rows}


def test_every_exit_code_has_one_meaning() -> None:
    assert set(EXIT_CODE_MEANINGS) == set(ExitCode)


def test_the_readme_table_is_the_code_s() -> None:
    assert _readme_table() == {code.value: meaning for code, meaning in EXIT_CODE_MEANINGS.items()}


def test_returnsctl_help_ends_with_them() -> None:
    help_text = build_parser().format_help()
    assert help_text.rstrip().endswith(exit_codes_help().rstrip())
    for code, meaning in EXIT_CODE_MEANINGS.items():
        assert f"  {code.value}  {meaning}" in help_text
