"""The server as an operator runs it: first start, bad settings, shutdown."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from pathlib import Path

import grpc
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from megarouter.v1 import admin_service_pb2 as api
from tests.admin.support import Admin
from tests.server.support import server_process, wait_serving


async def test_first_start_prints_admin_key_once(tmp_path: Path) -> None:
    env = {"MEGAROUTER_DATA_DIR": str(tmp_path)}
    async with server_process(env) as server:
        key = (await server.read_until(r"^\s+(mr-\S+)\s*$")).group(1)
        await wait_serving(server.target)
        async with aio.insecure_channel(server.target) as channel:
            caller = await Admin(channel, key).GetCaller(api.GetCallerRequest())
        assert caller.principal.name == "orgs/default/principals/admin"
        assert {b.role for b in caller.role_bindings} == {"platform_admin", "org_admin"}

    async with server_process(env) as again:
        await wait_serving(again.target)
        again.process.terminate()
        output = await again.drain_output()
    assert "Admin API key" not in output
    assert key not in output


async def test_bootstrap_key_from_environment_is_used_and_not_printed(
    tmp_path: Path,
) -> None:
    key = "mr-from-env-0123456789abcdefghij"
    env = {"MEGAROUTER_DATA_DIR": str(tmp_path), "MEGAROUTER_BOOTSTRAP_KEY": key}
    async with server_process(env) as server:
        await wait_serving(server.target)
        async with aio.insecure_channel(server.target) as channel:
            code = await Admin(channel, key).code_of(
                "GetCaller", api.GetCallerRequest()
            )
        server.process.terminate()
        output = await server.drain_output()
    assert code == grpc.StatusCode.OK
    assert key not in output


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str]:
    import os

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "megarouter",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_bad_setting_stops_start_with_its_name(tmp_path: Path) -> None:
    code, output = await run_cli(
        "serve",
        env={"MEGAROUTER_DATA_DIR": str(tmp_path), "MEGAROUTER_LISTEN": "nowhere"},
    )
    assert code == 2
    assert "MEGAROUTER_LISTEN" in output and "HOST:PORT" in output

    config = tmp_path / "megarouter.toml"
    config.write_text('grace_period = -3\ncolour = "blue"\n')
    code, output = await run_cli(
        "serve", "--config", str(config), env={"MEGAROUTER_DATA_DIR": str(tmp_path)}
    )
    assert code == 2
    assert "MEGAROUTER_GRACE_PERIOD" in output and "colour" in output


async def test_sigterm_lets_in_flight_call_finish(tmp_path: Path) -> None:
    key = "mr-shutdown-test-key-0123456789"
    env = {
        "MEGAROUTER_DATA_DIR": str(tmp_path),
        "MEGAROUTER_BOOTSTRAP_KEY": key,
        "MEGAROUTER_GRACE_PERIOD": "20",
    }
    async with server_process(env) as server:
        await wait_serving(server.target)
        async with aio.insecure_channel(server.target) as channel:
            admin = Admin(channel, key)
            await admin.GetCaller(api.GetCallerRequest())  # key now cached

            # Hold the database's write lock so the next write stays in flight.
            lock = sqlite3.connect(tmp_path / "megarouter.db", timeout=30)
            lock.execute("BEGIN IMMEDIATE")
            in_flight = asyncio.create_task(
                admin.CreateTeam(
                    api.CreateTeamRequest(parent="orgs/default", team_id="late")
                )
            )
            watch = health_pb2_grpc.HealthStub(channel).Watch(
                health_pb2.HealthCheckRequest()
            )
            assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
            await asyncio.sleep(0.5)  # let the call reach the database
            assert not in_flight.done()

            server.process.send_signal(signal.SIGTERM)
            assert (
                await watch.read()
            ).status == health_pb2.HealthCheckResponse.NOT_SERVING
            lock.rollback()
            lock.close()

            response = await asyncio.wait_for(in_flight, 30)
            assert response.team.name == "orgs/default/teams/late"
        assert await asyncio.wait_for(server.process.wait(), 30) == 0
