"""Run ``megarouter serve`` with the fake upstream registered as a provider.

The provider comes from a plugin written into a temporary directory: a
module with a ``register_providers`` hook and a ``.dist-info`` directory
declaring it in the ``megarouter`` entry-point group. Putting that directory
on the server's ``PYTHONPATH`` makes it an installed plugin for that process
only, found by ``importlib.metadata`` exactly as a pip-installed one is;
nothing is installed into the environment and nothing is left behind.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.processes import SCRIPTS, ServerProcess, free_port
from bench.upstream import MODEL

PROVIDER = "bench-upstream"
GLOBAL_MODEL = f"{PROVIDER}/{MODEL}"
PLUGIN_MODULE = "megarouter_bench_upstream"

PLUGIN_SOURCE = '''\
"""The benchmark's fake upstream as a MegaRouter provider."""

from megarouter.providers import AuthScheme, ModelSpec, Price, ProviderSpec, hookimpl


@hookimpl
def register_providers(register):
    register(
        ProviderSpec(
            name="{provider}",
            family="openai",
            display_name="Benchmark upstream",
            base_url="{base_url}",
            auth=AuthScheme.NONE,
            self_hosted=True,
            models=(
                ModelSpec(
                    id="{model}",
                    context_window=128_000,
                    max_output_tokens=4096,
                    price=Price(input_per_mtok=150_000, output_per_mtok=600_000),
                ),
            ),
        )
    )
'''


def write_plugin(directory: Path, upstream_port: int) -> Path:
    """Write the plugin module and its distribution metadata; return the dir."""
    plugin_dir = directory / "plugin"
    plugin_dir.mkdir(parents=True, exist_ok=True)
    (plugin_dir / f"{PLUGIN_MODULE}.py").write_text(
        PLUGIN_SOURCE.format(
            provider=PROVIDER,
            base_url=f"http://127.0.0.1:{upstream_port}/v1",
            model=MODEL,
        )
    )
    info = plugin_dir / f"{PLUGIN_MODULE}-0.0.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: megarouter-bench-upstream\nVersion: 0.0.0\n"
    )
    (info / "entry_points.txt").write_text(f"[megarouter]\nbench = {PLUGIN_MODULE}\n")
    return plugin_dir


def start_megarouter(
    directory: Path,
    upstream_port: int,
    log_level: str = "WARNING",
    command: Sequence[str] = (sys.executable, "-m", "megarouter", "serve"),
    extra_env: Mapping[str, str] | None = None,
    tree: Path | None = None,
) -> tuple[ServerProcess, str]:
    """Start the server on SQLite in ``directory``; returns it and its admin key.

    Every installed plugin loads as well (the first-party catalog), as in a
    real deployment; calls name the benchmark's model, so routing picks it.
    ``command`` may name another launcher of the same server (one that
    patches it for an experiment, say); ``extra_env`` is added to its
    environment. ``tree`` runs the code of another checkout instead of the
    installed one: its package and its first-party plugins go first on the
    server's ``PYTHONPATH`` (the installed plugins' entry points then load
    that checkout's modules).
    """
    plugin_dir = write_plugin(directory, upstream_port)
    port = free_port()
    key = "mr-bench-" + secrets.token_urlsafe(24)
    code = [] if tree is None else [tree, *sorted((tree / "plugins").glob("*"))]
    env: dict[str, str | None] = {
        "PYTHONPATH": os.pathsep.join([*map(str, code), str(plugin_dir), str(SCRIPTS)]),
        "MEGAROUTER_LISTEN": f"127.0.0.1:{port}",
        "MEGAROUTER_DATA_DIR": str(directory / "data"),
        "MEGAROUTER_BOOTSTRAP_KEY": key,
        "MEGAROUTER_LOG_LEVEL": log_level,
        **(extra_env or {}),
    }
    if tree is not None:
        _check_runs_from(tree, command, env, directory)
    server = ServerProcess(
        "megarouter",
        list(command),
        port,
        env=env,
        log=directory / "megarouter.log",
        # `python -m` puts the working directory first on sys.path: started
        # from a checkout, the server would import that checkout's code and
        # not ``tree``'s.
        cwd=directory,
    )
    server.wait_listening()
    return server, key


def _check_runs_from(
    tree: Path,
    command: Sequence[str],
    env: Mapping[str, str | None],
    directory: Path,
) -> None:
    """Fail unless a server started like this imports ``tree``'s megarouter."""
    merged = {**os.environ, **env}
    found = subprocess.run(
        [command[0], "-c", "import megarouter; print(megarouter.__file__)"],
        env={k: v for k, v in merged.items() if v is not None},
        cwd=directory,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(found).resolve().is_relative_to(tree.resolve()):
        raise RuntimeError(f"the baseline would run {found}, not the code in {tree}")
