#!/usr/bin/env python3
"""Run a command as a subreaper, as podman's conmon runs an OCI runtime: the containers' PID 1s that
`create` leaves behind become our children and are reaped here (this machine's own PID 1 may not).

    scripts/subreaper.py COMMAND [ARGS...]     exits with COMMAND's status once it and its orphans are done
"""

import ctypes
import os
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def main() -> int:
    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    pid = os.fork()
    if pid == 0:
        os.execvp(sys.argv[1], sys.argv[1:])
    code = 1
    deadline = None
    while True:
        try:
            done, status = os.waitpid(-1, 0 if deadline is None else os.WNOHANG)
        except ChildProcessError:
            return code
        if done == pid:
            code = os.waitstatus_to_exitcode(status)
            deadline = time.monotonic() + 10  # orphans still running: give them a moment, then leave them
        elif done == 0:
            if time.monotonic() > deadline:
                return code
            time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
