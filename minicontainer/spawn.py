"""Starting the container's first process, and the handshake with it (lesson 02).

`run`, `run -d`, `start` and `exec` all start a container process the same way (runc's
parentProcess.start() for its init and setns processes alike):

  1. two pipes:  go      runtime -> container  "maps" (uid/gid maps written), "go" (all ready)
                 report  container -> runtime  "userns", "pid N", or one JSON error line
  2. start():    the container's PID 1 (process.pid1), forked straight into a new PID namespace:
                 unshare(CLONE_NEWPID) applies to the caller's next child, and we take it back at
                 once (setns to our own PID namespace) so that our later children stay on the host.
                 When that cannot be done here (a caller with several threads: a Jupyter kernel; a
                 rootless container, whose user namespace must come first) a fresh single-threaded
                 *helper* process (process.helper) does it and forks PID 1. For `exec` the helper is
                 process.exec_helper, which joins the namespaces and forks the command.
                 Either stops before the workload and waits on the go pipe.
  3. Helper.child_pid():  wait for "pid N" (answering "userns" with the uid/gid maps first)
  4. Helper.go():         send "go";  Helper.started(): read the report pipe to its end. Its write
                 end is close-on-exec: the workload's execve closes it, so end-of-file means "it
                 runs"; an error line instead means it never started (ContainerError, with its step).
  5. Helper.wait():       the exit status of the process we started (PID 1 itself, or the helper,
                 which waits for it) is the workload's.

Why a fresh process in those cases: namespace work (unshare, setns) must never run in a process
with several threads (a Jupyter kernel has some), and fork() of such a process may deadlock. So a
single-threaded caller forks (everything is imported already: fast), a threaded one starts
`python -I -S` that imports the same function (fresh()).
"""

from __future__ import annotations

import os
import sys

import _signal as signal  # `signal` without its enum classes: saves ~4 ms a run (bench/bench_start_tricks.py)

from . import quickjson  # json's C parser without json and re: saves ~8 ms a run (bench/bench_start_tricks.py)
from . import syscalls
from .errors import ContainerError
from .proc import wait

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))  # where a fresh python finds the package

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable


# --- the messages ----------------------------------------------------------------------------

def send(fd: int, text: str) -> None:
    """One line on a pipe (small writes to a pipe are atomic)."""
    os.write(fd, text.encode() + b"\n")


def read_line(fd: int) -> str:
    """Read one line from a pipe byte by byte (no buffering: the rest belongs to later readers)."""
    out = bytearray()
    while True:
        b = os.read(fd, 1)
        if not b or b == b"\n":
            return out.decode()
        out += b


def read_all(fd: int) -> str:
    """Everything until the writers close the pipe."""
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks).decode()
        chunks.append(chunk)


def send_error(fd: int, step: str, exc: BaseException) -> int:
    """Report `exc` (raised during `step`) as one JSON line; returns the exit status to use.

    `exc` may say more than its message: its own step, path and fix (ContainerError, process.StepError)
    and the exit status Docker gives (exit_status: 126 a command that cannot run, 127 one not found)."""
    info = {"step": getattr(exc, "step", "") or step, "message": getattr(exc, "message", "") or str(exc),
            "path": getattr(exc, "path", "") or getattr(exc, "filename", "") or "",
            "fix": getattr(exc, "fix", ""), "exit": getattr(exc, "exit_status", 125)}
    if fd < 0:  # [oci] after `create` returned nobody reads the pipe: say it on stderr, as runc's init does
        line = f"minicontainer: {info['step']}: {info['message']}" + (f" ({info['path']})" if info["path"] else "")
        try:
            os.write(2, line.encode() + b"\n")
        except OSError:
            pass
        return info["exit"]
    try:
        send(fd, "error " + quickjson.dumps(info))
    except OSError:
        pass
    return info["exit"]


