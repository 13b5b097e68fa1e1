"""The error a call gets when routing leaves no model to try says what to do."""

from __future__ import annotations

from megarouter.completions.attempts import no_candidate_error
from megarouter.errors import FailedPrecondition, ResourceExhausted
from megarouter.routing.decision import DropGroup, DropReason, RouteDecision, Strategy


def decision(considered: int, *groups: tuple[DropReason, int]) -> RouteDecision:
    return RouteDecision(
        task_type="chat",
        strategy=Strategy.BALANCED,
        candidates=(),
        drop_groups=tuple(
            DropGroup(
                reason,
                lambda n=count: [f"p/m{i}" for i in range(n)],
                lambda n=count: ["why"] * n,
            )
            for reason, count in groups
        ),
        considered=considered,
        reason="no model fits",
    )


def test_no_configured_provider_points_to_credentials() -> None:
    error = no_candidate_error(decision(0))
    assert isinstance(error, FailedPrecondition)
    assert "0 considered" in str(error)
    assert "megarouter admin credentials set PROVIDER" in str(error)


def test_remedies_follow_the_reasons_most_models_were_dropped_for() -> None:
    error = no_candidate_error(
        decision(5, (DropReason.CIRCUIT_OPEN, 1), (DropReason.UNPRICED, 4))
    )
    text = str(error)
    assert "dropped: 1 circuit_open, 4 unpriced" in text
    assert text.index("set-price") < text.index("retry shortly")
    assert "credentials set" not in text


def test_budget_drops_are_resource_exhausted() -> None:
    error = no_candidate_error(decision(2, (DropReason.OVER_BUDGET, 2)))
    assert isinstance(error, ResourceExhausted)
