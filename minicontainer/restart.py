"""Restart policies: `--restart no|on-failure[:N]|always|unless-stopped` (lesson 09).

Docker keeps a container's restart policy in its daemon (dockerd's restartmanager). minicontainer
has no daemon: the container's own monitor (monitor.py) applies it when the workload ends. Three
questions, each one function here:

    parse(text)          is it a policy at all?        "on-failure:2" -> Policy("on-failure", 2)
    should_restart(...)  start it again?               Docker's rules, below
    delay(previous, ran) how long to wait first        100 ms, doubling to at most 1 min; back to
                                                       100 ms after a run of 10 s or more

Docker's rules (restartmanager.ShouldRestart):

    no               never
    always           always, unless `stop` or `kill` ended it (they cancel the policy)
    unless-stopped   the same here; the difference is when dockerd itself restarts: an `always`
                     container comes back then, an `unless-stopped` one that was stopped does not.
                     There is no daemon to restart here.
    on-failure[:N]   when the exit code is not 0, and (with N) fewer than N restarts so far

`stop` and `kill` leave a marker file beside the record (state.STOP_FILE): the monitor reads it
when the workload ends, and `start` removes it.
"""

from __future__ import annotations

from .errors import UsageError
from .record import Record

NAMES = ("no", "always", "on-failure", "unless-stopped")
FIRST_DELAY, MAX_DELAY, RESET_AFTER = 0.1, 60.0, 10.0  # seconds (Docker's restartmanager)


class Policy(Record, frozen=True):
    """A parsed --restart value; `maximum` only for on-failure (0: no maximum)."""

    name: str = "no"
    maximum: int = 0

    def __str__(self) -> str:
        return f"{self.name}:{self.maximum}" if self.maximum else self.name


def parse(text: str) -> Policy:
    """`--restart TEXT` with Docker's checks and words; "" is "no"."""
    if not text:
        return Policy()
    name, colon, count = text.partition(":")
    fix = "use --restart no, always, unless-stopped, on-failure or on-failure:N"
    if colon and not name:
        raise UsageError("invalid restart policy format: no policy provided before colon", step="parse --restart",
                         fix=fix)
    maximum = 0
    if count:
        try:
            maximum = int(count)
        except ValueError:
            raise UsageError("invalid restart policy format: maximum retry count must be an integer",
                             step="parse --restart", fix=fix) from None
    if name not in NAMES:
        raise UsageError(f"invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', 'on-failure', "
                         "or 'unless-stopped'", step="parse --restart", fix=fix)
    if maximum and name != "on-failure":
        raise UsageError("invalid restart policy: maximum retry count can only be used with 'on-failure'",
                         step="parse --restart", fix=fix)
    if maximum < 0:
        raise UsageError("invalid restart policy: maximum retry count cannot be negative", step="parse --restart",
                         fix=fix)
    return Policy(name, maximum)


def should_restart(policy: str, exit_code: int, restart_count: int, stopped: bool) -> bool:
    """Does the container with `--restart policy` start again, now that its workload exited with
    `exit_code` after `restart_count` restarts? `stopped`: `stop` or `kill` ended it.

    The monitor calls this each time the workload ends (exercise 9.2 is this function)."""
    rule = parse(policy)
    if stopped or rule.name == "no":
        return False
    if rule.name in ("always", "unless-stopped"):
        return True
    return exit_code != 0 and (rule.maximum == 0 or restart_count < rule.maximum)


def delay(previous: float, ran_for: float) -> float:
    """Seconds to wait before the next start: Docker's back-off (100 ms, doubled each time, at most a
    minute; a run of 10 s or more starts the count again). `previous`: the last delay (0: none yet)."""
    if ran_for >= RESET_AFTER or previous == 0:
        return FIRST_DELAY
    return min(previous * 2, MAX_DELAY)
