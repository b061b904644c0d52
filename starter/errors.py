"""What the doors refuse, and why; the HTTP API turns each into its status (404, 409, 422, 503)."""

from __future__ import annotations

from workflows.models import Stage


class ReturnNotFoundError(LookupError):
    def __init__(self, return_id: str):
        super().__init__(f"no return with id {return_id!r}")
        self.return_id = return_id


class ReturnConflictError(RuntimeError):
    """A return with this id exists, started from a different request."""

    def __init__(self, return_id: str):
        super().__init__(f"return {return_id} already exists with a different request")
        self.return_id = return_id


class ReturnStateError(RuntimeError):
    """The return exists, but its current stage refuses this event."""

    def __init__(self, return_id: str, stage: Stage, message: str):
        super().__init__(f"return {return_id} is {stage.value}: {message}")
        self.return_id = return_id
        self.stage = stage
        self.reason = message


class InvalidReturnInput(ValueError):
    """Well-formed input that does not fit: an unknown line or order, a bad query. Nothing was sent."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ReturnUnavailableError(RuntimeError):
    """Temporal, or a worker for this return, did not answer within TEMPORAL_RPC_TIMEOUT_SECONDS
    (e.g. a worker just died and another is replaying the return). Try again: a repeated
    event counts once, and an update that did get through is refused as a repeat."""

    def __init__(self, return_id: str):
        super().__init__(f"return {return_id} can't be reached right now; try again")
        self.return_id = return_id
