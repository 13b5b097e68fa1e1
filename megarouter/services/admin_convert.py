"""Tenancy rows to AdminService messages, and request fields to values."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import timestamp_pb2

from megarouter.auth.roles import ROLES
from megarouter.errors import InvalidArgument
from megarouter.store.tables import (
    ApiKeyRow,
    OrgRow,
    PrincipalRow,
    RoleBindingRow,
    TeamRow,
    as_utc,
)
from megarouter.tenancy import names
from megarouter.tenancy.base import etag_of
from megarouter.tenancy.credentials import key_state
from megarouter.v1 import resources_pb2 as pb

KIND_TO_PB = {
    "user": pb.PRINCIPAL_KIND_USER,
    "service_account": pb.PRINCIPAL_KIND_SERVICE_ACCOUNT,
}
KIND_FROM_PB = {value: key for key, value in KIND_TO_PB.items()}
STATE_TO_PB = {
    "active": pb.API_KEY_STATE_ACTIVE,
    "revoked": pb.API_KEY_STATE_REVOKED,
    "expired": pb.API_KEY_STATE_EXPIRED,
}


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(as_utc(value))
    return stamp


def read_timestamp(
    message: timestamp_pb2.Timestamp, present: bool, field: str
) -> datetime | None:
    """A request's timestamp as an aware datetime, or None when unset."""
    if not present:
        return None
    try:
        return message.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument.for_field(field, "is not a valid timestamp") from None


def org(row: OrgRow) -> pb.Org:
    return pb.Org(
        name=names.org_name(row.id),
        display_name=row.display_name,
        time_zone=row.time_zone,
        create_time=timestamp(row.create_time),
        update_time=timestamp(row.update_time),
        etag=etag_of(row.version),
    )


def team(row: TeamRow) -> pb.Team:
    return pb.Team(
        name=names.team_name(row.org_id, row.id),
        display_name=row.display_name,
        description=row.description,
        create_time=timestamp(row.create_time),
        update_time=timestamp(row.update_time),
        etag=etag_of(row.version),
    )


def principal(row: PrincipalRow) -> pb.Principal:
    return pb.Principal(
        name=names.principal_name(row.org_id, row.id),
        kind=KIND_TO_PB.get(row.kind, pb.PRINCIPAL_KIND_UNSPECIFIED),
        display_name=row.display_name,
        email=row.email,
        team=names.team_name(row.org_id, row.team_id) if row.team_id else "",
        disabled=row.disabled,
        create_time=timestamp(row.create_time),
        update_time=timestamp(row.update_time),
        etag=etag_of(row.version),
    )


def api_key(row: ApiKeyRow) -> pb.ApiKey:
    message = pb.ApiKey(
        name=names.key_name(row.org_id, row.principal_id, row.id),
        display_name=row.display_name,
        prefix=row.prefix,
        state=STATE_TO_PB[key_state(row)],
        create_time=timestamp(row.create_time),
    )
    if row.expire_time is not None:
        message.expire_time.CopyFrom(timestamp(row.expire_time))
    if row.revoke_time is not None:
        message.revoke_time.CopyFrom(timestamp(row.revoke_time))
    return message


def role_binding(row: RoleBindingRow) -> pb.RoleBinding:
    return pb.RoleBinding(
        name=names.binding_name(row.org_id, row.id),
        principal=names.principal_name(row.org_id, row.principal_id),
        role=row.role,
        team=names.team_name(row.org_id, row.team_id) if row.team_id else "",
        create_time=timestamp(row.create_time),
    )


def roles() -> list[pb.Role]:
    return [
        pb.Role(
            name=role.name,
            description=role.description,
            permissions=sorted(f"{obj}:{act}" for obj, act in role.permissions),
        )
        for role in ROLES.values()
    ]
