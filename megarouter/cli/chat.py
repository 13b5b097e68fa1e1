"""``megarouter route``, ``complete`` and ``models available``: the caller's side.

Where ``megarouter admin`` runs the organisation, these ask what any key
holder may ask: which models would serve a prompt and why (RouteService.
Route), an answer (CompletionService.Complete, or StreamComplete with
``--stream``), and which models the key may use (ListAvailableModels). Each
talks to a running server with the key from ``--key`` or
``MEGAROUTER_API_KEY``; a failed call prints one line on stderr and exits 1,
a usage error exits 2.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from megarouter.cli import chat_output, output
from megarouter.cli.admin_budgets import usd
from megarouter.cli.admin_session import DEFAULT_TARGET, fail
from megarouter.cli.calls import follow_pages
from megarouter.cli.chat_request import (
    ChatOptions,
    JsonOption,
    KeyOption,
    MaxCostOption,
    MaxLatencyOption,
    MaxTokensOption,
    MinQualityOption,
    ModelOption,
    PolicyOption,
    PromptArgument,
    ScenarioOption,
    SystemOption,
    TargetOption,
    TaskTypeOption,
    TimeoutOption,
    connected,
)
from megarouter.v1 import completion_service_pb2 as completion
from megarouter.v1 import route_service_pb2 as api

# The stubs import grpc, which `megarouter --help` should not wait for.
if TYPE_CHECKING:
    import grpc

    from megarouter.v1 import completion_service_pb2_grpc as completion_grpc
    from megarouter.v1 import route_service_pb2_grpc as api_grpc

ROUTE_TIMEOUT = 30.0
COMPLETE_TIMEOUT = 120.0  # an answer takes longer than a decision

StreamOption = Annotated[
    bool, typer.Option("--stream", help="Print the answer as it arrives.")
]
TemperatureOption = Annotated[
    float | None,
    typer.Option("--temperature", min=0.0, max=2.0, help="Sampling temperature, 0-2."),
]
RequestIdOption = Annotated[
    str,
    typer.Option(
        "--client-request-id",
        help="An idempotency key: a retry with it returns the first answer.",
    ),
]
AllDroppedOption = Annotated[
    bool, typer.Option("--all-dropped", help="List every dropped model and why.")
]


class Mode(enum.StrEnum):
    """The modes ListAvailableModels filters on."""

    CHAT = "chat"
    EMBEDDING = "embedding"


def route_stub(channel: grpc.Channel) -> api_grpc.RouteServiceStub:
    from megarouter.v1 import route_service_pb2_grpc as api_grpc

    return api_grpc.RouteServiceStub(channel)


def completion_stub(channel: grpc.Channel) -> completion_grpc.CompletionServiceStub:
    from megarouter.v1 import completion_service_pb2_grpc as completion_grpc

    return completion_grpc.CompletionServiceStub(channel)


# --- route --------------------------------------------------------------------


def route(
    prompt: PromptArgument,
    model: ModelOption = "auto",
    system: SystemOption = None,
    policy: PolicyOption = None,
    task_type: TaskTypeOption = None,
    max_cost: MaxCostOption = None,
    min_quality: MinQualityOption = None,
    max_latency_ms: MaxLatencyOption = None,
    max_tokens: MaxTokensOption = None,
    scenario: ScenarioOption = "",
    stream: Annotated[
        bool, typer.Option("--stream", help="Only models that can stream.")
    ] = False,
    all_dropped: AllDroppedOption = False,
    as_json: JsonOption = False,
    target: TargetOption = DEFAULT_TARGET,
    key: KeyOption = None,
    timeout: TimeoutOption = ROUTE_TIMEOUT,
) -> None:
    """Show which models would serve PROMPT, best first, and why others would not.

    Nothing is called and nothing is billed; `megarouter complete` with the
    same options would try the candidates in the order shown.
    """
    options = ChatOptions(
        prompt=prompt,
        model=model,
        system=system,
        policy=policy,
        task_type=task_type,
        max_cost=max_cost,
        min_quality=min_quality,
        max_latency_ms=max_latency_ms,
        max_tokens=max_tokens,
        scenario=scenario,
    )
    request = api.RouteRequest(stream=stream)
    options.fill(request)

    with connected(target, key, timeout) as channel:
        decision = route_stub(channel).Route(request)

    if as_json:
        output.print_json(output.as_dict(decision))
    else:
        chat_output.show_route(decision, model, all_dropped=all_dropped)


# --- complete -----------------------------------------------------------------


def complete(
    prompt: PromptArgument,
    model: ModelOption = "auto",
    system: SystemOption = None,
    policy: PolicyOption = None,
    task_type: TaskTypeOption = None,
    max_cost: MaxCostOption = None,
    min_quality: MinQualityOption = None,
    max_latency_ms: MaxLatencyOption = None,
    max_tokens: MaxTokensOption = None,
    scenario: ScenarioOption = "",
    temperature: TemperatureOption = None,
    client_request_id: RequestIdOption = "",
    stream: StreamOption = False,
    as_json: JsonOption = False,
    target: TargetOption = DEFAULT_TARGET,
    key: KeyOption = None,
    timeout: TimeoutOption = COMPLETE_TIMEOUT,
) -> None:
    """Answer PROMPT through the model MegaRouter picks, or the one named.

    The answer goes to stdout; one summary line (model, tokens, cost,
    attempts, why the model was chosen) goes to stderr. With --stream and
    --json, each streamed message is printed as one JSON line.
    """
    options = ChatOptions(
        prompt=prompt,
        model=model,
        system=system,
        policy=policy,
        task_type=task_type,
        max_cost=max_cost,
        min_quality=min_quality,
        max_latency_ms=max_latency_ms,
        max_tokens=max_tokens,
        scenario=scenario,
    )
    request_type = (
        completion.StreamCompleteRequest if stream else completion.CompleteRequest
    )
    request = request_type(client_request_id=client_request_id)
    options.fill(request)
    if temperature is not None:
        request.temperature = temperature

    with connected(target, key, timeout) as channel:
        stub = completion_stub(channel)
        if isinstance(request, completion.StreamCompleteRequest):
            print_stream(stub.StreamComplete(request), as_json=as_json)
        else:
            print_answer(stub.Complete(request), as_json=as_json)


def print_answer(answer: completion.CompleteResponse, *, as_json: bool) -> None:
    """The answer's text, then its summary line."""
    if as_json:
        output.print_json(output.as_dict(answer))
        return
    typer.echo(chat_output.answer_text(answer.message))
    chat_output.show_summary(chat_output.summary_line(answer))


