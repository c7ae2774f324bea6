"""The render child's sandbox: no secrets, no network, bounded memory and CPU time.

The render child parses untrusted bytes with libvips, libheif and LibRaw; a decoder exploit
must reach nothing worth having. Before it imports any decoder, the child calls
:func:`enter`, which applies, in order:

1. **Network**: its own user and network namespaces (``unshare(CLONE_NEWUSER |
   CLONE_NEWNET)``: no interface but a loopback that is down) where the kernel allows it, and
   in every case a seccomp filter that fails ``socket(2)`` and ``io_uring_setup(2)`` with
   ``EACCES`` and ``ptrace(2)`` / ``process_vm_readv(2)`` / ``process_vm_writev(2)`` with
   ``EPERM`` (x86-64 and arm64; x32 system calls are refused too). The filter needs no
   privilege (``PR_SET_NO_NEW_PRIVS`` first), so it holds in a container whose runtime refuses
   namespaces (the default seccomp profiles of Docker and containerd refuse ``unshare`` of a
   user namespace to unprivileged processes).
2. **Capabilities**: a child running as root drops every capability (bounding set, then the
   effective, permitted and inheritable sets), so root in the child is a plain uid.
3. **Resources**: ``RLIMIT_DATA`` (heap and private mappings: what a decode allocates),
   ``RLIMIT_CPU`` (its hard limit is the child's lifetime budget; :func:`cpu_deadline` sets the
   soft limit per render, and the kernel sends ``SIGXCPU`` past it), no core files.

The environment is emptied by the parent (:func:`child_environment`), which also makes
itself non-dumpable (:func:`protect_parent`): otherwise a child with the same uid could read
the secrets from ``/proc/<parent>/environ`` or ``/proc/<parent>/mem``.

Linux only; elsewhere only the resource limits apply. ``enter`` returns what was applied,
for the child's first log line and the tests.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import platform
import resource
import struct
import sys
from collections.abc import Collection, Mapping
from dataclasses import dataclass

# Variables the child may inherit: how Python finds the code and how libvips runs. Nothing
# else: the parent's environment holds the S3 secret and the MongoDB URI.
ENVIRONMENT_ALLOWED = ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")
ENVIRONMENT_PREFIXES_ALLOWED = ("VIPS_", "MALLOC_")

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_PR_SET_DUMPABLE = 4
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_CAP_VERSION_3 = 0x20080522

# seccomp_data: int nr at offset 0, u32 arch at offset 4 (linux/seccomp.h).
_BPF_LD_W_ABS = 0x20
_BPF_JMP_JEQ_K = 0x15
_BPF_JMP_JGE_K = 0x35
_BPF_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000


@dataclass(frozen=True)
class _Arch:
    audit: int
    socket: int
    ptrace: int
    vm_read: int
    vm_write: int
    x32: bool  # x86-64 also accepts x32 system calls (nr | 0x40000000) under the same arch


_ARCHES = {
    "x86_64": _Arch(0xC000003E, socket=41, ptrace=101, vm_read=310, vm_write=311, x32=True),
    "aarch64": _Arch(0xC00000B7, socket=198, ptrace=117, vm_read=270, vm_write=271, x32=False),
}
_IO_URING_SETUP = 425  # the same number on every architecture (the unified table)


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one render child.

    ``memory_bytes``: ``RLIMIT_DATA``; ``cpu_seconds``: CPU time of one render (soft
    ``RLIMIT_CPU``); ``lifetime_cpu_seconds``: the child's whole budget (hard ``RLIMIT_CPU``;
    the parent replaces a child before it runs out).
    """

    memory_bytes: int
    cpu_seconds: float
    lifetime_cpu_seconds: float


@dataclass(frozen=True)
class Applied:
    """What :func:`enter` could apply on this kernel."""

    limits: SandboxLimits
    namespaces: bool
    seccomp: bool
    capabilities_dropped: bool

    def describe(self) -> str:
        parts = [
            "own network namespace" if self.namespaces else "no namespaces (refused)",
            "seccomp socket filter" if self.seccomp else "no seccomp",
        ]
        if self.capabilities_dropped:
            parts.append("capabilities dropped")
        return ", ".join(parts)


def child_environment(parent: Mapping[str, str], extra: Collection[str] = ()) -> dict[str, str]:
    """The environment a render child starts with: ``parent`` filtered to the allow-list
    and the ``extra`` names an operator allowed (``GALLERY_WORKER_RENDER_ENV_PASS``)."""
    return {
        name: value
        for name, value in parent.items()
        if name in ENVIRONMENT_ALLOWED
        or name.startswith(ENVIRONMENT_PREFIXES_ALLOWED)
        or name in extra
    }


