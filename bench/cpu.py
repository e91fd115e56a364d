"""CPU seconds spent by each part of the system over a measurement window (psutil)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

# role -> the processes that play it now
Processes = Callable[[], dict[str, list[psutil.Process]]]


def _cpu(process: psutil.Process) -> float | None:
    try:
        times = process.cpu_times()
    except psutil.Error:
        return None
    return float(times.user + times.system)


@dataclass
class CpuMeter:
    """`start()` then `stop()`: CPU seconds per role between the two (processes that appeared in
    between count from zero; ones that exited are lost, so keep the window on long-lived ones)."""

    processes: Processes
    _start: dict[int, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def start(self) -> None:
        self._start = {}
        for members in self.processes().values():
            for process in members:
                if (value := _cpu(process)) is not None:
                    self._start[process.pid] = value

    def stop(self) -> dict[str, float]:
        self.seconds = {}
        for role, members in self.processes().items():
            total = 0.0
            for process in members:
                if (value := _cpu(process)) is not None:
                    total += value - self._start.get(process.pid, 0.0)
            self.seconds[role] = round(total, 3)
        return self.seconds
