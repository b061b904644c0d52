"""The store benchmark's harness, run tiny: it loads, times every report and appends. Its
figures are never judged here (docs/benchmarks.md has the measured ones)."""

from __future__ import annotations

import json

from store.bench import main


def test_a_tiny_run_writes_every_figure(tmp_path):
    output = tmp_path / "results.json"
    arguments = ["--returns", "300", "--backends", "sqlite", "--calls", "2", "--detail-calls", "1"]
    arguments += ["--floor-calls", "1", "--append-returns", "20", "--threads", "2"]
    assert main([*arguments, "--workdir", str(tmp_path), "--output", str(output)]) == 0
    results = json.loads(output.read_text())
    sqlite = results["backends"]["sqlite"]
    assert sqlite["sizes"]["returns"] == 300 and sqlite["sizes"]["events"] > 900
    assert sqlite["bulk_load"]["returns_per_s"] > 0 and sqlite["floor"]["calls"] == 1
    assert (
        set(sqlite["reports_whole_span"])
        == set(sqlite["reports_last_30_days"])
        == set(sqlite["reports_mid_month_span"])
    )
    assert {"money", "durations", "return_rate_by_sku", "top_repeat_returners"} <= set(sqlite["reports_whole_span"])
    assert set(sqlite["reports_detail_whole_span"]) < set(sqlite["reports_whole_span"])
    assert [run["threads"] for run in sqlite["append"]] == [1, 2]
    assert all(run["returns"] == 20 for run in sqlite["append"])
