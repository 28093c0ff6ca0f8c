"""Processes as the kernel shows them: /proc/PID/stat and wait statuses (lesson 02).

The runtime needs three facts about processes, and this module is where each is read:

  - who is alive:  a PID alone is not enough, PIDs are re-used. Field 22 of /proc/PID/stat, the
                   start time (in clock ticks since boot), tells a process from a later one with
                   the same PID, so state.json records (PID, start time) pairs;
  - who is the parent: field 4 (PID 1 checks that the helper that forked it is still there);
  - how a process ended: waitpid(2) gives a *wait status*; a shell shows it as the exit code, or
                   128 + the signal that killed the process (`sh -c 'kill -9 $$'; echo $?` is 137).

/proc/PID/stat is one line: `PID (COMMAND) STATE PPID PGRP ...`. The command may contain spaces
and parentheses, so the fields are counted from the *last* ')'. Numbers below are those of
`man 5 proc` (counting from 1).

Every function takes `proc` (where procfs is mounted) as a parameter, so it can be pointed at
another mount of /proc (a container's) or at a test directory.
"""

from __future__ import annotations

import os

STATE, PPID, START_TIME, ARG_START, ARG_END = 3, 4, 22, 48, 49  # field numbers of `man 5 proc`
FIRST = 3  # the first field after `(COMMAND)`: stat_fields()[0] is field 3


def stat_fields(pid: int | str = "self", proc: str = "/proc") -> list[bytes]:
    """The fields of /proc/PID/stat from field 3 (the state) on; OSError when there is no such process."""
    with open(f"{proc}/{pid}/stat", "rb") as f:
        data = f.read()
    return data[data.rindex(b")") + 2:].split()


def field(fields: list[bytes], number: int) -> int:
    """Field `number` (man 5 proc numbering) of stat_fields()' list, as an integer."""
    return int(fields[number - FIRST])


def start_time(pid: int | str, proc: str = "/proc") -> int:
    """When the process started (clock ticks since boot), or 0 when it is gone or a zombie."""
    try:
        fields = stat_fields(pid, proc)
    except OSError:
        return 0
    return 0 if fields[0] in (b"Z", b"X") else field(fields, START_TIME)


def parent_pid(pid: int | str = "self", proc: str = "/proc") -> int:
    """The PID of the process's parent, as this /proc's PID namespace sees it (0: none, or outside it)."""
    return field(stat_fields(pid, proc), PPID)


def alive(pid: int, start: int) -> bool:
    """Is this exact process (not a later one that re-used its PID) still there?"""
    return pid > 0 and start != 0 and start_time(pid) == start


def exit_status(status: int) -> int:
    """A wait status as a shell shows it: the exit code, or 128 + the signal that killed the process."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def wait(pid: int) -> int:
    """Wait for our child `pid` to end and return its exit_status(); 125 if it is not our child."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            return 125
        except InterruptedError:
            continue
        return exit_status(status)
