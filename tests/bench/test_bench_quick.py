"""`jarvis bench --quick` as a smoke test: every measurement produces a number.

The numbers themselves are not judged here (they depend on the machine and its load); the
aims are reported by the bench itself (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PERCENTILES = ("p50", "p95", "p99")


def number_at(results: dict[str, Any], path: str) -> float:
    value: Any = results
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    assert isinstance(value, int | float) and not isinstance(value, bool), f"{path} = {value!r}"
    return value


@pytest.mark.timeout(300)
def test_quick_bench_measures_everything(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JARVIS_")}
    run = subprocess.run(
        [sys.executable, "-m", "cli", "bench", "--quick", "--out", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    [path] = tmp_path.glob("quick-*.json")
    results = json.loads(path.read_text())
    assert results["mode"] == "quick"

    paths = [
        "primitives.redis_xadd_xread.per_s",
        "primitives.postgres_insert_commit.per_s",
        "primitives.postgres_insert_commit_serial.per_s",
        "primitives.arq_noop_jobs.per_s",
        "primitives.arq_two_hop_chains.per_s",
        "gateway.posts_per_s",
        "pipeline.best.tasks_per_s",
        "ratio_e2e_to_two_hop",
    ]
    paths += [f"primitives.arq_one_hop_idle.latency_ms.{p}" for p in PERCENTILES]
    paths += [f"primitives.arq_two_hop_idle.latency_ms.{p}" for p in PERCENTILES]
    paths += [f"gateway.latency_ms.{p}" for p in PERCENTILES]
    throughput = results["pipeline"]["throughput"]
    assert {row["executors"] for row in throughput} >= {1, 2}
    paths += [f"pipeline.throughput.{i}.tasks_per_s" for i in range(len(throughput))]
    for load in ("low_load", "at_80_percent"):
        for moment in ("202", "first_event", "plan_created", "final"):
            paths += [f"pipeline.{load}.post_to_{moment}_ms.{p}" for p in PERCENTILES]
    paths += [
        f"pipeline.steps.{i}.post_to_final_ms.p50" for i in range(len(results["pipeline"]["steps"]))
    ]
    paths += ["pipeline.low_load.server_work_per_task.pg_write_transactions"]
    paths += ["pipeline.low_load.server_work_per_task.redis_commands"]
    sizes = results["feed"]["sizes"]
    assert [size["sockets"] for size in sizes] == [100]
    for field in ("events_per_s", "delivery_latency_ms.p99", "kb_per_socket"):
        paths += [f"feed.sizes.{i}.{field}" for i in range(len(sizes))]
    paths += [f"feed.sizes.{i}.gateway_redis_connections" for i in range(len(sizes))]
    for path in paths:
        number_at(results, path)
    assert all(aim["value"] is not None for aim in results["aims"]), results["aims"]
    assert (tmp_path / "benchmarks.png").stat().st_size > 0


def test_a_full_run_replaces_only_the_marked_tables_of_the_doc(tmp_path: Path) -> None:
    from bench.run import DOC_BEGIN, DOC_END, update_doc

    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Intro\n{DOC_BEGIN}\nold tables\n{DOC_END}\n## After\n")
    assert update_doc(doc, "| new | tables |")
    assert doc.read_text() == f"# Intro\n{DOC_BEGIN}\n| new | tables |\n{DOC_END}\n## After\n"
    assert update_doc(doc, "again")
    assert doc.read_text().count(DOC_BEGIN) == 1 and "new" not in doc.read_text()

    unmarked = tmp_path / "other.md"
    unmarked.write_text("no markers\n")
    assert not update_doc(unmarked, "tables")
    assert unmarked.read_text() == "no markers\n"
