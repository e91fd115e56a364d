"""`jarvis bench --profile DIR`: py-spy samples the services during one extra throughput window
on the fastest configuration, and writes each one's collapsed stacks and its top functions.

The measured numbers come from windows without the profiler: sampling slows the processes down.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench.pipeline import Pipeline, inflight_for, throughput

PROFILE_SECONDS = 10


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def top_functions(collapsed: Path, limit: int = 25) -> list[tuple[str, float, float]]:
    """(function, self %, total %) from py-spy's collapsed stacks ("a;b;c count" lines)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    if not samples:
        return []
    return [
        (frame, round(100 * own[frame] / samples, 1), round(100 * total[frame] / samples, 1))
        for frame, _ in own.most_common(limit)
    ]


def _record(binary: str, pid: int, out: Path) -> tuple[Path, subprocess.Popen[bytes]]:
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [binary, "record", "--pid", str(pid), "--duration", str(PROFILE_SECONDS)]
    command += ["--format", "raw", "--rate", "200", "--nonblocking", "--output", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return out, process


async def profile_services(pipeline: Pipeline, directory: Path) -> dict[str, Any]:
    binary = py_spy()
    if binary is None:
        return {"skipped": "py-spy is not installed (pip install py-spy)"}
    targets = [pipeline.gateway]
    for name in ("planner", "executor"):
        targets += [w for w in pipeline.workers if w.name == name][:1]
    recorders = [
        (s, *_record(binary, s.pid, directory / f"{s.name}.collapsed.txt")) for s in targets
    ]
    planners = sum(w.name == "planner" for w in pipeline.workers)
    executors = sum(w.name == "executor" for w in pipeline.workers)
    measured = await throughput(
        pipeline,
        inflight=inflight_for(planners, executors),
        warmup=0.5,
        window=PROFILE_SECONDS,
    )
    report: dict[str, Any] = {"tasks_per_s_while_profiled": measured["tasks_per_s"]}
    for service, out, process in recorders:
        try:
            await asyncio.to_thread(process.wait, PROFILE_SECONDS + 30)
        except subprocess.TimeoutExpired:
            process.kill()
        if out.exists():
            top = top_functions(out)
            (directory / f"{service.name}.top.txt").write_text(
                "self%  total%  function\n"
                + "\n".join(f"{own:5.1f}  {tot:6.1f}  {frame}" for frame, own, tot in top)
                + "\n"
            )
            report[service.name] = str(out)
    return report
