"""The floor: a bare grpc.aio server answering CompletionService.Complete.

No interceptor, no auth, no routing, no upstream call and no metering: the
servicer returns a response prepared once, shaped like MegaRouter's. What
the load generator measures against it is the cost of gRPC itself (HTTP/2,
protobuf and the grpc.aio event loop on both sides).

Run: ``python -m bench.echo PORT`` (from ``scripts/``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Any

from grpc import aio

from megarouter.v1 import chat_pb2 as chat
from megarouter.v1 import completion_service_pb2 as api
from megarouter.v1 import completion_service_pb2_grpc as api_grpc

ANSWER = api.CompleteResponse(
    message=chat.ChatMessage(
        role=chat.CHAT_ROLE_ASSISTANT, content=[chat.ContentPart(text="Hello there.")]
    ),
    finish_reason=chat.FINISH_REASON_STOP,
    usage=chat.Usage(input_tokens=12, output_tokens=3, cost_micros=4),
    model="bench-upstream/bench-model",
    provider="bench-upstream",
    request_id="0123456789abcdef0123456789abcdef",
)


class EchoServicer(api_grpc.CompletionServiceServicer):
    async def Complete(
        self, request: api.CompleteRequest, context: Any
    ) -> api.CompleteResponse:
        return ANSWER


async def serve(port: int) -> None:
    server = aio.server()
    servicer = EchoServicer()  # type: ignore[abstract]  # only Complete is served
    api_grpc.add_CompletionServiceServicer_to_server(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(int(sys.argv[1])))
