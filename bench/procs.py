"""CPU and memory of a process tree, read from ``/proc`` (Linux only).

The throughput benchmark charges every CPU second the stack spends to a *role*: the gateway,
the workers (with any render child processes they start), the catalog server, nats-server and
the ``gallery up`` supervisor; the load generator is measured apart. ``/proc/<pid>/stat``
fields 14-15 (utime, stime) are in clock ticks (proc(5)); ``/proc/stat``'s first line gives
the whole machine's busy and idle ticks, which shows how much of the two cores other
programs took during a run.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
ROLES = ("gateway", "workers", "catalog", "nats", "supervisor")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    cpu_seconds: float
    cmdline: str


def read_proc(pid: int) -> Proc | None:
    """One process's parent and CPU seconds (user + system), None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    ppid = int(fields[1])
    cpu = (int(fields[11]) + int(fields[12])) / TICK
    return Proc(pid, ppid, cpu, cmdline)


def tree(root: int) -> list[Proc]:
    """``root`` and all its descendants alive now."""
    procs = [p for p in (read_proc(int(d)) for d in os.listdir("/proc") if d.isdigit()) if p]
    children: dict[int, list[Proc]] = defaultdict(list)
    for proc in procs:
        children[proc.ppid].append(proc)
    found = [p for p in procs if p.pid == root]
    out: list[Proc] = []
    while found:
        proc = found.pop()
        out.append(proc)
        found.extend(children.get(proc.pid, []))
    return out


def role(proc: Proc, root: int, by_pid: dict[int, Proc]) -> str:
    """Which part of the stack ``proc`` is: its own command line or its nearest named parent."""
    current: Proc | None = proc
    while current is not None:
        cmd = current.cmdline
        if "nats-server" in cmd:
            return "nats"
        if "secantus" in cmd:
            return "catalog"
        if " gateway" in cmd:
            return "gateway"
        if " worker" in cmd:
            return "workers"
        if current.pid == root:
            return "supervisor"
        current = by_pid.get(current.ppid)
    return "supervisor"


class CpuMeter:
    """CPU seconds per role of the tree under ``root`` between :meth:`start` and :meth:`read`."""

    def __init__(self, root: int) -> None:
        self.root = root
        self._start: dict[int, float] = {}

    def start(self) -> None:
        self._start = {p.pid: p.cpu_seconds for p in tree(self.root)}

    def read(self) -> dict[str, float]:
        procs = tree(self.root)
        by_pid = {p.pid: p for p in procs}
        used: dict[str, float] = dict.fromkeys(ROLES, 0.0)
        for proc in procs:
            # A process born during the run (a render child) counts from zero.
            used[role(proc, self.root, by_pid)] += proc.cpu_seconds - self._start.get(proc.pid, 0.0)
        return used

    def pids(self) -> dict[str, list[int]]:
        procs = tree(self.root)
        by_pid = {p.pid: p for p in procs}
        out: dict[str, list[int]] = defaultdict(list)
        for proc in procs:
            out[role(proc, self.root, by_pid)].append(proc.pid)
        return dict(out)


def self_cpu() -> float:
    """CPU seconds of this process (all threads) so far."""
    times = os.times()
    return times.user + times.system


def machine_ticks() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, summed over cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already inside user
    return (total - idle) / TICK, total / TICK


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def load_average() -> float:
    return os.getloadavg()[0]
