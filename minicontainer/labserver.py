"""How `make lab` starts JupyterLab, the course's classroom (lesson 00).

JupyterLab is a web server: it shows files, runs notebook kernels and terminals. The course starts it

- on 127.0.0.1 only, with a token in the URL: nobody else on the network can reach it (from your
  laptop: `ssh -L 8888:127.0.0.1:8888 you@vm`, then open the URL it prints);
- at the repository's root, so the file browser shows `exercises/` (where you write every answer),
  `notebooks/` (the lessons) and `README.md`; it opens on `notebooks/00-welcome.ipynb`;
- with terminals: `minicontainer run -it busybox sh` wants one. The kernel already runs as root, so a
  terminal gives you nothing a notebook cell could not do;
- hiding `lessons/` (the lessons' text sources, for authors: they look like your exercise files).

Before it starts, it says in one line each what would stop the course on this host (another lab on
the port, no root, no overlayfs, no cgroups) and how to fix it, instead of failing in lesson 04.

    python -m minicontainer.labserver [--port 8888]        what `make lab` runs
    python -m minicontainer.labserver --print-config       the settings, as jupyter_server_config.json
    python -m minicontainer.labserver --url                the running lab's URL with its token (`make lab-url`)
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
from pathlib import Path

from .paths import repo_root

HOST = "127.0.0.1"
START_PAGE = "notebooks/00-welcome.ipynb"
# Jupyter's own hidden names, plus what only authors need to see.
HIDDEN = ["__pycache__", "*.pyc", "*.pyo", ".DS_Store", "*~", "*.egg-info", "lessons"]


def settings(root: Path, port: int = 8888) -> dict:
    """The JupyterLab settings of the classroom, as a jupyter_server_config.json would hold them."""
    return {
        "ServerApp": {
            "ip": HOST,                  # loopback only: reach it through `ssh -L`
            "port": port,
            "port_retries": 0,           # a taken port is an error, not a silent move to 8889
            "open_browser": False,
            "allow_root": True,          # the course runs as root: it makes namespaces, mounts, cgroups
            "root_dir": str(root),
            "terminals_enabled": True,
        },
        "LabApp": {"default_url": f"/lab/tree/{START_PAGE}"},
        "ContentsManager": {"hide_globs": HIDDEN},
    }


def command_line(root: Path, port: int, jupyter: str = "jupyter") -> list[str]:
    """`jupyter lab --Section.name=value ...` for the settings above."""
    args = [jupyter, "lab"]
    for section, values in settings(root, port).items():
        for name, value in values.items():
            if isinstance(value, list):
                args += [f"--{section}.{name}={item}" for item in value]
            else:
                args.append(f"--{section}.{name}={value}")
    return args


# --- what would stop the course, in one line each --------------------------------------------

def port_in_use(port: int, host: str = HOST) -> bool:
    """True when something already listens on host:port (binding it fails with EADDRINUSE)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: TIME_WAIT is no obstacle
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def running_lab(port: int) -> str:
    """The URL of a Jupyter server of this machine listening on `port`, or "" (from Jupyter's runtime files)."""
    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:
        return ""
    for info in Path(jupyter_runtime_dir()).glob("jpserver-*.json"):
        try:
            data = json.loads(info.read_text())
        except (OSError, ValueError):
            continue
        if data.get("port") == port:
            token = data.get("token", "")
            return f"{data.get('url', f'http://{HOST}:{port}/').rstrip('/')}/lab" + (f"?token={token}" if token else "")
    return ""


def port_problem(port: int) -> str:
    """One line saying the port is taken, by what, and what to do; "" when it is free."""
    if not port_in_use(port):
        return ""
    url = running_lab(port)
    there = f"a JupyterLab already runs there: {url}" if url else "another program listens there"
    return (f"make lab: port {port} on {HOST} is taken ({there}). "
            f"Fix: use that lab, stop it (Ctrl-C where it runs), or start another one with `make lab PORT={port + 1}`.")