def child_error(line: str, step: str) -> ContainerError:
    """The error a child reported (send_error's line) as a ContainerError; `exit_status`: Docker's code.

    Anything else (an empty line: the child died without a word) becomes a generic error of `step`."""
    if line.startswith("error "):
        info = quickjson.loads(line[6:])
        err = ContainerError(info["message"], step=info["step"], path=info.get("path", ""), fix=info.get("fix", ""))
        err.exit_status = info.get("exit", 125)
        return err
    err = ContainerError("the container's helper exited before it was ready", step=step,
                         fix="run `minicontainer doctor` to check this host supports namespaces")
    err.exit_status = 125
    return err


# --- a fresh single-threaded process ------------------------------------------------------------

def single_threaded() -> bool:
    """fork() is safe only in a process with one thread (a Jupyter kernel has several)."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def fork_in_new_pid_namespace() -> int:
    """os.fork(), the child being PID 1 of a new PID namespace; our own later children stay in ours.

    unshare(CLONE_NEWPID) changes only where our *children* go, and may be called once: after it,
    the kernel refuses a second one until we point our children back at our own namespace, which
    setns() on /proc/self/ns/pid does (a process may enter the PID namespace it is in)."""
    own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    pid = -1
    try:
        syscalls.unshare(syscalls.CLONE_NEWPID)
        try:
            pid = os.fork()
        finally:
            if pid != 0:  # (the child is where it should be)
                syscalls.setns(own, syscalls.CLONE_NEWPID)
    finally:
        os.close(own)
    return pid


def fresh(target: Callable[[dict], int], cfg: dict, stdio: tuple[int, int, int] | None = None,
          keep: tuple[int, ...] = (), close: tuple[int, ...] = (), new_pid_namespace: bool = False,
          interpreter: bool = False) -> int:
    """Run `target(cfg)` in a new single-threaded process; returns its PID. It exits with what target returns.

    `stdio`: its fds 0-2 (None: ours). `keep`: fds it needs (by the same numbers); `close`: ours it
    must not keep (the other ends of its pipes, or it would never see end-of-file on them).
    `new_pid_namespace`: fork it as PID 1 of a new PID namespace (only from a single-threaded process).
    `interpreter`: always a fresh `python -I -S`, which imports only what `target` needs (a process
    that lives long, such as a detached monitor, then carries none of our imports)."""
    if single_threaded() and not interpreter:
        pid = fork_in_new_pid_namespace() if new_pid_namespace else os.fork()
        if pid == 0:
            code = 125
            try:
                for fd in close:
                    os.close(fd)
                for number, fd in enumerate(stdio or ()):
                    if fd != number:
                        os.dup2(fd, number)
                code = target(cfg)
            finally:
                os._exit(code)  # never return into the caller's code
        return pid
    import subprocess
    cfg_r, cfg_w = os.pipe()
    boot = f"import sys; sys.path.insert(0, {ROOT!r}); from minicontainer.spawn import main; main()"
    null = subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", boot, str(cfg_r), target.__module__, target.__name__,
                             *map(str, keep)], pass_fds=(cfg_r, *keep), stdin=stdio[0] if stdio else null,
                            stdout=stdio[1] if stdio else null, stderr=stdio[2] if stdio else null)
    os.close(cfg_r)
    with os.fdopen(cfg_w, "w") as f:
        f.write(quickjson.dumps(cfg))
    proc.returncode = 0  # we reap it ourselves with waitpid; stop Popen from trying again
    return proc.pid


def main() -> None:
    """`python -I -S` started by fresh(): read the config from the fd in argv, run the target function."""
    fd, module, name, *keep = sys.argv[1:]
    for kept in keep:  # close-on-exec again, as os.pipe() made them (pass_fds cleared it): a workload's
        os.set_inheritable(int(kept), False)  # execve must close the report pipe, or we never see its end
    with os.fdopen(int(fd), "rb") as f:
        cfg = quickjson.loads(f.read())
    if os.environ.get("MC_IMPL"):  # --yours: the learner's functions, loaded here too, before any fork
        from . import seams
        seams.use()
    __import__(module)
    os._exit(getattr(sys.modules[module], name)(cfg))


# --- the runtime's side of the handshake -----------------------------------------------------

class Helper:
    """A started helper and our ends of its two pipes (see the module's docstring for the steps)."""

    def __init__(self, pid: int, go_w: int, report_r: int) -> None:
        self.pid = pid            # the helper (0 once reaped)
        self.go_w = go_w          # -1 once closed
        self.report_r = report_r
        self.exit_code: int | None = None

    def child_pid(self, step: str, on_userns: Callable[[int], None] | None = None) -> int:
        """Step 3: the PID (on the host) of the helper's child: PID 1, or the exec'd process."""
        message = read_line(self.report_r)
        if message == "userns" and on_userns is not None:  # rootless: the helper is in a new user namespace
            on_userns(self.pid)                               # and waits for its uid/gid maps
            send(self.go_w, "maps")
            message = read_line(self.report_r)
        if not message.startswith("pid "):
            raise child_error(message, step)
        return int(message.split()[1])

    def go(self) -> None:
        """Step 4: let the child set up and start the workload (started() waits for the outcome)."""
        send(self.go_w, "go")
        os.close(self.go_w)
        self.go_w = -1

    def started(self, step: str) -> None:
        """Return once the workload runs: its execve closed the report pipe (end-of-file).

        An error line instead means it never started: the helper exits, and we raise that error."""
        rest = read_all(self.report_r)
        if rest:
            self.wait()
            raise child_error(rest.splitlines()[0], step)

    def created(self, step: str) -> None:
        """[oci] `create`: return once PID 1 said "created" (ready, waiting for `start`); raise its error.

        This replaces started() for a bundle: the workload does not run yet, the pipe stays quiet."""
        line = read_line(self.report_r)
        if line != "created":
            raise child_error(line, step)

    def wait(self) -> int:
        """Step 5: wait for the helper; its exit status is the workload's."""
        if self.pid:
            self.exit_code = wait(self.pid)
            self.pid = 0
        return self.exit_code if self.exit_code is not None else 125

    def close(self) -> None:
        """Kill the helper if it still runs (something failed half-way), reap it, close our pipe ends."""
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.wait()
        for fd in (self.go_w, self.report_r):
            if fd >= 0:
                os.close(fd)
        self.go_w = self.report_r = -1


def can_fork_pid_1(cfg: dict) -> bool:
    """May this process fork a container's PID 1 itself? One thread, no user namespace to make first, a
    new PID namespace, and [oci] no namespace to join by path nor a PID 1 to leave behind (`create`)."""
    return (not cfg.get("userns") and not cfg.get("join") and not cfg.get("leave_init")
            and "pid" in cfg["namespaces"] and single_threaded())


def start(target: Callable[[dict], int], cfg: dict, stdio: tuple[int, int, int],
          pid1: Callable[[dict], int] | None = None) -> Helper:
    """Steps 1-2: the pipes, and `target` (process.helper or process.exec_helper) in a fresh process;
    or, given `pid1` (process.pid1) and when can_fork_pid_1(), PID 1 itself, forked by us."""
    go_r, go_w = os.pipe()
    report_r, report_w = os.pipe()
    direct = pid1 is not None and can_fork_pid_1(cfg)
    cfg = dict(cfg, go_fd=go_r, report_fd=report_w, runtime_pid=os.getpid(), parent_pid=os.getpid())
    try:
        pid = fresh(pid1 if direct else target, cfg, stdio, keep=(go_r, report_w), close=(go_w, report_r),
                    new_pid_namespace=direct)
    except BaseException:
        for fd in (go_r, go_w, report_r, report_w):
            os.close(fd)
        raise
    os.close(go_r)
    os.close(report_w)
    return Helper(pid, go_w, report_r)
