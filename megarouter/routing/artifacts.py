"""Portable model files: a JSON manifest beside an ``.npz`` of arrays.

An artifact is a directory holding ``<name>.json`` (format version, what the
model was fitted on, its parameters, small values) and ``<name>.npz`` (the
numeric arrays). Both load without pickle, so an artifact from an untrusted
source can at worst be wrong, never run code.
"""

from __future__ import annotations

import io
import json
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from megarouter.errors import ConfigurationError

Arrays = dict[str, NDArray[Any]]


def save_artifact(
    directory: Path, name: str, manifest: dict[str, Any], arrays: Arrays
) -> None:
    """Write ``name.json`` and ``name.npz`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    (directory / f"{name}.json").write_text(text, encoding="utf-8")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    (directory / f"{name}.npz").write_bytes(buffer.getvalue())


def load_artifact(
    directory: Path | Traversable, name: str, kind: str, version: int
) -> tuple[dict[str, Any], Arrays]:
    """Read an artifact, checking its kind and format version.

    Raises:
        ConfigurationError: the files are missing, unreadable, or of another
            kind or version.
    """
    try:
        manifest = json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))
        raw = (directory / f"{name}.npz").read_bytes()
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"cannot read artifact {name} in {directory}: {exc}"
        ) from exc
    if manifest.get("kind") != kind or manifest.get("format") != version:
        raise ConfigurationError(
            f"artifact {name} in {directory} is {manifest.get('kind')!r} "
            f"format {manifest.get('format')!r}, expected {kind!r} format {version}"
        )
    return manifest, arrays
