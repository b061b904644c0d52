"""Proof under faults (issue 10): returns driven through the doors while processes die, vendors
fail and webhooks come twice and out of order; then every vendor's ledger is checked.

    make chaos                          # = python -m chaos run: 1,000 returns (docs/reliability.md)
    make chaos CHAOS_ARGS=--quick       # a few dozen: proves the harness (the test suite runs it)
    make chaos-fuzz                     # = python -m chaos fuzz: 10,000 invalid requests
    make chaos-load                     # = python -m chaos load: 200 returns at once, latency per route

Not part of the wheel: like `bench/`, it drives the system from outside, as its users would.
"""
