"""The results of a run: the aims checked, a table on the terminal (rich), and a plot (PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from shared.jobs import POLL_DELAY

# What we aim for (issue 7); measured and reported, never asserted.
AIM_RATIO = 0.3
AIM_FINAL_P50_MS = 3 * POLL_DELAY * 1000 + 20
AIM_FIRST_EVENT_P99_MS = 20.0
AIM_SOCKET_KB = 30.0
AIM_SOCKETS = 5000


def _get(data: dict[str, Any], *path: str | int) -> Any:
    for part in path:
        if data is None:
            return None
        try:
            data = data[part]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def derive(results: dict[str, Any]) -> None:
    """Add the ratio to arq and the aims (value, target, met) to `results`."""
    best = _get(results, "pipeline", "best", "tasks_per_s")
    chains = _get(results, "primitives", "arq_two_hop_chains", "per_s")
    ratio = round(best / chains, 3) if best is not None and chains else None
    results["ratio_e2e_to_two_hop"] = ratio
    sizes = _get(results, "feed", "sizes") or []
    biggest = max(
        (s for s in sizes if "kb_per_socket" in s), key=lambda s: s["sockets"], default={}
    )
    aims = [
        ("end-to-end tasks/s ÷ two-hop arq chains/s", ratio, AIM_RATIO, ">="),
        (
            "p50 POST → final event, low load (ms)",
            _get(results, "pipeline", "low_load", "post_to_final_ms", "p50"),
            AIM_FINAL_P50_MS,
            "<",
        ),
        (
            "p99 POST → first WebSocket event, low load (ms)",
            _get(results, "pipeline", "low_load", "post_to_first_event_ms", "p99"),
            AIM_FIRST_EVENT_P99_MS,
            "<",
        ),
        (
            f"KB per socket at {biggest.get('sockets', AIM_SOCKETS)} sockets",
            biggest.get("kb_per_socket"),
            AIM_SOCKET_KB,
            "<",
        ),
    ]
    results["aims"] = [
        {
            "aim": name,
            "value": value,
            "target": f"{op} {target:g}",
            "met": None if value is None else (value >= target if op == ">=" else value < target),
        }
        for name, value, target, op in aims
    ]


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _pcts(block: dict[str, Any] | None) -> str:
    if not block:
        return "—"
    return " / ".join(_fmt(block.get(k)) for k in ("p50", "p95", "p99"))


def tables(results: dict[str, Any]) -> list[Table]:
    prim = results.get("primitives", {})
    primitives = Table(title="Primitives (same run, same servers)")
    for column in ("primitive", "per second", "latency p50 / p95 / p99 ms"):
        primitives.add_column(column)
    rows = [
        ("Redis XADD → XREAD round trip", "redis_xadd_xread"),
        ("PostgreSQL INSERT+COMMIT, 10 connections", "postgres_insert_commit"),
        ("PostgreSQL INSERT+COMMIT, 1 connection", "postgres_insert_commit_serial"),
        ("arq no-op jobs, 1 worker", "arq_noop_jobs"),
        ("arq two-hop chains, 2 workers", "arq_two_hop_chains"),
        ("arq one job, idle", "arq_one_hop_idle"),
        ("arq two-hop chain, idle", "arq_two_hop_idle"),
    ]
    for label, key in rows:
        item = prim.get(key, {})
        primitives.add_row(label, _fmt(item.get("per_s")), _pcts(item.get("latency_ms")))

    gateway = results.get("gateway", {})
    alone = Table(title="Gateway alone: POST /v1/chats/{id}/messages, 50 clients, no workers")
    for column in ("posts/s", "latency p50 / p95 / p99 ms", "gateway CPU ms/post"):
        alone.add_column(column)
    alone.add_row(
        _fmt(gateway.get("posts_per_s")),
        _pcts(gateway.get("latency_ms")),
        _fmt(_get(gateway, "cpu_ms_per_post", "gateway"), 2),
    )

    pipeline = results.get("pipeline", {})
    throughput = Table(title="End to end: tasks per second (offline model, local search)")
    for column in (
        "planners",
        "executors",
        "in flight",
        "tasks/s",
        "POST→final p50 / p95 / p99 ms",
        "CPU ms/task gw / plan / exec / pg / redis",
    ):
        throughput.add_column(column)
    for row in pipeline.get("throughput", []):
        cpu = row.get("cpu_ms_per_task", {})
        throughput.add_row(
            str(row["planners"]),
            str(row["executors"]),
            str(row["inflight"]),
            _fmt(row["tasks_per_s"]),
            _pcts(row.get("post_to_final_ms")),
            " / ".join(
                _fmt(cpu.get(k), 0) for k in ("gateway", "planner", "executor", "postgres", "redis")
            ),
        )

    latency = Table(title="Latency from the POST, ms (p50 / p95 / p99)")
    for column in ("load", "tasks", "→ 202", "→ first WS event", "→ plan.created", "→ final event"):
        latency.add_column(column)
    for label, key in (("low (one at a time)", "low_load"), ("80% of max", "at_80_percent")):
        block = pipeline.get(key, {})
        if key == "at_80_percent" and block:
            label = f"80% of max ({_fmt(block.get('offered_per_s'))}/s)"
        latency.add_row(
            label,
            _fmt(block.get("tasks")),
            _pcts(block.get("post_to_202_ms")),
            _pcts(block.get("post_to_first_event_ms")),
            _pcts(block.get("post_to_plan_created_ms")),
            _pcts(block.get("post_to_final_ms")),
        )

    steps = Table(title="One task at a time, by steps in its plan")
    for column in ("steps", "events", "POST→final p50 / p95 / p99 ms", "CPU ms/task (all)"):
        steps.add_column(column)
    for row in pipeline.get("steps", []):
        cpu = row.get("cpu_ms_per_task", {})
        total = sum(v for k, v in cpu.items() if v is not None and k != "bench_client")
        steps.add_row(
            str(row["steps"]),
            _fmt(row.get("events_per_task")),
            _pcts(row.get("post_to_final_ms")),
            _fmt(total, 0),
        )

    stages = Table(title="Where one task's time goes at low load (p50 ms, from event timestamps)")
    stage_rows = _get(pipeline, "low_load", "stages_p50_ms") or {}
    for label in stage_rows:
        stages.add_column(label)
    stages.add_row(*(_fmt(value) for value in stage_rows.values()))

    work = Table(title="Server work per unit (counted at the servers)")
    for column in ("unit", "PostgreSQL write transactions", "WAL KB", "Redis commands"):
        work.add_column(column)
    for label, block in (
        ("one POST (gateway alone)", _get(results, "gateway", "server_work_per_post")),
        ("one task, low load", _get(pipeline, "low_load", "server_work_per_task")),
        *(
            (f"one task of {row['steps']} steps", row.get("server_work_per_task"))
            for row in pipeline.get("steps", [])
        ),
    ):
        block = block or {}
        work.add_row(
            label,
            _fmt(block.get("pg_write_transactions")),
            _fmt(block.get("wal_kb")),
            _fmt(block.get("redis_commands")),
        )

    feed = Table(title="WebSocket feed, one gateway process")
    for column in (
        "sockets",
        "subscribes/s",
        "events/s delivered",
        "delivery p50 / p95 / p99 ms",
        "KB/socket",
        "gateway Redis conns",
        "gateway CPU",
    ):
        feed.add_column(column)
    for row in _get(results, "feed", "sizes") or []:
        if "skipped" in row:
            feed.add_row(str(row["sockets"]), row["skipped"], "", "", "", "", "")
            continue
        feed.add_row(
            _fmt(row["sockets"])
            + (
                ""
                if row.get("connected") == row["sockets"]
                else f" ({row.get('connected')} connected)"
            ),
            _fmt(row.get("subscribes_per_s")),
            _fmt(row["events_per_s"]),
            _pcts(row.get("delivery_latency_ms")),
            _fmt(row.get("kb_per_socket")),
            _fmt(row.get("gateway_redis_connections")),
            _fmt(_get(row, "cpu_utilisation", "gateway"), 2),
        )

    aims = Table(title="Aims (measured, not asserted)")
    for column in ("aim", "measured", "target", "met"):
        aims.add_column(column)
    for aim in results.get("aims", []):
        met = {True: "yes", False: "NO", None: "—"}[aim["met"]]
        value = aim["value"]
        aims.add_row(
            aim["aim"], _fmt(value, 2 if isinstance(value, float) else 1), aim["target"], met
        )
    return [primitives, alone, throughput, latency, stages, steps, work, feed, aims]


def headline(results: dict[str, Any]) -> str:
    machine = results.get("machine", {})
    return (
        f"jarvis bench ({results.get('mode')}) {results.get('date')} {results.get('time', '')} on"
        f" {machine.get('cpus')} CPUs ({machine.get('cpu_model')}), {machine.get('memory_gb')} GB,"
        f" Python {machine.get('python')}, PostgreSQL {machine.get('postgres')},"
        f" Redis {machine.get('redis')}; load average {machine.get('load_average_start')}"
        f" → {machine.get('load_average_end')}; {results.get('duration_s')} s"
    )


def markdown(results: dict[str, Any]) -> str:
    """The same tables in Markdown, for docs/benchmarks.md."""
    parts = [headline(results), ""]
    for table in tables(results):
        columns = table.columns
        parts.append(f"**{table.title}**")
        parts.append("")
        parts.append("| " + " | ".join(str(c.header) for c in columns) + " |")
        parts.append("|" + "---|" * len(columns))
        for row in zip(*(list(c.cells) for c in columns), strict=True):
            parts.append("| " + " | ".join(str(cell) for cell in row) + " |")
        parts.append("")
    return "\n".join(parts)


def print_report(results: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    console.print(headline(results), markup=False)
    for table in tables(results):
        console.print(table)


def plot(results: dict[str, Any], path: Path) -> Path | None:
    """Four panels: throughput by workers, latency by load, cost by steps, the feed by sockets.
    None if matplotlib is not installed (`pip install -e '.[bench]'`)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    pipeline = results.get("pipeline", {})
    figure, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    figure.suptitle(
        f"jarvis bench {results.get('date')} ({results.get('mode')}), "
        f"{_get(results, 'machine', 'cpus')} CPUs"
    )

    ax = axes[0][0]
    rows = pipeline.get("throughput", [])
    labels = [f"{r['planners']}P+{r['executors']}E" for r in rows]
    ax.bar(labels, [r["tasks_per_s"] for r in rows], color="#4477aa", label="tasks/s end to end")
    chains = _get(results, "primitives", "arq_two_hop_chains", "per_s")
    if chains:
        ax.axhline(
            AIM_RATIO * chains, color="#cc3311", linestyle="--", label="0.3 x arq two-hop chains/s"
        )
    ax.set_title("Throughput by worker processes")
    ax.set_ylabel("tasks per second")
    ax.legend(loc="upper left", fontsize=8)

    ax = axes[0][1]
    moments = [
        ("→202", "post_to_202_ms"),
        ("→first event", "post_to_first_event_ms"),
        ("→plan", "post_to_plan_created_ms"),
        ("→final", "post_to_final_ms"),
    ]
    width = 0.2
    for offset, (load, key, colour) in enumerate(
        (("low p50", "low_load", "#88ccee"), ("80% p50", "at_80_percent", "#cc6677"))
    ):
        values = [_get(pipeline, key, m, "p50") or 0 for _, m in moments]
        positions = [i + (offset - 0.5) * width * 2 for i in range(len(moments))]
        ax.bar(positions, values, width * 2, label=load, color=colour)
        p99 = [_get(pipeline, key, m, "p99") or 0 for _, m in moments]
        ax.scatter(positions, p99, color="black", marker="_", s=200, zorder=3)
    ax.set_xticks(range(len(moments)), [label for label, _ in moments])
    ax.set_yscale("log")
    ax.set_ylabel("ms from the POST (bars p50, ticks p99)")
    ax.set_title("Latency at low load and at 80% of max")
    ax.axhline(AIM_FINAL_P50_MS, color="#cc3311", linestyle="--", linewidth=1)
    ax.legend(fontsize=8)

    ax = axes[1][0]
    steps = pipeline.get("steps", [])
    xs = [row["steps"] for row in steps]
    ax.plot(xs, [_get(r, "post_to_final_ms", "p50") for r in steps], "o-", label="POST→final p50")
    ax.set_xlabel("steps in the plan")
    ax.set_ylabel("ms")
    cpu_axis = ax.twinx()
    cpu_axis.plot(
        xs,
        [
            sum(v for k, v in r.get("cpu_ms_per_task", {}).items() if v and k != "bench_client")
            for r in steps
        ],
        "s--",
        color="#228833",
        label="server CPU ms/task",
    )
    cpu_axis.set_ylabel("CPU ms per task")
    ax.set_title("One task's cost by steps")
    ax.legend(loc="upper left", fontsize=8)
    cpu_axis.legend(loc="lower right", fontsize=8)

    ax = axes[1][1]
    sizes = [s for s in _get(results, "feed", "sizes") or [] if "kb_per_socket" in s]
    xs = [s["sockets"] for s in sizes]
    ax.plot(xs, [s["kb_per_socket"] for s in sizes], "o-", label="KB per socket")
    ax.axhline(AIM_SOCKET_KB, color="#cc3311", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("subscribed sockets, one gateway")
    ax.set_ylabel("KB per socket")
    rate_axis = ax.twinx()
    rate_axis.plot(xs, [s["events_per_s"] for s in sizes], "s--", color="#aa3377", label="events/s")
    rate_axis.set_ylabel("events per second delivered")
    ax.set_title("WebSocket feed")
    ax.legend(loc="upper left", fontsize=8)
    rate_axis.legend(loc="upper right", fontsize=8)

    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
