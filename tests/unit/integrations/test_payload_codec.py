"""Workflow payloads encrypted with PAYLOAD_KEYS: the codec itself, key rotation, and a return run through
it on the time-skipping server: its history on the server holds no address, email or phone in clear, and
that recorded (encrypted) history replays against today's code through the codec, and only with the key."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities import defined_activities
from devstack.checkout import SHOPPER, demo_order, demo_request
from integrations.payload_codec import (
    ENCODING,
    KEY_ID_METADATA,
    EncryptionCodec,
    PayloadKeyError,
    PayloadKeys,
    new_key,
)
from integrations.settings import Settings
from integrations.temporal_client import RETURNS_DATA_CONVERTER, data_converter
from starter.client import ReturnsClient
from tests.unit.workflows.fakes import FakeShopPlatform, FakeVendors
from tests.unit.workflows.test_return_workflow import POLICY, deliver_and_inspect, until
from workflows.contract import workflow_id_for
from workflows.return_workflow import ReturnWorkflow
from workflows.vocabulary import Grade, Stage

OLD = f"k2025:{new_key()}"
NEW = f"k2026:{new_key()}"
EMAIL = "ada.shopper@example.com"
PHONE = "+1 415 555 0134"


def _payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


def test_a_payload_goes_out_sealed_under_the_current_key_and_comes_back_whole() -> None:
    codec = EncryptionCodec(PayloadKeys.parse(f"{NEW},{OLD}"))
    (sealed,) = codec.encode_now([_payload('{"street1": "965 Mission St"}')])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID_METADATA] == b"k2026"
    assert b"Mission" not in sealed.SerializeToString()
    assert codec.decode_now([sealed]) == [_payload('{"street1": "965 Mission St"}')]


def test_after_rotation_old_payloads_still_open_and_new_ones_use_the_new_key() -> None:
    before = EncryptionCodec(PayloadKeys.parse(OLD))
    old_payload = before.encode_now([_payload('"before"')])[0]
    after = EncryptionCodec(PayloadKeys.parse(f"{NEW},{OLD}"))  # the new key first, the old kept
    assert after.decode_now([old_payload]) == [_payload('"before"')]
    assert after.encode_now([_payload('"after"')])[0].metadata[KEY_ID_METADATA] == b"k2026"
    with pytest.raises(PayloadKeyError, match="k2026"):  # a process not yet given the new key says which
        before.decode_now(after.encode_now([_payload('"after"')]))


def test_a_payload_moved_under_another_key_id_or_altered_does_not_open() -> None:
    codec = EncryptionCodec(PayloadKeys.parse(f"{NEW},{OLD}"))
    sealed = codec.encode_now([_payload('"x"')])[0]
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID_METADATA: b"k2025"}, data=sealed.data)
    altered = Payload(metadata=sealed.metadata, data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    for bad in (relabelled, altered):
        with pytest.raises(PayloadKeyError, match="does not open"):
            codec.decode_now([bad])


def test_payloads_written_before_encryption_pass_through() -> None:
    codec = EncryptionCodec(PayloadKeys.parse(NEW))
    assert codec.decode_now([_payload('"plain"')]) == [_payload('"plain"')]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "holds no key"),
        ("no-separator", "not `<key id>:<base64 key>`"),
        ("k1:not base64!", "not base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "has 5 bytes"),
        (f"{NEW},{NEW}", "twice"),
    ],
)
def test_unreadable_keys_are_refused_without_repeating_them(text: str, problem: str) -> None:
    with pytest.raises(PayloadKeyError, match=problem) as refused:
        PayloadKeys.parse(text)
    secret = text.partition(":")[2]
    assert not secret or secret not in str(refused.value)


# --- a return through the codec, on the time-skipping server ---------------------------------------


def _encrypted_settings(keys: str) -> Settings:
    return Settings(_env_file=None, task_queue=f"codec-{uuid.uuid4().hex[:8]}", payload_keys=SecretStr(keys))


def _client_with(env: WorkflowEnvironment, settings: Settings) -> Client:
    return Client(**{**env.client.config(), "data_converter": data_converter(settings)})


@pytest.fixture(scope="module")
async def encrypted_return(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[tuple[Client, str]]:
    """A return carried to its refund by a worker and a door that both encrypt (a shopper with email and phone)."""
    settings = _encrypted_settings(OLD)
    client = _client_with(time_skipping_env, settings)
    vendors = FakeVendors()
    return_id = f"R-codec-{uuid.uuid4().hex[:6]}"
    order = demo_order(
        f"ORD-{return_id}", "CUS-ada", paid_with="pi_unit", now=await time_skipping_env.get_current_time()
    )
    vendors.orders[order.order_id] = order
    shopper = SHOPPER.model_copy(update={"email": EMAIL, "phone": PHONE})
    async with Worker(
        client, task_queue=settings.task_queue, workflows=[ReturnWorkflow], activities=defined_activities(vendors)
    ):
        returns = ReturnsClient(client, settings, policy=POLICY, shop=FakeShopPlatform(vendors))
        await returns.start(demo_request(return_id, "pi_unit", order.order_id, customer_address=shopper))
        await deliver_and_inspect(returns, return_id, {"L1": Grade.a, "L2": Grade.a})
        completed = await until(returns, return_id, Stage.completed)
        assert completed.refund is not None and vendors.refunded(return_id) == [completed.refund.amount]
        yield client, return_id


@pytest.mark.timeskipping
async def test_the_server_s_history_holds_no_address_email_or_phone_in_clear(
    encrypted_return: tuple[Client, str],
) -> None:
    client, return_id = encrypted_return
    raw = await client.workflow_service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(
            namespace=client.namespace, execution={"workflow_id": workflow_id_for(return_id)}
        )
    )
    stored = raw.history.SerializeToString()  # the events exactly as the server keeps them
    assert ENCODING in stored
    for clear in (SHOPPER.street1, SHOPPER.name, EMAIL, PHONE, "Indian Summer"):
        assert clear.encode() not in stored, clear
    # Through the codec the start's input does hold them: the test would see them in a plaintext history.
    started = raw.history.events[0].workflow_execution_started_event_attributes.input.payloads
    opened = b"".join(p.data for p in EncryptionCodec(PayloadKeys.parse(OLD)).decode_now(started))
    assert EMAIL.encode() in opened and SHOPPER.street1.encode() in opened


@pytest.mark.timeskipping
async def test_a_recorded_encrypted_history_replays_through_the_codec_and_only_with_its_key(
    encrypted_return: tuple[Client, str], tmp_path: Path
) -> None:
    client, return_id = encrypted_return
    recorded = tmp_path / f"{return_id}.json"
    recorded.write_text((await client.get_workflow_handle(workflow_id_for(return_id)).fetch_history()).to_json())
    history = WorkflowHistory.from_json(workflow_id_for(return_id), recorded.read_text())

    for keys in (OLD, f"{NEW},{OLD}"):  # with the key that wrote it, and after a rotation
        replayer = Replayer(workflows=[ReturnWorkflow], data_converter=data_converter(_encrypted_settings(keys)))
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, f"patch this change ({result.replay_failure})"

    for converter in (RETURNS_DATA_CONVERTER, data_converter(_encrypted_settings(NEW))):  # no key, a wrong key
        result = await Replayer(workflows=[ReturnWorkflow], data_converter=converter).replay_workflow(
            history, raise_on_replay_failure=False
        )
        assert result.replay_failure is not None


COMMITTED_HISTORIES = sorted((Path(__file__).resolve().parents[1] / "workflows" / "histories").glob("*.json"))


async def test_returns_recorded_before_encryption_was_turned_on_replay_through_the_codec() -> None:
    """Turning PAYLOAD_KEYS on under running returns: every committed (plaintext) history replays on a
    worker whose converter encrypts."""
    assert COMMITTED_HISTORIES

    async def histories() -> AsyncIterator[WorkflowHistory]:
        for path in COMMITTED_HISTORIES:
            yield WorkflowHistory.from_json(path.stem, await asyncio.to_thread(path.read_text))

    replayer = Replayer(workflows=[ReturnWorkflow], data_converter=data_converter(_encrypted_settings(NEW)))
    results = await replayer.replay_workflows(histories(), raise_on_replay_failure=False)
    failures = {run_id: str(failure) for run_id, failure in results.replay_failures.items()}
    assert not failures, f"patch this change: {failures}"
