"""Wait on a condition with a generous bound, never on a fixed sleep (CONVENTIONS 12).

Deadlines are generous on purpose: the suite must hold on a machine loaded well past its
cores, where a condition that takes 0.1 s on a quiet run can take tens of seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

GENEROUS = 60.0


async def eventually(
    condition: Callable[[], Awaitable[bool]],
    what: str,
    timeout: float = GENEROUS,
    every: float = 0.05,
) -> None:
    """Poll ``condition`` until it holds; AssertionError naming ``what`` after ``timeout`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(every)
