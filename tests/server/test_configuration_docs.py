"""docs/configuration.md lists every setting the server reads, and no other."""

from __future__ import annotations

import re
from pathlib import Path

from megarouter.config import Settings

DOCS = Path(__file__).parents[2] / "docs" / "configuration.md"
ROW = re.compile(r"^\| `(?P<name>[a-z_]+)` \| `(?P<env>MEGAROUTER_[A-Z_]+)` \|", re.M)


def documented() -> dict[str, str]:
    """Each setting in the docs' table, with its environment variable."""
    return {m["name"]: m["env"] for m in ROW.finditer(DOCS.read_text())}


def test_every_setting_is_in_the_table_with_its_environment_variable() -> None:
    expected = {name: f"MEGAROUTER_{name.upper()}" for name in Settings.model_fields}

    assert documented() == expected