def print_stream(
    events: Iterable[completion.StreamCompleteResponse], *, as_json: bool
) -> None:
    """Each delta as it arrives, then the summary line (or JSON lines)."""
    stream = chat_output.StreamPrinter(as_json=as_json)
    try:
        for event in events:
            stream.show(event)
    finally:
        stream.close()
    if stream.summary is None:
        fail("the stream ended without its summary; the answer may be cut short")
    if not as_json:
        chat_output.show_summary(chat_output.summary_line(stream.summary))


# --- models available ---------------------------------------------------------

AVAILABLE_COLUMNS: list[output.Column] = [
    ("Model", lambda m: m.model),
    ("Mode", lambda m: m.mode),
    ("Context", lambda m: f"{m.context_window:,}" if m.context_window else "-"),
    ("Input $/1M", lambda m: usd(m.input_price_per_mtok_micros)),
    ("Output $/1M", lambda m: usd(m.output_price_per_mtok_micros)),
    ("Capabilities", lambda m: ", ".join(m.capabilities) or "-"),
]


def available_models(
    mode: Annotated[
        Mode | None, typer.Option("--mode", help="Only chat or embedding models.")
    ] = None,
    page_size: Annotated[
        int,
        typer.Option("--page-size", min=0, help="Models per call; 0 for the server's."),
    ] = 0,
    as_json: JsonOption = False,
    target: TargetOption = DEFAULT_TARGET,
    key: KeyOption = None,
    timeout: TimeoutOption = ROUTE_TIMEOUT,
) -> None:
    """List the models your key may use on the server, with prices per 1M tokens.

    Unlike `megarouter models list`, which reads the plugins installed here,
    this asks a running MegaRouter what the key's roles, the org's settings
    and the configured credentials allow.
    """
    with connected(target, key, timeout) as channel:
        stub = route_stub(channel)

        def fetch(token: str) -> tuple[Sequence[api.AvailableModel], str]:
            page = stub.ListAvailableModels(
                api.ListAvailableModelsRequest(
                    mode=mode.value if mode else "",
                    page_size=page_size,
                    page_token=token,
                )
            )
            return page.models, page.next_page_token

        models = list(follow_pages(fetch))

    output.show_list(
        models,
        AVAILABLE_COLUMNS,
        key="models",
        title="Models available to this key",
        as_json=as_json,
    )
