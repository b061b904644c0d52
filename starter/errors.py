"""What the doors refuse, and why: one exception per reason, each mapped here to its exit code
(returnsctl, returns-start) and in api/errors.py to its HTTP status."""

from __future__ import annotations

import os
import sys
from enum import IntEnum
from typing import NoReturn

from pydantic import ValidationError

from workflows.vocabulary import Stage


class ReturnNotFoundError(LookupError):
    def __init__(self, return_id: str):
        super().__init__(f"no return with id {return_id!r}")
        self.return_id = return_id


class ReturnConflictError(RuntimeError):
    """A return with this id exists, started from a different request."""

    def __init__(self, return_id: str, message: str = "already exists with a different request"):
        super().__init__(f"return {return_id} {message}")
        self.return_id = return_id


class ReturnStateError(RuntimeError):
    """The return exists, but its current stage refuses this event."""

    def __init__(self, return_id: str, stage: Stage, message: str):
        super().__init__(f"return {return_id} is {stage.value}: {message}")
        self.return_id = return_id
        self.stage = stage
        self.reason = message


class InvalidReturnInput(ValueError):
    """Input that does not fit: an unknown line or order, a bad query, text a door refuses. Nothing was sent.

    `problems` lists each offending field with its message (`field` and `message` are the first).
    """

    def __init__(self, field: str, message: str, problems: list[tuple[str, str]] | None = None):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.problems = problems or [(field, message)]

    @classmethod
    def from_validation(cls, error: ValidationError) -> InvalidReturnInput:
        problems = [(".".join(map(str, problem["loc"])) or "body", problem["msg"]) for problem in error.errors()]
        return cls(*problems[0], problems=problems)


class ReturnUnavailableError(RuntimeError):
    """Temporal, or a worker for this return, did not answer within TEMPORAL_RPC_TIMEOUT_SECONDS
    (e.g. a worker just died and another is replaying the return). Try again: a repeated
    event counts once, and an update that did get through is refused as a repeat."""

    def __init__(self, return_id: str):
        super().__init__(f"return {return_id} can't be reached right now; try again")
        self.return_id = return_id


class ExitCode(IntEnum):
    """How the command-line doors end (returnsctl, returns-start). Their meanings are written once, in
    EXIT_CODE_MEANINGS: `--help` prints them, and a test holds the README's table to them."""

    ok = 0
    partly_refused = 1
    invalid_input = 2
    not_found = 3
    refused = 4
    not_confirmed = 5
    unavailable = 6
    conflict = 7


EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.ok: "done",
    ExitCode.partly_refused: "some returns of a batch were refused (the others were done)",
    ExitCode.invalid_input: "invalid input: nothing was sent",
    ExitCode.not_found: "no return with that id",
    ExitCode.refused: "the return's state refused the action",
    ExitCode.not_confirmed: "the operator did not confirm a batch: nothing was done",
    ExitCode.unavailable: "a return or Temporal did not answer in time: try again",
    ExitCode.conflict: "another request already started a return under this id",
}


def exit_codes_help() -> str:
    """The exit codes as `--help` ends with them."""
    return "exit codes:\n" + "\n".join(f"  {code.value}  {meaning}" for code, meaning in EXIT_CODE_MEANINGS.items())


def exit_now(code: int) -> NoReturn:
    """Ends a command-line door with `code` once its output is flushed. Not `sys.exit`: the Temporal
    client's native threads can abort the interpreter's finalization (a core dump after the work is done)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def exit_code_for(error: BaseException) -> ExitCode | None:
    """The exit code of a door's refusal; None for an error that is not one (a bug: let it show)."""
    for kind, code in _EXIT_CODES:
        if isinstance(error, kind):
            return code
    return None


_EXIT_CODES: tuple[tuple[type[BaseException], ExitCode], ...] = (
    (ValidationError, ExitCode.invalid_input),
    (InvalidReturnInput, ExitCode.invalid_input),
    (ReturnNotFoundError, ExitCode.not_found),
    (ReturnStateError, ExitCode.refused),
    (ReturnUnavailableError, ExitCode.unavailable),
    (ReturnConflictError, ExitCode.conflict),
)
