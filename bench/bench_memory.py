"""What the runtime keeps in memory per detached container, beside podman's conmon (lesson 09).

`minicontainer run -d` leaves one process per container on the host: its monitor (detach.py), which
waits for PID 1, applies the restart policy and cleans up. This measures, for 1 and for 50 detached
`busybox sleep` containers on the default network (the bridge), every process the runtime keeps
per container (the monitor and any other runtime process under it, not the workload itself):

  - how many there are, and how many of them are Python interpreters;
  - their PSS (proportional set size, /proc/PID/smaps_rollup): each page counted once in total,
    divided among the processes that share it, so that summing PSS over processes never counts a
    shared library twice. RSS would count libpython's pages once per process.

Beside it, the same for podman 4 (Debian's), whose per-container process is conmon, written in C;
podman itself exits once the container runs, as `minicontainer run -d` does. (Docker's
containerd-shim-runc-v2 plays the same role; Docker is not installed here, see the report.)
Run as root: `.venv/bin/python bench/bench_memory.py [N]`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PODMAN_CGROUP = "mc-bench-podman"
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]  # (podman's defaults exceed this host's)


def pss_kib(pid: int) -> int:
    """The process's PSS in KiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    found = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(p) for p in (task / "children").read_text().split()]
    except OSError:
        pass
    return found


def exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def runtime_processes(top: int, workload: int) -> list[int]:
    """`top` and its descendants, without the workload (PID 1, when it runs the user's program) and its own."""
    out, todo = [], [top]
    while todo:
        pid = todo.pop()
        if pid == workload and "python" not in exe(pid):
            continue  # the container's own program: not the runtime's
        out.append(pid)
        todo += children(pid)
    return out


def report(name: str, per_container: list[list[int]]) -> str:
    n = len(per_container)
    processes = sum(len(p) for p in per_container)
    pythons = sum(1 for p in per_container for pid in p if "python" in exe(pid))
    total = sum(pss_kib(pid) for p in per_container for pid in p)
    return (f"{name}: {n} container(s): {processes / n:.1f} runtime process(es) each ({pythons / n:.1f} Python), "
            f"PSS {total / n / 1024:.2f} MiB each ({total / 1024:.1f} MiB in all)")


def minicontainer(n: int, launcher: str, env: dict) -> str:
    from minicontainer.state import load
    from minicontainer.paths import Paths
    paths = Paths(env["MC_LIB_DIR"], env["MC_RUN_DIR"])
    ids = []
    try:
        for _ in range(n):
            done = subprocess.run([launcher, "run", "-d", "busybox", "sleep", "600"], env=env, capture_output=True,
                                  text=True)
            if done.returncode != 0:
                raise SystemExit(f"run -d failed: {done.stderr}")
            ids.append(done.stdout.strip())
        time.sleep(1.0)  # let every monitor reach its resting state
        kept = []
        for cid in ids:
            c = load(paths, cid)
            kept.append(runtime_processes(c.monitor_pid, c.pid))
        return report(f"minicontainer ({launcher.rsplit('/', 1)[-1]} run -d)", kept)
    finally:
        subprocess.run([launcher, "rm", "-f", *ids], env=env, capture_output=True)


def podman(n: int, image_tar: Path, work: Path) -> str:
    """The same with podman + conmon (+ runc), in a storage of its own that is removed afterwards."""
    base = ["podman", "--root", str(work / "storage"), "--runroot", str(work / "runroot"),
            "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none",
            "--runtime", "runc"]  # (crun 1.8 refuses this host's hybrid cgroups; runc does not)
    subprocess.run([*base, "load", "-q", "-i", str(image_tar)], check=True, capture_output=True)
    image = "localhost/busybox:latest"
    names = []
    try:
        for i in range(n):
            name = f"mc-bench-{i}"
            subprocess.run([*base, "run", "-d", "--name", name, "--network", "none", *ULIMITS, "--cgroup-parent",
                            f"/{PODMAN_CGROUP}", image, "sleep", "600"],
                           check=True, capture_output=True)
            names.append(name)
        time.sleep(1.0)
        kept = []
        for name in names:
            pid = int(subprocess.run([*base, "inspect", "-f", "{{.State.Pid}}", name], capture_output=True,
                                     text=True, check=True).stdout)
            conmon = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])  # its parent
            kept.append(runtime_processes(conmon, pid))
        return report("podman 4 + conmon (vfs, --network none)", kept)
    finally:
        if names:
            subprocess.run([*base, "rm", "-f", "-t", "0", *names], capture_output=True)
        subprocess.run([*base, "rmi", "-a", "-f"], capture_output=True)
        remove_cgroups(PODMAN_CGROUP)


def remove_cgroups(parent: str) -> None:
    """podman leaves conmon's groups and the parent in every hierarchy: remove them, deepest first."""
    for base in [*Path("/sys/fs/cgroup").glob(f"*/{parent}"), *Path("/sys/fs/cgroup").glob(parent)]:
        for top, _, _ in sorted(os.walk(base), key=lambda w: -w[0].count("/")):
            deadline = time.monotonic() + 5
            while os.path.isdir(top) and time.monotonic() < deadline:
                try:
                    os.rmdir(top)
                except OSError:
                    time.sleep(0.05)


def main(n: int = 50) -> None:
    sys.path.insert(0, str(ROOT))
    launcher = str(ROOT / ".venv" / "bin" / "minicontainer")
    work = Path(tempfile.mkdtemp(prefix="mc-bench-memory-"))
    env = dict(os.environ, MC_RUN_DIR=str(work / "run"), MC_LIB_DIR=str(work / "lib"),
               MC_BRIDGE="mcbench0", MC_SUBNET="10.213.7.0/24", MC_DAEMON_JSON=str(work / "no-daemon.json"))
    try:
        subprocess.run([sys.executable, "-m", "minicontainer", "prepare"], env=env, check=True, capture_output=True)
        tar = work / "busybox.tar"
        subprocess.run([launcher, "save", "-o", str(tar), "busybox"], env=env, check=True, capture_output=True)
        for count in (1, n):
            print(minicontainer(count, launcher, env))
            if shutil.which("podman"):
                print(podman(count, tar, work / "podman"))
    finally:
        from minicontainer.network import sweep
        from minicontainer.paths import Paths
        sweep(Paths(env["MC_LIB_DIR"], env["MC_RUN_DIR"]))
        subprocess.run(["umount", "-R", str(work / "podman" / "storage")], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
