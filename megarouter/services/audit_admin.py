"""AdminService's audit log call: protobuf in and out."""

from __future__ import annotations

from typing import Any, TypeAlias

from grpc import aio

from megarouter.auth.interceptor import current_caller
from megarouter.governance.audit import AuditLog
from megarouter.services.admin_convert import timestamp
from megarouter.store.audit_tables import AuditRow
from megarouter.tenancy import names
from megarouter.v1 import admin_service_pb2 as api
from megarouter.v1 import audit_pb2

# grpc-stubs makes this generic for mypy; grpcio does not at run time.
Context: TypeAlias = "aio.ServicerContext[Any, Any]"


def audit_event_message(row: AuditRow) -> audit_pb2.AuditEvent:
    return audit_pb2.AuditEvent(
        name=f"orgs/{row.org_id}/auditEvents/{row.id}",
        time=timestamp(row.time),
        actor=row.actor,
        actor_key=row.actor_key,
        action=row.action,
        resource=row.resource,
        before_json=row.before or "",
        after_json=row.after or "",
        request_id=row.request_id,
    )


class AuditAdminMixin:
    """The audit calls of AdminService; mixed into ``AdminServicer``,
    which sets ``self._audit_log``."""

    _audit_log: AuditLog

    async def ListAuditEvents(
        self, request: api.ListAuditEventsRequest, context: Context
    ) -> api.ListAuditEventsResponse:
        (org_id,) = names.parse(request.parent, "parent", "orgs")
        rows, token = await self._audit_log.list_page(
            current_caller(),
            org_id,
            request.page_size,
            request.page_token,
            request.filter,
        )
        return api.ListAuditEventsResponse(
            audit_events=[audit_event_message(r) for r in rows],
            next_page_token=token,
        )
