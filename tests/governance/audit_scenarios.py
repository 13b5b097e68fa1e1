"""Role-matrix scenario for the audit log RPC.

``tests/admin/test_rbac_matrix.py`` runs it as every built-in role: only
org and platform administrators may read the audit log (``audit:list``).
"""

from __future__ import annotations

from typing import Any

from megarouter.v1 import admin_service_pb2 as api
from tests.admin.support import Admin


async def s_list_audit_events(admin: Admin) -> tuple[str, Any]:
    return "ListAuditEvents", api.ListAuditEventsRequest(parent="orgs/default")


AUDIT_MATRIX = {s_list_audit_events: {"platform_admin", "org_admin"}}
