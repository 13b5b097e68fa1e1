"""Nothing a client can send makes AdminService answer INTERNAL or UNKNOWN.

Hypothesis builds requests for every method from the protobuf descriptors:
strings mixing real names, near-names and arbitrary text (NUL, astral
characters, very long), integers at their limits, unknown enum values,
timestamps out of range, and nested resources.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor as d
from google.protobuf import message as message_module
from google.protobuf import symbol_database
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from megarouter.testing.server import running_server, server_settings
from megarouter.v1 import admin_service_pb2 as api
from megarouter.v1 import admin_service_pb2_grpc as api_grpc

SERVICE = api.DESCRIPTOR.services_by_name["AdminService"]
NAMES = [
    "orgs/default",
    "orgs/default/teams/red",
    "orgs/default/principals/admin",
    "orgs/default/principals/-",
    "orgs/default/principals/admin/keys/k0",
    "orgs/default/roleBindings/b0",
    "orgs/other",
    "orgs//teams/",
    "orgs/Default",
    "orgs/default/teams/red/extra",
    "",
    "-",
    "*",
    "orgs/" + "a" * 70,
]
FIELD_PATHS = [
    "display_name",
    "description",
    "time_zone",
    "team",
    "disabled",
    "email",
    "etag",
    "name",
    "nope",
    "",
]

text = st.one_of(
    st.sampled_from(NAMES),
    st.text(max_size=80),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=0, max_size=3000),
    st.from_regex(r"[a-z][a-z0-9-]{0,70}", fullmatch=True),
    st.sampled_from(
        [
            'team = "orgs/default/teams/red"',
            "state = ACTIVE AND x = 1",
            'kind != "SERVICE_ACCOUNT"',
            "disabled = maybe",
            "\x00",
            "UTC",
            "Mars/Olympus",
            "mr-" + "x" * 43,
        ]
    ),
)


def message_strategy(
    descriptor: d.Descriptor, depth: int = 0
) -> st.SearchStrategy[Any]:
    cls = symbol_database.Default().GetSymbol(descriptor.full_name)
    if descriptor.full_name == "google.protobuf.Timestamp":
        return st.builds(
            cls,
            seconds=st.integers(-(2**62), 2**62),
            nanos=st.integers(-(2**31), 2**31 - 1),
        )
    if descriptor.full_name == "google.protobuf.FieldMask":
        return st.builds(cls, paths=st.lists(st.sampled_from(FIELD_PATHS), max_size=4))
    fields = {}
    for field in descriptor.fields:
        value = field_strategy(field, depth)
        if value is not None:
            fields[field.name] = value
    return st.fixed_dictionaries({}, optional=fields).map(lambda kw: build(cls, kw))


def build(cls: Any, values: dict[str, Any]) -> message_module.Message:
    message = cls()
    for name, value in values.items():
        field = getattr(message, name)
        if isinstance(value, list) and hasattr(field, "keys"):  # a map field
            for entry in value:
                field[entry.key] = entry.value
        elif isinstance(value, list):
            field.extend(value)
        elif isinstance(value, message_module.Message):
            field.CopyFrom(value)
        else:
            setattr(message, name, value)
    return message


def field_strategy(
    field: d.FieldDescriptor, depth: int
) -> st.SearchStrategy[Any] | None:
    if field.type == d.FieldDescriptor.TYPE_MESSAGE:
        if depth > 2:
            return None
        single: st.SearchStrategy[Any] = message_strategy(field.message_type, depth + 1)
    elif field.type == d.FieldDescriptor.TYPE_STRING:
        single = text
    elif field.type == d.FieldDescriptor.TYPE_BOOL:
        single = st.booleans()
    elif field.type == d.FieldDescriptor.TYPE_ENUM:
        single = st.integers(-5, 10)
    elif field.type in (d.FieldDescriptor.TYPE_INT32,):
        single = st.one_of(st.integers(-(2**31), 2**31 - 1), st.integers(-2, 1200))
    else:
        return None
    if field.is_repeated:
        return st.lists(single, max_size=3)
    return single


class ServerThread:
    """A real server on its own event loop in a thread, for sync clients."""

    def __init__(self, tmp: Path) -> None:
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.settings = server_settings(f"sqlite+aiosqlite:///{tmp / 'db.sqlite'}", tmp)
        self.target = ""
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(
            target=self.loop.run_until_complete, args=(self._main(),), daemon=True
        )

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with running_server(self.settings) as server:
            self.target = server.target
            self.ready.set()
            await self._stop.wait()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        assert self.ready.wait(60), "server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture(scope="module")
def admin_channel(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[grpc.Channel, str]]:
    with ServerThread(tmp_path_factory.mktemp("fuzz")) as server:
        key = server.settings.bootstrap_key
        assert key is not None
        with grpc.insecure_channel(server.target) as channel:
            yield channel, key.get_secret_value()


@pytest.mark.parametrize("method", [m.name for m in SERVICE.methods])
def test_generated_requests_never_yield_internal(
    admin_channel: tuple[grpc.Channel, str], method: str
) -> None:
    channel, key = admin_channel
    stub = api_grpc.AdminServiceStub(channel)
    descriptor = SERVICE.methods_by_name[method].input_type
    call = getattr(stub, method)

    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(message_strategy(descriptor))
    def check(request: message_module.Message) -> None:
        try:
            call(request, metadata=(("authorization", f"Bearer {key}"),), timeout=30)
        except grpc.RpcError as error:
            code = error.code()  # type: ignore[attr-defined]
            assert code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), (
                f"{method} answered {code}: {error.details()}"  # type: ignore[attr-defined]
            )

    check()
