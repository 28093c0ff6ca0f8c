"""`version`, `info` and `top`: what the runtime and its host are, and what runs in a container (lesson 09).

`docker version` names a Client and a Server, because Docker is two programs: the CLI, and the
daemon (dockerd, with containerd and runc behind it) it talks to over a socket. minicontainer is
one program and no daemon, so `version` names the one program and the kernel it drives. `docker
info` counts the daemon's containers and images and describes the host (storage driver, cgroup
version, kernel, CPUs, memory); `info` does the same from the records on disk and /proc.

`top` is Docker's algorithm: run the host's `ps` (with the user's options, `-ef` by default) and keep
the rows whose PID is one of the container's processes, which are those in the PID namespace of its
PID 1 (the same /proc/PID/ns/pid inode).
"""

from __future__ import annotations

import os
import platform

from . import __version__
from .paths import Paths

ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


def version() -> dict:
    """`version`: Docker's two sections; the second is the kernel, as there is no server."""
    uname = os.uname()
    os_arch = f"linux/{ARCH.get(uname.machine, uname.machine)}"
    return {
        "Client": {"Platform": {"Name": "minicontainer"}, "Version": __version__, "ApiVersion": "none (no daemon)",
                   "GoVersion": "", "PythonVersion": platform.python_version(), "Os": "linux",
                   "Arch": ARCH.get(uname.machine, uname.machine), "OsArch": os_arch},
        "Server": {"Platform": {"Name": "none: every command drives the kernel itself, one monitor per container"},
                   "KernelVersion": uname.release, "Os": "linux", "Arch": ARCH.get(uname.machine, uname.machine)},
    }


def render_version(v: dict) -> str:
    c, s = v["Client"], v["Server"]
    return "\n".join([
        "Client: minicontainer",
        f" Version:           {c['Version']}",
        f" API version:       {c['ApiVersion']}",
        f" Python version:    {c['PythonVersion']}",
        f" OS/Arch:           {c['OsArch']}",
        "",
        f"Server: {s['Platform']['Name']}",
        f" Kernel version:    {s['KernelVersion']}",
    ])


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def _memory() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def info(paths: Paths) -> dict:
    """`info`: the containers by state, the images, and the host, under Docker's key names."""
    from . import cgroups
    from .container import default_network
    from .state import EXITED, RUNNING, all_containers, is_running
    from .unionfs import choose_driver
    every = all_containers(paths)
    running = sum(1 for c in every if is_running(c))
    try:
        from .image import Store
        images = len({image.id for image in Store(paths).images()})  # (images, not names: Docker's count)
    except Exception:  # noqa: BLE001 - a store that cannot be read counts none
        images = 0
    setup = cgroups.detect() if cgroups.available() else None
    rootless = os.geteuid() != 0
    return {
        "Containers": len(every), "ContainersRunning": running, "ContainersPaused": 0,
        "ContainersStopped": sum(1 for c in every if c.status == EXITED or (c.status == RUNNING and not is_running(c))),
        "Images": images, "Driver": "overlay" if choose_driver() == "overlay" else "vfs (copy)",
        "CgroupDriver": "cgroupfs" if setup else "none", "CgroupVersion": (setup.driver[1:] + (" (hybrid host)" if setup.version == "hybrid" else "")) if setup else "",
        "KernelVersion": os.uname().release, "OperatingSystem": _os_name(), "OSType": "linux",
        "Architecture": os.uname().machine, "NCPU": os.cpu_count() or 0, "MemTotal": _memory(),
        "DockerRootDir": paths.lib_root, "RunDir": paths.run_root,
        "DefaultNetwork": default_network(rootless),
        "SecurityOptions": ["name=seccomp,profile=builtin"] + (["name=rootless"] if rootless else []),
        "Daemon": "none: each container has a monitor of its own (lesson 09)",
        "Name": os.uname().nodename,
        **registry_config(),
    }


