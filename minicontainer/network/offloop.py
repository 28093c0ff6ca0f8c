"""Calling pyroute2's synchronous API from a Jupyter kernel (lesson 07).

pyroute2 0.9 is built on asyncio: its synchronous `IPRoute` drives an event loop with
`run_until_complete`, which fails with "This event loop is already running" in a thread that
already runs one, such as a Jupyter kernel's main thread. (In a notebook you can instead use
`AsyncIPRoute` with `await`, as lesson 07 does.) The runtime's entry points are wrapped with
`@off_loop`: called from such a thread, they run in a short-lived plain thread and return its result.
"""

from __future__ import annotations

import functools
import sys
import threading
from typing import Callable, TypeVar

T = TypeVar("T")


def _loop_running() -> bool:
    asyncio = sys.modules.get("asyncio")  # not imported yet: then no loop can be running (and we stay light)
    if asyncio is None:
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def off_loop(fn: Callable[..., T]) -> Callable[..., T]:
    """Run fn in a fresh thread when the calling thread runs an asyncio event loop."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not _loop_running():
            return fn(*args, **kwargs)
        outcome: dict = {}

        def target() -> None:
            try:
                outcome["value"] = fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                outcome["error"] = exc

        worker = threading.Thread(target=target, name=f"mc-{fn.__name__}")
        worker.start()
        worker.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    return wrapper
