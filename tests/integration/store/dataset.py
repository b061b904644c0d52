"""A small hand-made month of returns (March 2025) whose report figures are worked out by
hand in test_reports.py. T = type of event; times are UTC."""

from __future__ import annotations

from store.events import EventType as T
from store.events import ReturnEvent
from tests.integration.store.builders import Script, label, line, refund

GRADED = {"reception": "received"}


def march_2025() -> list[Script]:
    # R1: USD mail label; a tee kept fine (A, restock) and a defective mug (D, recycle): refunded in full
    r1 = Script(
        "R1",
        customer="C1",
        lines=[
            line("L1", "S-TEE", "apparel", "size_too_small", 2, 2000),
            line("L2", "S-MUG", "home", "defective", 1, 1500),
        ],
    )
    r1.step(T.requested, "2025-03-01 10:00").step(T.approved, "2025-03-01 10:00:30", stage="approved")
    r1.step(T.label_issued, "2025-03-01 10:01", stage="label_issued", label=label("1"))
    r1.step(T.in_transit, "2025-03-02 10:00", stage="in_transit")
    r1.step(T.delivered, "2025-03-04 10:00", stage="delivered")
    r1.step(
        T.received,
        "2025-03-04 12:00",
        **r1.set_lines(L1={"received_quantity": 2, **GRADED}, L2={"received_quantity": 1, **GRADED}),
    )
    r1.step(
        T.inspected,
        "2025-03-05 10:00",
        stage="inspecting",
        inspected_by="warehouse:w1",
        **r1.set_lines(L1={"grade": "A", "disposition": "restock"}, L2={"grade": "D", "disposition": "recycle"}),
    )
    r1.step(T.disposition_done, "2025-03-05 10:05")
    r1.step(T.disposition_done, "2025-03-05 10:06")
    r1.step(
        T.refunded,
        "2025-03-05 16:00",
        stage="resolving",
        resolution={"kind": "refund", "amount": 5500, "fees": 0, "refund": refund("re_1", 5500)},
    )
    r1.step(T.completed, "2025-03-05 16:01", stage="completed")

    # R2: USD drop-off, a tee opened (B): store credit 1,300 owed + 10% bonus = 1,430; fees 200 + 500
    r2 = Script(
        "R2",
        customer="C1",
        method="drop_off",
        lines=[line("L1", "S-TEE", "apparel", "size_too_large", 1, 2000)],
    )
    r2.step(T.requested, "2025-03-10 09:00").step(T.approved, "2025-03-10 09:00:30", stage="approved")
    r2.step(T.label_issued, "2025-03-10 09:01", stage="label_issued", label=label("2"))
    r2.step(T.in_transit, "2025-03-12 09:00", stage="in_transit")
    r2.step(T.delivered, "2025-03-14 09:00", stage="delivered")
    r2.step(T.received, "2025-03-14 10:00", **r2.set_lines(L1={"received_quantity": 1, **GRADED}))
    r2.step(
        T.inspected, "2025-03-16 09:00", stage="inspecting", **r2.set_lines(L1={"grade": "B", "disposition": "restock"})
    )
    credit = {"credit_id": "SC-2", "amount": 1430, "currency": "USD"}
    r2.step(
        T.credited,
        "2025-03-16 12:00",
        stage="resolving",
        resolution={"kind": "store_credit", "amount": 1430, "fees": 700, "store_credit": credit},
    )
    r2.step(T.completed, "2025-03-16 12:01", stage="completed")

    # R3: EUR mail label, shoes exchanged for another size
    r3 = Script(
        "R3",
        customer="C2",
        currency="EUR",
        lines=[line("L1", "S-SHOE", "shoes", "not_as_described", 1, 8000, exchange_sku="S-SHOE-42")],
    )
    r3.step(T.requested, "2025-03-20 08:00").step(T.approved, "2025-03-20 08:00:30", stage="approved")
    r3.step(T.label_issued, "2025-03-20 08:01", stage="label_issued", label=label("3"))
    r3.step(T.in_transit, "2025-03-21 20:00", stage="in_transit")
    r3.step(T.delivered, "2025-03-23 08:00", stage="delivered")
    r3.step(T.received, "2025-03-23 09:00", **r3.set_lines(L1={"received_quantity": 1, **GRADED}))
    r3.step(
        T.inspected, "2025-03-24 08:00", stage="inspecting", **r3.set_lines(L1={"grade": "A", "disposition": "restock"})
    )
    exchange = {"exchange_order_id": "EX-3", "sku": "S-SHOE-42", "quantity": 1}
    r3.step(
        T.exchanged,
        "2025-03-24 10:00",
        stage="resolving",
        resolution={"kind": "exchange", "amount": 0, "fees": 0, "exchanges": [exchange]},
    )
    r3.step(T.completed, "2025-03-24 10:01", stage="completed")

    # R4: USD, label bought, never shipped: expired, label voided
    r4 = Script("R4", customer="C2", lines=[line("L1", "S-TEE", "apparel", "style", 1, 2000)])
    r4.step(T.requested, "2025-03-05 12:00").step(T.approved, "2025-03-05 12:00:30", stage="approved")
    r4.step(T.label_issued, "2025-03-05 12:01", stage="label_issued", label=label("4"))
    r4.step(T.expired, "2025-03-19 12:01", stage="expired", label_voided=True)

    # R5: USD keep-it socks, refunded at once
    r5 = Script("R5", customer="C3", method="keep_it", lines=[line("L1", "S-SOCK", "apparel", "unwanted", 1, 900)])
    r5.step(T.requested, "2025-03-15 10:00").step(T.approved, "2025-03-15 10:00:30", stage="approved")
    r5.step(
        T.refunded,
        "2025-03-15 10:01",
        stage="resolving",
        resolution={"kind": "refund", "amount": 900, "fees": 0, "refund": refund("re_5", 900)},
    )
    r5.step(T.completed, "2025-03-15 10:01:30", stage="completed")

    # R6: USD, open: the label purchase keeps failing
    r6 = Script("R6", customer="C1", lines=[line("L1", "S-MUG", "home", "unwanted", 1, 1500)])
    r6.step(T.requested, "2025-03-28 10:00").step(T.approved, "2025-03-28 10:00:30", stage="approved")
    attention = {
        "reason": "step failed",
        "step": "buy label",
        "error_type": "ShippoUnavailable",
        "message": "503",
        "since": "2025-03-28T10:20:00Z",
    }
    r6.step(T.needs_attention, "2025-03-28 10:20", attention=attention)

    # R7: GBP, requested in February, inspected and refunded in March (2,500 after a 500 shipping fee)
    r7 = Script("R7", customer="C4", currency="GBP", lines=[line("L1", "S-TEE", "apparel", "color", 1, 3000)])
    r7.step(T.requested, "2025-02-20 10:00").step(T.approved, "2025-02-20 10:00:30", stage="approved")
    r7.step(T.label_issued, "2025-02-20 10:01", stage="label_issued", label=label("7"))
    r7.step(T.in_transit, "2025-02-21 10:00", stage="in_transit")
    r7.step(T.delivered, "2025-02-25 10:00", stage="delivered")
    r7.step(
        T.inspected,
        "2025-03-01 10:00",
        stage="inspecting",
        **r7.set_lines(L1={"grade": "A", "disposition": "restock", **GRADED}),
    )
    r7.step(
        T.refunded,
        "2025-03-02 10:00",
        stage="resolving",
        resolution={"kind": "refund", "amount": 2500, "fees": 500, "refund": refund("re_7", 2500, "GBP")},
    )
    r7.step(T.completed, "2025-03-02 10:01", stage="completed")

    # R8: USD, nothing eligible
    r8 = Script("R8", customer="C6", lines=[line("L1", "S-TEE", "apparel", "size_too_small", 1, 2000)])
    r8.step(T.requested, "2025-03-03 10:00")
    r8.step(
        T.declined, "2025-03-03 10:00:10", stage="declined", **r8.set_lines(L1={"declined": "outside_return_window"})
    )

    # R9: USD, open: in transit
    r9 = Script("R9", customer="C5", lines=[line("L1", "S-HAT", "apparel", "other", 1, 2500)])
    r9.step(T.requested, "2025-03-31 00:00").step(T.approved, "2025-03-31 00:00:30", stage="approved")
    r9.step(T.label_issued, "2025-03-31 00:01", stage="label_issued", label=label("9"))
    r9.step(T.in_transit, "2025-03-31 12:00", stage="in_transit")
    return [r1, r2, r3, r4, r5, r6, r7, r8, r9]


def all_events() -> list[ReturnEvent]:
    return [event for script in march_2025() for event in script.events]
