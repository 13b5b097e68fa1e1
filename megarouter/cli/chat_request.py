"""What ``megarouter route`` and ``megarouter complete`` share.

Their options (the connection, the model and the routing hints), the
conversation built from the prompt, and the connection itself: one channel
that sends the key on every call, whose failures become one line on stderr
and exit status 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, TypeAlias

import typer

from megarouter.cli import output
from megarouter.cli.admin_budgets import usd_to_micros
from megarouter.cli.admin_session import API_KEY_ENV, MISSING_KEY, TARGET_ENV, fail
from megarouter.v1 import chat_pb2 as chat
from megarouter.v1 import completion_service_pb2 as completion
from megarouter.v1 import route_service_pb2 as route

if TYPE_CHECKING:
    import grpc

ChatRequest: TypeAlias = (
    route.RouteRequest | completion.CompleteRequest | completion.StreamCompleteRequest
)

STDIN = "-"

TargetOption = Annotated[
    str, typer.Option("--target", envvar=TARGET_ENV, help="HOST:PORT of MegaRouter.")
]
KeyOption = Annotated[
    str | None,
    typer.Option("--key", envvar=API_KEY_ENV, show_default=False, help="An API key."),
]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", help="Seconds the call may take.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
PromptArgument = Annotated[
    str, typer.Argument(help="The user's message; '-' reads it from stdin.")
]
ModelOption = Annotated[
    str,
    typer.Option("--model", help="auto, a model id, provider/model or an alias."),
]
SystemOption = Annotated[
    str | None, typer.Option("--system", help="A system message to send first.")
]
PolicyOption = Annotated[
    str | None, typer.Option("--policy", help="A named routing policy to apply.")
]
TaskTypeOption = Annotated[
    str | None,
    typer.Option("--task-type", help="Such as coding (default: classified)."),
]
MaxCostOption = Annotated[
    str | None,
    typer.Option("--max-cost", help="The most the call may cost, in US dollars."),
]
MinQualityOption = Annotated[
    float | None,
    typer.Option(
        "--min-quality", min=0.0, max=1.0, help="The lowest predicted quality, 0-1."
    ),
]
MaxLatencyOption = Annotated[
    int | None,
    typer.Option("--max-latency-ms", min=1, help="The highest expected latency."),
]
MaxTokensOption = Annotated[
    int | None,
    typer.Option("--max-tokens", min=1, help="The most tokens the answer may have."),
]
ScenarioOption = Annotated[
    str, typer.Option("--scenario", help="A business scenario tag, for analytics.")
]


@dataclass(frozen=True, slots=True)
class ChatOptions:
    """The request fields ``route`` and ``complete`` both take."""

    prompt: str
    model: str = "auto"
    system: str | None = None
    policy: str | None = None
    task_type: str | None = None
    max_cost: str | None = None
    min_quality: float | None = None
    max_latency_ms: int | None = None
    max_tokens: int | None = None
    scenario: str = ""

    def messages(self) -> list[chat.ChatMessage]:
        """The conversation: the system message, if any, then the prompt."""
        turns = [(chat.CHAT_ROLE_USER, read_prompt(self.prompt))]
        if self.system:
            turns.insert(0, (chat.CHAT_ROLE_SYSTEM, self.system))
        return [
            chat.ChatMessage(role=role, content=[chat.ContentPart(text=text)])
            for role, text in turns
        ]

    def routing(self) -> chat.RoutingHints:
        """The routing hints; dollars become exact micro-dollars."""
        hints = chat.RoutingHints(
            policy=self.policy or "", task_type=self.task_type or ""
        )
        if self.max_cost is not None:
            hints.max_cost_micros = usd_to_micros(self.max_cost, "--max-cost")
        if self.min_quality is not None:
            hints.min_quality = self.min_quality
        if self.max_latency_ms is not None:
            hints.max_latency_ms = self.max_latency_ms
        return hints

    def fill(self, request: ChatRequest) -> None:
        """Set the fields every chat request shares from these options."""
        request.model = self.model
        request.messages.extend(self.messages())
        request.routing.CopyFrom(self.routing())
        request.scenario = self.scenario
        if self.max_tokens is not None:
            request.max_tokens = self.max_tokens


def read_prompt(prompt: str) -> str:
    """The prompt, read from stdin for '-'; an empty one is a usage error."""
    if prompt == STDIN:
        prompt = typer.get_text_stream("stdin").read().rstrip("\n")
    if not prompt.strip():
        fail("the prompt is empty", 2)
    return prompt


@contextmanager
def connected(target: str, key: str | None, timeout: float) -> Iterator[grpc.Channel]:
    """A channel that sends ``key``; a failed call prints one line and exits 1."""
    if not key:
        fail(MISSING_KEY, 2)
    from megarouter import client_transport

    raw, channel = client_transport.open_channel(target, key, timeout, None, False)
    try:
        with client_transport.translated():
            yield channel
    except client_transport.MegaRouterRpcError as error:
        output.report_error(error, target)
        raise typer.Exit(1) from None
    finally:
        raw.close()
