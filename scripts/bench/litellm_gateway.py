"""Install LiteLLM into its own virtual environment and run its proxy.

The proxy runs as its users run it without a database: a config file lists
one model, an ``openai/`` model at the fake upstream's base URL. Without a
database it has no virtual keys: callers present the master key, which it
checks on every call. It still prices every call in memory.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.processes import ServerProcess, free_port
from bench.upstream import MODEL

VENV = Path("/tmp/litellm-venv")
REQUIREMENT = "litellm[proxy]"

CONFIG = """\
model_list:
  - model_name: {model}
    litellm_params:
      model: openai/{model}
      api_base: http://127.0.0.1:{port}/v1
      api_key: sk-bench-unused
litellm_settings:
  set_verbose: false
  turn_off_message_logging: true
general_settings:
  master_key: {master_key}
"""
MASTER_KEY = "sk-bench-" + "0123456789abcdef" * 2


def ensure_installed(venv: Path = VENV) -> str:
    """Create the venv and install LiteLLM unless already there; its version."""
    python = venv / "bin" / "python"
    if not (venv / "bin" / "litellm").exists():
        print(f"installing {REQUIREMENT} into {venv} (once) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", REQUIREMENT], check=True
        )
    return version(venv)


def version(venv: Path = VENV) -> str:
    out = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import importlib.metadata as m; print(m.version('litellm'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def start_litellm(
    directory: Path, upstream_port: int, workers: int = 2, venv: Path = VENV
) -> ServerProcess:
    """Start ``litellm --config`` with ``workers`` worker processes."""
    config = directory / "litellm.yaml"
    config.write_text(
        CONFIG.format(model=MODEL, port=upstream_port, master_key=MASTER_KEY)
    )
    port = free_port()
    env: dict[str, str | None] = {
        "PYTHONPATH": None,
        "PYTHONUNBUFFERED": "1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # never fetch the price map
        "LITELLM_LOG": "ERROR",
        "LITELLM_TELEMETRY": "False",
        "DATABASE_URL": None,
    }
    argv = [
        str(venv / "bin" / "litellm"),
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        str(workers),
        # uvicorn kills a worker that is not up within 5 s by default; on a
        # busy 2-core machine LiteLLM's import alone can take longer.
        "--timeout_worker_healthcheck",
        "180",
    ]
    server = ServerProcess(
        "litellm", argv, port, env=env, log=directory / "litellm.log"
    )
    server.wait_listening(timeout=180)
    return server