def registry_config() -> dict:
    """daemon.json's registry settings as `docker info` shows them: the insecure registries (loopback
    always among them) and the mirrors (the primers check a mirror took effect this way). A daemon.json
    that cannot be read is a warning here, as it is an error for pull and push."""
    from .errors import ContainerError
    from .registry.insecure import insecure_registries
    from .registry.mirrors import configured_mirrors
    try:
        entries, mirrors, warnings = insecure_registries(), configured_mirrors(), []
    except ContainerError as exc:
        entries, mirrors, warnings = [], [], [str(exc)]
    indexes = {"docker.io": {"Name": "docker.io", "Mirrors": mirrors, "Secure": True, "Official": True}}
    indexes.update({e: {"Name": e, "Mirrors": [], "Secure": False, "Official": False} for e in entries if "/" not in e})
    cidrs = [e for e in entries if "/" in e] + ["127.0.0.0/8"]
    return {"RegistryConfig": {"InsecureRegistryCIDRs": cidrs, "IndexConfigs": indexes, "Mirrors": mirrors},
            "Warnings": warnings}


def render_info(i: dict) -> str:
    return "\n".join([
        f"Containers: {i['Containers']}",
        f" Running: {i['ContainersRunning']}",
        f" Paused: {i['ContainersPaused']}",
        f" Stopped: {i['ContainersStopped']}",
        f"Images: {i['Images']}",
        f"Storage Driver: {i['Driver']}",
        f"Cgroup Driver: {i['CgroupDriver']}",
        f"Cgroup Version: {i['CgroupVersion']}",
        f"Default Network: {i['DefaultNetwork']}",
        "Security Options:",
        *[f" {o}" for o in i["SecurityOptions"]],
        f"Kernel Version: {i['KernelVersion']}",
        f"Operating System: {i['OperatingSystem']}",
        f"OSType: {i['OSType']}",
        f"Architecture: {i['Architecture']}",
        f"CPUs: {i['NCPU']}",
        f"Total Memory: {i['MemTotal'] / (1 << 30):.2f}GiB",
        f"Name: {i['Name']}",
        f"Root Dir: {i['DockerRootDir']}",
        f"Run Dir: {i['RunDir']}",
        f"Daemon: {i['Daemon']}",
        "Insecure Registries:",
        *[f" {name}" for name, index in i["RegistryConfig"]["IndexConfigs"].items() if not index["Secure"]],
        *[f" {cidr}" for cidr in i["RegistryConfig"]["InsecureRegistryCIDRs"]],
        *(["Registry Mirrors:"] + [f" {m}" for m in i["RegistryConfig"]["Mirrors"]] if i["RegistryConfig"]["Mirrors"] else []),
        *[f"WARNING: {w}" for w in i["Warnings"]],
    ])


# --- top -----------------------------------------------------------------------------------------

def pids_in(pid: int, proc: str = "/proc") -> set[int]:
    """The host PIDs of every process in the PID namespace of process `pid` (its PID 1)."""
    try:
        target = os.stat(f"{proc}/{pid}/ns/pid").st_ino
    except OSError:
        return set()
    found = set()
    for name in os.listdir(proc):
        if name.isdigit():
            try:
                if os.stat(f"{proc}/{name}/ns/pid").st_ino == target:
                    found.add(int(name))
            except OSError:
                continue  # gone meanwhile
    return found


def top(pid: int, ps_args: list[str]) -> list[list[str]]:
    """`top`: the host's `ps ps_args` (default -ef), the header and the rows of the container's processes."""
    import subprocess

    from .errors import ContainerError
    done = subprocess.run(["ps", *(ps_args or ["-ef"])], capture_output=True, text=True)
    if done.returncode != 0:
        raise ContainerError(f"ps: {done.stderr.strip()}", step="top", fix="give options the host's ps accepts")
    lines = done.stdout.splitlines()
    header = lines[0].split()
    if "PID" not in header:
        raise ContainerError("Couldn't find PID field in ps output", step="top", fix="give ps options that show PID")
    column = header.index("PID")
    ours = pids_in(pid)
    rows = [header]
    for line in lines[1:]:
        fields = line.split(None, len(header) - 1)
        if len(fields) > column and fields[column].isdigit() and int(fields[column]) in ours:
            rows.append(fields)
    return rows

