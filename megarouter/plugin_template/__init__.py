"""Scaffold a provider plugin distribution (``megarouter plugins new``).

The files under ``files/`` are :class:`string.Template` texts (``$name``
placeholders, ``.tmpl`` suffix, paths with ``__package__`` standing for the
package directory). The result is a pip-installable distribution whose
tests subclass the conformance kit and pass as generated.
"""

from __future__ import annotations

import re
import string
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from megarouter import __version__

PLUGIN_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
TEMPLATE_SUFFIX = ".tmpl"
PACKAGE_DIR = "__package__"


def template_values(name: str) -> dict[str, str]:
    """The placeholder values for a plugin named ``name``.

    Raises:
        ValueError: ``name`` is not lowercase words joined by hyphens.
    """
    if not PLUGIN_NAME.fullmatch(name):
        raise ValueError(
            f"plugin name {name!r} must be lowercase letters and digits, "
            "words joined by '-', starting with a letter"
        )
    words = name.split("-")
    return {
        "name": name,
        "distribution": f"megarouter-{name}",
        "package": "megarouter_" + "_".join(words),
        "class_prefix": "".join(w.capitalize() for w in words),
        "env_var": "_".join(words).upper() + "_API_KEY",
        "megarouter_version": __version__,
    }


def scaffold_plugin(name: str, parent: Path) -> Path:
    """Write a new plugin distribution into ``parent/megarouter-<name>``.

    Args:
        name: the provider and family name, such as ``acme``.
        parent: the directory to create the distribution in.

    Returns:
        The distribution's root directory.

    Raises:
        ValueError: ``name`` is not a valid plugin name.
        FileExistsError: the target directory already exists.
    """
    values = template_values(name)
    root = parent / values["distribution"]
    if root.exists():
        raise FileExistsError(f"{root} already exists")

    for relative, template in _templates(resources.files(__name__) / "files", ""):
        target = root / relative.replace(PACKAGE_DIR, values["package"])
        target.parent.mkdir(parents=True, exist_ok=True)
        text = string.Template(template.read_text(encoding="utf-8"))
        target.write_text(text.substitute(values), encoding="utf-8")
    return root


def _templates(folder: Traversable, prefix: str) -> list[tuple[str, Traversable]]:
    """Every template below ``folder``, with its output path (suffix dropped)."""
    found: list[tuple[str, Traversable]] = []
    for item in folder.iterdir():
        relative = f"{prefix}{item.name}"
        if item.is_dir():
            found.extend(_templates(item, f"{relative}/"))
        elif item.name.endswith(TEMPLATE_SUFFIX):
            found.append((relative.removesuffix(TEMPLATE_SUFFIX), item))
    return found
