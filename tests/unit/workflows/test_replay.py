"""Running returns must survive a deploy: today's ReturnWorkflow code replays the recorded
histories of every lifecycle branch (tests/workflows/histories/) without nondeterminism.

A failure here means a change alters the commands a running return already issued.
Wrap the change in `workflow.patched(...)` (README: "Changing workflow code safely");
re-record only for changes that cannot affect running returns.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from integrations.temporal_client import RETURNS_DATA_CONVERTER
from tests.integration.workflows.harness import HISTORY_GENERATION
from workflows.return_workflow import ReturnWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
# Branches the first recordings could not have: an unknown order declined, confirmed disposition work.
BRANCHES_ADDED_SINCE_THE_FIRST = ("does_not_know", "disposition_work")


def _branches_recorded(generation: str) -> set[str]:
    """The tests whose returns were recorded in one generation ("" the first, "-g2" the next...)."""
    names = set()
    for path in HISTORIES:
        stem = path.stem.rsplit("-", 1)[0]
        tag = re.search(r"-g\d+$", stem)
        if (tag.group() if tag else "") == generation:
            names.add(stem.removesuffix(generation))
    return names


@pytest.mark.parametrize("generation", ["", f"-g{HISTORY_GENERATION}"])
def test_histories_cover_every_exit_of_the_lifecycle(generation: str) -> None:
    """The first recordings, and those of today's code (tests/workflows/harness.py: HISTORY_GENERATION)."""
    names = _branches_recorded(generation)
    for branch in (
        "happy_path",
        "declined",
        "review",
        "expires",
        "cancel",
        "lost_parcel",
        "partial_receipts",
        "store_credit",
        "exchange",
        "keep_it",
        "in_store",
        "bounced",
        "instant_refund",
        "refund",
        "keeps_failing",
        *(BRANCHES_ADDED_SINCE_THE_FIRST if generation else ()),
    ):
        assert any(branch in name for name in names), f"no recorded history for {branch}"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_current_code_replays_recorded_history(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, await asyncio.to_thread(path.read_text))
    replayer = Replayer(workflows=[ReturnWorkflow], data_converter=RETURNS_DATA_CONVERTER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: patch this change ({result.replay_failure})"
