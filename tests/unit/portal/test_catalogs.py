"""Every string the portal shows goes through its message catalogs, and German has them all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[3]


def _ids(path: Path) -> set[str]:
    with path.open("rb") as po:
        return {message.id for message in read_po(po) if message.id}


def test_the_template_catalog_holds_every_marked_string_of_today(tmp_path: Path) -> None:
    extracted = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_",
            "-o",
            str(extracted),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    assert _ids(extracted) == _ids(ROOT / "portal/locale/messages.pot"), "run pybabel extract (babel.cfg)"


def test_german_translates_every_string() -> None:
    with (ROOT / "portal/locale/de/LC_MESSAGES/messages.po").open("rb") as po:
        catalog = read_po(po)
    untranslated = [message.id for message in catalog if message.id and not message.string]
    assert untranslated == []
    assert {message.id for message in catalog if message.id} == _ids(ROOT / "portal/locale/messages.pot")
