"""Sampling worker processes with py-spy, and saying whose code the samples are in.

py-spy samples only the thread holding the GIL (`--gil`): a worker's Python CPU time,
without the threads that wait. It writes collapsed stacks ("frame;frame;... count",
frames like `fn (temporalio/worker/_workflow.py:120)`). Each sample gets one owner:
the workflow sandbox re-importing the workflow module for a new run; else, looking from
the leaf up, logging, our code (with whatever library it called), the benchmark's
stand-ins, the pydantic converter, Temporal's sandbox, or the rest of the Temporal SDK;
else the event loop, threads and stdlib.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

OURS = ("workflows", "activities", "integrations", "starter", "workers")
_ENTRY_POINT = "bench/worker.py"  # every sample is under it: it owns nothing
_IMPORT_PER_RUN = "_Instance._create_instance (temporalio/worker/workflow_sandbox/_runner.py"
_LOGGING = ("logging", "structlog")
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^:()]+):\d+\)$")
_TOP = 12


def owner(stack: Sequence[str]) -> str:
    if any(frame.startswith(_IMPORT_PER_RUN) for frame in stack):
        return "sandbox: module import per run"
    if _package(stack[-1]) in _LOGGING:
        return "logging"
    for frame in reversed(stack):  # the leaf first
        file = _file(frame)
        if _package(frame) in OURS:
            return "our code"
        if file.startswith("bench/") and file != _ENTRY_POINT:
            return "benchmark stand-ins"
        if file.startswith("temporalio/contrib/pydantic"):
            return "pydantic converter"
        if file.startswith("temporalio/worker/workflow_sandbox"):
            return "Temporal sandbox"
        if file.startswith("temporalio/"):
            return "Temporal SDK"
    return "event loop, threads, stdlib"


def summarize(collapsed: str) -> dict[str, Any]:
    """Shares of samples by owner and by the leaf's package; the hottest leaves and the
    hottest of our functions (inclusive of what they call)."""
    owners: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text:
            continue
        stack, count = stack_text.split(";"), int(count_text)
        owners[owner(stack)] += count
        packages[_package(stack[-1])] += count
        leaves[stack[-1]] += count
        for frame in dict.fromkeys(f for f in stack if _package(f) in OURS):
            ours[frame] += count
    total = sum(owners.values()) or 1

    def shares(counter: Counter[str], top: int | None = None) -> dict[str, float]:
        return {key: round(100 * n / total, 1) for key, n in counter.most_common(top)}

    return {
        "samples": sum(owners.values()),
        "by_owner_pct": shares(owners),
        "by_leaf_package_pct": shares(packages, _TOP),
        "top_leaves_pct": shares(leaves, _TOP),
        "top_our_functions_inclusive_pct": shares(ours, _TOP),
    }


@contextlib.asynccontextmanager
async def profiled(pids: Sequence[int], output: Path) -> AsyncIterator[dict[str, Any]]:
    """Samples `pids` with py-spy while the block runs; the yielded dict is filled with the
    summary of all their samples once the block ends."""
    summary: dict[str, Any] = {}
    py_spy = _py_spy()
    files = [output.with_name(f"{output.name}-{pid}.txt") for pid in pids]
    samplers = [
        await asyncio.create_subprocess_exec(
            *(
                py_spy,
                "record",
                "--pid",
                str(pid),
                "--format",
                "raw",
                "--gil",
                "--nonblocking",
                "--rate",
                "100",
                "-o",
                str(f),
            ),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for pid, f in zip(pids, files, strict=True)
    ]
    try:
        await asyncio.sleep(0.5)  # py-spy attaches
        yield summary
    finally:
        for sampler in samplers:
            sampler.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        async with asyncio.timeout(30):
            for sampler in samplers:
                await sampler.wait()
    summary.update(summarize("\n".join(f.read_text() for f in files if f.exists())))
    summary["files"] = [str(f) for f in files]


def _py_spy() -> str:
    """py-spy from this venv (the `bench` extra), else from PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise RuntimeError("--profile needs py-spy: pip install -e '.[bench]'")
    return found


def _file(frame: str) -> str:
    match = _FRAME.match(frame)
    return match["file"] if match else ""


def _package(frame: str) -> str:
    return _file(frame).split("/", 1)[0]
