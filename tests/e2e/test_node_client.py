"""A Node.js gRPC client (clients/node) talks to a real MegaRouter server.

The polyglot proof: a client written with @grpc/grpc-js and
@grpc/proto-loader, loading our .proto files as they are, sees the health
check, lists orgs and teams with a valid key and gets UNAUTHENTICATED with a
bad one. Node.js must be installed; its packages come from the committed
package-lock.json, installed by ``npm ci`` when they are missing.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from megarouter.testing.server import BOOTSTRAP_ORG, RunningServer
from megarouter.v1 import admin_service_pb2, resources_pb2
from megarouter.v1.admin_service_pb2_grpc import AdminServiceStub

CLIENT_DIR = Path(__file__).resolve().parents[2] / "clients" / "node"
UNAUTHENTICATED = 16
NODE_TIMEOUT_S = 60.0
NPM_CI_TIMEOUT_S = 100.0  # under the suite's 120 s per-test timeout
# Shaped like a real key (mr- and 43 URL-safe characters) but never issued.
WRONG_KEY = "mr-" + "x" * 43

pytestmark = pytest.mark.slow


@dataclass(frozen=True, slots=True)
class NodeRun:
    returncode: int
    stdout: str
    stderr: str

    def summary(self) -> dict[str, Any]:
        """The JSON summary the script printed on stdout."""
        parsed: dict[str, Any] = json.loads(self.stdout)
        return parsed


async def run_in_client_dir(*argv: str, env: dict[str, str]) -> NodeRun:
    """Runs a command in clients/node without blocking the server's loop."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=CLIENT_DIR,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await process.communicate()
    finally:
        if process.returncode is None:  # cancelled, e.g. by asyncio.timeout
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return NodeRun(process.returncode, stdout.decode(), stderr.decode())


async def ensure_node_packages() -> None:
    """Installs the locked npm packages when a fresh clone has none."""
    assert shutil.which("node"), "Node.js (node) is needed for the polyglot proof"
    packages = CLIENT_DIR / "node_modules" / "@grpc"
    if all((packages / name).is_dir() for name in ("grpc-js", "proto-loader")):
        return
    npm = shutil.which("npm")
    assert npm, "npm is needed to install clients/node's packages"
    async with asyncio.timeout(NPM_CI_TIMEOUT_S):
        installed = await run_in_client_dir(
            npm, "ci", "--no-audit", "--no-fund", env=dict(os.environ)
        )
    assert installed.returncode == 0, installed.stderr


async def run_node_check(env: dict[str, str]) -> NodeRun:
    """Runs check.mjs with exactly the given environment."""
    await ensure_node_packages()
    async with asyncio.timeout(NODE_TIMEOUT_S):
        return await run_in_client_dir("node", "check.mjs", env=env)


def environment(**megarouter: str) -> dict[str, str]:
    """This process's environment with only the given MEGAROUTER_ variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEGAROUTER_")}
    env.update(megarouter)
    return env


async def create_team(server: RunningServer, team_id: str) -> str:
    """Creates a team in the bootstrap org from Python; returns its name."""
    async with server.channel() as channel:
        response = await AdminServiceStub(channel).CreateTeam(
            admin_service_pb2.CreateTeamRequest(
                parent=f"orgs/{BOOTSTRAP_ORG}",
                team=resources_pb2.Team(display_name="Platform"),
                team_id=team_id,
            ),
            metadata=(("authorization", f"Bearer {server.admin_key}"),),
        )
    return response.team.name


async def test_node_client_passes_every_check_with_admin_key(
    sqlite_server: RunningServer,
) -> None:
    team = await create_team(sqlite_server, "platform")

    run = await run_node_check(
        environment(
            MEGAROUTER_TARGET=sqlite_server.target,
            MEGAROUTER_API_KEY=sqlite_server.admin_key,
        )
    )

    assert run.returncode == 0, run.stderr
    summary = run.summary()
    assert summary["ok"] is True
    assert summary["failures"] == []
    assert summary["health"] == "SERVING"
    assert f"orgs/{BOOTSTRAP_ORG}" in summary["orgs"]
    assert summary["caller_org"] == f"orgs/{BOOTSTRAP_ORG}"
    assert summary["teams"] == [team]
    assert summary["bad_key"] == {"code": UNAUTHENTICATED, "status": "UNAUTHENTICATED"}


async def test_node_client_fails_when_valid_key_is_rejected(
    sqlite_server: RunningServer,
) -> None:
    run = await run_node_check(
        environment(
            MEGAROUTER_TARGET=sqlite_server.target, MEGAROUTER_API_KEY=WRONG_KEY
        )
    )

    assert run.returncode == 1
    summary = run.summary()
    assert summary["ok"] is False
    assert summary["orgs"] == []
    assert any("ListOrgs with the valid key" in f for f in summary["failures"])
    assert "ListOrgs with the valid key failed with UNAUTHENTICATED (16)" in run.stderr
    assert summary["health"] == "SERVING"


async def test_node_client_exits_with_usage_error_without_key(
    sqlite_server: RunningServer,
) -> None:
    run = await run_node_check(environment(MEGAROUTER_TARGET=sqlite_server.target))

    assert run.returncode == 2
    assert "MEGAROUTER_API_KEY" in run.stderr
