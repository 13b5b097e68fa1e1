"""Budget alerts show on the Prometheus endpoint when one is configured."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

from megarouter.testing.fake_http import free_port
from megarouter.testing.server import running_server, server_settings


async def test_metrics_endpoint_serves_budget_counters(tmp_path: Path) -> None:
    port = free_port()
    settings = server_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        tmp_path,
        metrics_listen=f"127.0.0.1:{port}",
    )
    async with running_server(settings):
        url = f"http://127.0.0.1:{port}/metrics"
        body = await asyncio.to_thread(
            lambda: urllib.request.urlopen(url, timeout=10).read().decode()
        )
    assert "megarouter_budget_alerts_total" in body
    assert "megarouter_budget_refusals_total" in body
