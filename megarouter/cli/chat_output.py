"""How ``megarouter route`` and ``megarouter complete`` show their answers.

A route decision is a table of candidates, best first, then the dropped
models counted by reason (or listed one by one). A completion is its text on
stdout and one summary line on stderr, so that the text alone can be piped.
Amounts are shown in US dollars, exactly; JSON keeps the API's micro-dollars.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from megarouter.cli import output
from megarouter.cli.admin_budgets import usd
from megarouter.v1 import chat_pb2 as chat
from megarouter.v1 import completion_service_pb2 as completion
from megarouter.v1 import route_service_pb2 as api


def drop_label(reason: int) -> str:
    """``above-cost-cap`` for DROP_REASON_ABOVE_COST_CAP."""
    name = api.DropReason.Name(reason)  # type: ignore[arg-type]
    return name.removeprefix("DROP_REASON_").lower().replace("_", "-")


def finish_label(reason: int) -> str:
    """``stop`` for FINISH_REASON_STOP; "unknown" when unset."""
    if reason == chat.FINISH_REASON_UNSPECIFIED:
        return "unknown"
    name = chat.FinishReason.Name(reason)  # type: ignore[arg-type]
    return name.removeprefix("FINISH_REASON_").lower().replace("_", "-")


def latency(ms: float) -> str:
    """``850 ms``, or "-" when health has no figure yet."""
    return f"{ms:,.0f} ms" if ms > 0 else "-"


# --- route --------------------------------------------------------------------


def show_route(decision: api.RouteResponse, model: str, *, all_dropped: bool) -> None:
    """Print the decision: how it was made, the candidates, what was dropped."""
    console = Console()
    summary = decision.summary
    chosen = decision.candidates[0].model if decision.candidates else ""

    if chosen:
        console.print(f"[bold]{escape(model)}[/] routes to [bold]{escape(chosen)}[/]")
    else:
        console.print(f"[bold]No model can serve {escape(model)}[/]: all were dropped.")
    facts = [
        f"task type {summary.task_type or '-'}",
        f"strategy {summary.strategy or '-'}",
        f"policy {decision.policy or '(default)'}",
        f"quality model {decision.quality_model or '-'}",
        f"{decision.input_tokens:,} prompt tokens",
    ]
    console.print(escape(" · ".join(facts)), highlight=False)
    if summary.reason:
        console.print(f"Why: {escape(summary.reason)}", highlight=False)

    if decision.candidates:
        console.print(candidate_table(decision.candidates))
    if decision.dropped:
        console.print(dropped_table(decision.dropped, every_model=all_dropped))
        if not all_dropped:
            console.print("--all-dropped lists each dropped model and why.")


def candidate_table(candidates: Sequence[api.RouteCandidate]) -> Table:
    """The candidates in the order Complete would try them."""
    table = Table(title="Candidates, best first")
    table.add_column("#", justify="right")
    table.add_column("Model", overflow="fold")
    table.add_column("Provider", overflow="fold")
    for header in ("Quality", "Est. cost", "Est. latency", "Score"):
        table.add_column(header, justify="right")
    for rank, candidate in enumerate(candidates, start=1):
        table.add_row(
            "*" if rank == 1 else str(rank),
            escape(candidate.model),
            escape(candidate.provider),
            f"{candidate.predicted_quality:.3f}",
            usd(candidate.estimated_cost_micros),
            latency(candidate.estimated_latency_ms),
            f"{candidate.score:.3f}",
        )
    return table


def dropped_table(dropped: Sequence[api.DroppedModel], *, every_model: bool) -> Table:
    """How many models each reason dropped, or each model with its detail."""
    if not every_model:
        counts = Counter(drop_label(d.reason) for d in dropped)
        table = Table(title=f"Dropped: {len(dropped)}")
        table.add_column("Reason")
        table.add_column("Models", justify="right")
        for reason, count in counts.most_common():
            table.add_row(reason, str(count))
        return table

    table = Table(title=f"Dropped: {len(dropped)}")
    for header in ("Reason", "Model", "Detail"):
        table.add_column(header, overflow="fold")
    for model in sorted(dropped, key=lambda d: (drop_label(d.reason), d.model)):
        table.add_row(
            drop_label(model.reason), escape(model.model), escape(model.detail or "-")
        )
    return table


# --- complete -----------------------------------------------------------------


def answer_text(message: chat.ChatMessage) -> str:
    """The text parts of an answer, then one line per tool call it asks for."""
    parts = [part.text for part in message.content if part.HasField("text")]
    calls = [f"tool call {c.name}({c.arguments})" for c in message.tool_calls]
    return "\n".join(filter(None, ["".join(parts), *calls]))


def summary_line(
    answer: completion.CompleteResponse | completion.StreamSummary,
) -> str:
    """One line: who answered, tokens, cost, attempts, why it was chosen."""
    usage = answer.usage
    failed = [
        f"{a.model}: {a.error_kind or 'failed'}" for a in answer.attempts if not a.ok
    ]
    tries = f"{len(answer.attempts)} attempt{'s' if len(answer.attempts) != 1 else ''}"
    if failed:
        tries += f" ({'; '.join(failed)})"
    parts = [
        f"{answer.model} via {answer.provider}",
        f"{usage.input_tokens:,} in / {usage.output_tokens:,} out tokens",
        usd(usage.cost_micros),
        tries,
        f"finish {finish_label(answer.finish_reason)}",
    ]
    if answer.request_id:
        parts.append(f"request {answer.request_id}")
    if answer.route.reason:
        parts.append(f"route: {answer.route.reason}")
    return " · ".join(parts)


def show_summary(line: str) -> None:
    """The summary line, on stderr so that stdout holds the answer alone."""
    typer.echo(line, err=True)


@dataclass(slots=True)
class StreamPrinter:
    """Prints a streamed answer as it arrives, and keeps its summary."""

    as_json: bool
    summary: completion.StreamSummary | None = None
    tool_calls: dict[int, list[str]] = field(default_factory=dict)
    _line_open: bool = False

    def show(self, event: completion.StreamCompleteResponse) -> None:
        """Print one streamed message: JSON, or the delta's text at once."""
        if event.HasField("summary"):
            self.summary = event.summary
        if self.as_json:
            typer.echo(json.dumps(output.as_dict(event)))
            return
        if event.HasField("delta"):
            if event.delta.content:
                typer.echo(event.delta.content, nl=False)  # flushes
                self._line_open = not event.delta.content.endswith("\n")
            for piece in event.delta.tool_calls:
                name, arguments = self.tool_calls.setdefault(piece.index, ["", ""])
                self.tool_calls[piece.index] = [
                    name + piece.name,
                    arguments + piece.arguments,
                ]

    def close(self) -> None:
        """End the answer's last line and print the tool calls it asked for."""
        if self._line_open:
            typer.echo("")
            self._line_open = False
        for index in sorted(self.tool_calls):
            name, arguments = self.tool_calls[index]
            typer.echo(f"tool call {name}({arguments})")
