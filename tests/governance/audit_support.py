"""Calling AdminService with a request id per call, and reading the audit log."""

from __future__ import annotations

import itertools
import json
from typing import Any

from grpc import aio

from megarouter.v1 import admin_service_pb2 as api
from megarouter.v1 import admin_service_pb2_grpc as api_grpc
from megarouter.v1 import audit_pb2

_serial = itertools.count()


class Audited:
    """An AdminService stub that sends one key and a fresh x-request-id."""

    def __init__(self, channel: aio.Channel, key: str) -> None:
        self.stub = api_grpc.AdminServiceStub(channel)
        self.key = key

    def metadata(self, request_id: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.key}"), ("x-request-id", request_id))

    async def call(self, method: str, request: Any) -> tuple[Any, str]:
        """The response, and the request id the call was sent with."""
        request_id = f"req-{next(_serial)}-{method.lower()}"
        rpc = getattr(self.stub, method)
        response = await rpc(request, metadata=self.metadata(request_id), timeout=30)
        return response, request_id

    async def events(
        self, org: str, filter: str = "", page_size: int = 0
    ) -> list[audit_pb2.AuditEvent]:
        """Every entry of the org's log that the filter keeps, newest first."""
        found: list[audit_pb2.AuditEvent] = []
        token = ""
        while True:
            response, _ = await self.call(
                "ListAuditEvents",
                api.ListAuditEventsRequest(
                    parent=f"orgs/{org}",
                    filter=filter,
                    page_size=page_size,
                    page_token=token,
                ),
            )
            found.extend(response.audit_events)
            token = response.next_page_token
            if not token:
                return found

    async def only_event(self, org: str, request_id: str) -> audit_pb2.AuditEvent:
        events = await self.events(org, f'request_id = "{request_id}"')
        assert len(events) == 1, [e.action for e in events]
        return events[0]


def state(text: str) -> Any:
    """A recorded before or after, parsed; None when empty."""
    return json.loads(text) if text else None