def protect_parent() -> None:
    """Make this process non-dumpable (``PR_SET_DUMPABLE 0``): its ``/proc`` files become
    root's, so a child of the same uid without ``CAP_SYS_PTRACE`` cannot read its
    environment or memory. Also no core dumps (they would hold the same secrets)."""
    if sys.platform == "linux":
        _libc().prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def enter(limits: SandboxLimits) -> Applied:
    """Sandbox the calling process (see the module docstring). Call while single-threaded:
    namespaces and the seccomp filter apply to this thread and the threads started after."""
    _set_limits(limits)
    if sys.platform != "linux":
        return Applied(limits, namespaces=False, seccomp=False, capabilities_dropped=False)
    libc = _libc()
    namespaces = libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0
    dropped = _drop_capabilities(libc) if os.geteuid() == 0 else False
    seccomp = _install_filter(libc)
    return Applied(limits, namespaces=namespaces, seccomp=seccomp, capabilities_dropped=dropped)


def enter_child(config: str) -> Applied:
    """:func:`enter` with the limits a parent passed as JSON (the render child's argv)."""
    values = json.loads(config)
    return enter(
        SandboxLimits(
            memory_bytes=int(values["memory_bytes"]),
            cpu_seconds=float(values["cpu_seconds"]),
            lifetime_cpu_seconds=float(values["lifetime_cpu_seconds"]),
        )
    )


def cpu_deadline(limits: SandboxLimits) -> float:
    """Allow one more render: soft ``RLIMIT_CPU`` at the CPU used so far plus
    ``limits.cpu_seconds`` (capped by the hard limit). Returns the CPU seconds used so far."""
    used = cpu_used()
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(used + limits.cpu_seconds) + 1
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    return used


def cpu_used() -> float:
    """CPU seconds (user + system, every thread) this process has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _set_limits(limits: SandboxLimits) -> None:
    resource.setrlimit(resource.RLIMIT_DATA, (limits.memory_bytes, limits.memory_bytes))
    lifetime = int(limits.lifetime_cpu_seconds)
    resource.setrlimit(resource.RLIMIT_CPU, (min(int(limits.cpu_seconds) + 1, lifetime), lifetime))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    # prctl(2) takes unsigned longs, and PR_SET_NO_NEW_PRIVS insists the unused ones are 0.
    libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    return libc


def _drop_capabilities(libc: ctypes.CDLL) -> bool:
    """Root without capabilities: bounding set first (needs CAP_SETPCAP), then capset(2)."""
    for cap in range(64):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() != errno.EINVAL:
            return False
    header = struct.pack("=Ii", _CAP_VERSION_3, 0)
    data = bytes(24)  # two __user_cap_data_struct of (effective, permitted, inheritable), zero
    return int(libc.capset(ctypes.c_char_p(header), ctypes.c_char_p(data))) == 0


def _filter_program(arch: _Arch) -> list[tuple[int, int, int, int]]:
    """The BPF program as (code, jt, jf, k) instructions; jumps are relative."""
    eacces = _RET_ERRNO | errno.EACCES
    eperm = _RET_ERRNO | errno.EPERM
    denied = [
        (arch.socket, eacces),
        (_IO_URING_SETUP, eacces),
        (arch.ptrace, eperm),
        (arch.vm_read, eperm),
        (arch.vm_write, eperm),
    ]
    program = [
        (_BPF_LD_W_ABS, 0, 0, 4),  # arch
        (_BPF_JMP_JEQ_K, 1, 0, arch.audit),
        (_BPF_RET_K, 0, 0, _RET_KILL_PROCESS),  # a foreign ABI: no filter could hold
        (_BPF_LD_W_ABS, 0, 0, 0),  # syscall number
    ]
    if arch.x32:
        program += [(_BPF_JMP_JGE_K, 0, 1, 0x40000000), (_BPF_RET_K, 0, 0, eperm)]
    for number, verdict in denied:
        program += [(_BPF_JMP_JEQ_K, 0, 1, number), (_BPF_RET_K, 0, 0, verdict)]
    program.append((_BPF_RET_K, 0, 0, _RET_ALLOW))
    return program


def _install_filter(libc: ctypes.CDLL) -> bool:
    arch = _ARCHES.get(platform.machine())
    if arch is None:
        return False
    program = _filter_program(arch)
    filters = b"".join(struct.pack("=HBBI", *instruction) for instruction in program)
    buffer = ctypes.create_string_buffer(filters, len(filters))
    prog = ctypes.create_string_buffer(struct.pack("@HP", len(program), ctypes.addressof(buffer)))
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    installed = libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0)
    return int(installed) == 0