def cgroup_problem(cgroup_root: str = "/sys/fs/cgroup", cmdline: str = "/proc/cmdline") -> str:
    """One line when the memory, cpu or pids controller is missing (lesson 03, -m/--cpus/--pids-limit)."""
    from .doctor import cgroup_setup

    version, controllers = cgroup_setup(cgroup_root)
    missing = sorted({"memory", "cpu", "pids"} - {c.split()[0] for c in controllers})
    if not missing:
        return ""
    try:
        boot = Path(cmdline).read_text().split()
    except OSError:
        boot = []
    disabled = [arg for arg in boot if arg.startswith(("cgroup_disable=", "cgroup_no_v1="))]
    if version == "none":
        fix = "mount them (mount -t cgroup2 none /sys/fs/cgroup) or boot a distribution kernel with systemd"
        what = f"no cgroup filesystem at {cgroup_root}"
    else:
        what = f"cgroups {version} without the {', '.join(missing)} controller(s)"
        fix = "enable them (on v2: echo +memory +cpu +pids > /sys/fs/cgroup/cgroup.subtree_control)"
    if disabled:
        fix = (f"the kernel was booted with {' '.join(disabled)}: remove it from GRUB_CMDLINE_LINUX in "
               "/etc/default/grub, run update-grub and reboot")
    return f"make lab: warning: {what}: lesson 03 and the -m/--cpus/--pids-limit flags cannot work. Fix: {fix}."


def overlay_problem(filesystems: str = "/proc/filesystems") -> str:
    """One line when the kernel has no overlayfs (lesson 04; image containers then copy their layers)."""
    from .unionfs import overlay_available

    if overlay_available(filesystems):
        return ""
    return ("make lab: warning: this kernel has no overlayfs: lesson 04 cannot mount overlays, and containers "
            "of images copy their layers instead (slower). Fix: modprobe overlay (Debian's and Ubuntu's "
            "kernels have it; a minimal cloud kernel may need linux-modules-extra-$(uname -r)).")


def preflight(port: int) -> tuple[list[str], list[str]]:
    """(errors that stop the lab, warnings that do not), one line each."""
    errors, warnings = [], []
    if os.geteuid() != 0:
        errors.append("make lab: this needs root (the lessons create namespaces, mounts and cgroups). "
                      "Fix: sudo make lab (as root: make lab).")
    problem = port_problem(port)
    if problem:
        errors.append(problem)
    warnings += [w for w in (overlay_problem(), cgroup_problem()) if w]
    return errors, warnings


def main(argv: list[str] | None = None) -> int:
    """Check, then replace this process with JupyterLab (so Ctrl-C and systemd stop the server itself)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m minicontainer.labserver", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8888")))
    parser.add_argument("--print-config", action="store_true", help="print the settings as JSON and exit")
    parser.add_argument("--check", action="store_true", help="only the checks: exit 1 when the lab cannot start")
    parser.add_argument("--check-port", action="store_true", help="only check that the port is free (before installing)")
    parser.add_argument("--url", action="store_true", help="print the URL (with its token) of the lab running on the port")
    parser.add_argument("--wait", type=float, default=0, help="with --url: wait up to this many seconds for the lab")
    args = parser.parse_args(argv)
    root = repo_root()
    if args.print_config:
        print(json.dumps(settings(root, args.port), indent=2))
        return 0
    if args.url:
        import time

        deadline = time.monotonic() + args.wait
        while not (url := running_lab(args.port)) and time.monotonic() < deadline:
            time.sleep(1)
        if not url:
            print(f"no JupyterLab runs on {HOST}:{args.port}: start one with `make lab`", file=sys.stderr)
            return 1
        print(url)
        return 0
    if args.check_port:
        problem = port_problem(args.port)
        if problem:
            print(problem, file=sys.stderr)
        return 1 if problem else 0
    errors, warnings = preflight(args.port)
    for line in errors + warnings:
        print(line, file=sys.stderr)
    if errors:
        return 1
    if args.check:
        return 0
    bin_dir = Path(sys.executable).parent
    # Terminals inherit this PATH: `minicontainer` and the venv's python are found there.
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    print(f"Starting JupyterLab on {HOST}:{args.port}: open the URL with the token it prints "
          f"(from another machine: ssh -L {args.port}:{HOST}:{args.port} you@this-vm).", flush=True)
    cmd = command_line(root, args.port, str(bin_dir / "jupyter"))
    os.chdir(root)
    os.execv(cmd[0], cmd)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
