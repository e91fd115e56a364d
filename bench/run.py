"""`jarvis bench [--quick] [--out DIR] [--profile DIR]` (or `make bench`): one run of every
measurement on a throwaway deployment of its own.

Full mode takes a few minutes and writes bench/results/<UTC date>.json (with the same tables in
<date>.md and in docs/benchmarks.md) and docs/benchmarks.png; quick mode (under a minute, the
smoke test in `make test`) writes bench/results/quick-<date>.json and .md. With --out everything
goes to DIR instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psutil
from redis.asyncio import Redis

from bench.feed import measure_feed, raise_open_files
from bench.gateway import measure_gateway
from bench.pipeline import measure_pipeline
from bench.primitives import measure_primitives
from bench.profile import profile_services
from bench.report import derive, markdown, plot, print_report
from bench.stack import PROJECT_ROOT, BenchStack

RESULTS_DIR = PROJECT_ROOT / "bench" / "results"
PLOT_PATH = PROJECT_ROOT / "docs" / "benchmarks.png"
DOC_PATH = PROJECT_ROOT / "docs" / "benchmarks.md"
# A full run replaces what stands between these two lines of docs/benchmarks.md.
DOC_BEGIN = "<!-- bench:latest -->"
DOC_END = "<!-- /bench:latest -->"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


async def machine_info(stack: BenchStack) -> dict[str, Any]:
    redis = Redis.from_url(stack.redis_url)
    try:
        redis_version = (await redis.info("server"))["redis_version"]
    finally:
        await redis.aclose()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgres": await stack.pool.fetchval("SHOW server_version"),
        "redis": redis_version,
        "packages": {
            name: version(name)
            for name in ("arq", "redis", "asyncpg", "aiohttp", "pydantic-ai-slim")
        },
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }


async def run_measurements(*, quick: bool, profile: Path | None) -> dict[str, Any]:
    started = time.monotonic()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "time": datetime.now(UTC).strftime("%H:%M:%SZ"),
        "mode": "quick" if quick else "full",
    }
    phases: dict[str, float] = {}
    results["phase_s"] = phases
    # Before any process starts, so the gateways inherit it.
    raise_open_files(5000)
    with tempfile.TemporaryDirectory(prefix="jarvis-bench-") as tmp:
        stack = await BenchStack.open(Path(tmp))
        try:
            results["machine"] = await machine_info(stack)
            phases["setup"] = round(time.monotonic() - started, 1)
            hook = None
            if profile is not None:

                async def hook(pipeline: Any) -> None:
                    results["profile"] = await profile_services(pipeline, profile)

            for name, measure in (
                ("primitives", measure_primitives),
                ("gateway", measure_gateway),
                ("pipeline", partial(measure_pipeline, on_best=hook)),
                ("feed", measure_feed),
            ):
                phase_started = time.monotonic()
                results[name] = await measure(stack, quick=quick)
                phases[name] = round(time.monotonic() - phase_started, 1)
        finally:
            await stack.close()
    results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    results["duration_s"] = round(time.monotonic() - started, 1)
    derive(results)
    return results


def output_paths(results: dict[str, Any], out: Path | None) -> tuple[Path, Path | None]:
    name = ("quick-" if results["mode"] == "quick" else "") + f"{results['date']}.json"
    if out is not None:
        return out / name, out / "benchmarks.png"
    return RESULTS_DIR / name, (None if results["mode"] == "quick" else PLOT_PATH)


def update_doc(doc: Path, tables: str) -> bool:
    """Put the latest tables into the doc between its markers; False if it has none."""
    if not doc.exists():
        return False
    text = doc.read_text()
    begin, end = text.find(DOC_BEGIN), text.find(DOC_END)
    if begin < 0 or end < begin:
        return False
    doc.write_text(text[: begin + len(DOC_BEGIN)] + "\n" + tables + "\n" + text[end:])
    return True


def run_bench(*, quick: bool = False, out: Path | None = None, profile: Path | None = None) -> Path:
    """Run every measurement, print the table, write the JSON (and plot); the JSON's path."""
    results = asyncio.run(run_measurements(quick=quick, profile=profile))
    json_path, plot_path = output_paths(results, out)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    if plot_path is not None:
        results["plot"] = str(plot(results, plot_path) or "matplotlib not installed")
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    tables = markdown(results)
    json_path.with_suffix(".md").write_text(tables + "\n")
    if out is None and results["mode"] == "full":
        update_doc(DOC_PATH, tables)
    print_report(results)
    print(f"results: {json_path}" + (f"; plot: {plot_path}" if plot_path else ""), flush=True)
    return json_path
