"""minicontainer: a real container runtime, built one lesson at a time.

Each module is named after the step of a container's life it owns (see README.md for the map).
This file imports nothing heavy on purpose: `minicontainer run` starts in a few milliseconds.
"""

__version__ = "0.1.0"


def run(image: str = "busybox", *command: str, **flags: object):
    """Run a container from Python, like `minicontainer run --rm IMAGE COMMAND...` (lesson 02).

    `minicontainer.run("busybox", "hostname", hostname="box")` prints what the container wrote and
    returns its final state (`.exit_code`). Flags are RunSpec's fields (Docker's flag names)."""
    from .container import run_printed

    return run_printed(image, list(command), **flags)
