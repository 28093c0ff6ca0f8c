"""What this host supports, and how to fix what it lacks (lesson 00).

A container runtime is a user of kernel features: namespaces, cgroups, overlayfs, seccomp. Before a
lesson uses one, it asks the doctor, which *tries* each feature in a throw-away child process (reading
a file is not proof: Binder has /proc/self/ns/* but forbids unshare) and turns every gap into one
line a learner can act on.

    from minicontainer.doctor import diagnose, render, require
    print(render(diagnose()))        # the whole table, as `minicontainer doctor` prints it
    require("root", "pid-ns")        # in a lesson's first cell: explain and stop if missing
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import ContainerError
from .paths import Paths
from .privileges import CAP_SYS_ADMIN, has_capability

NAMESPACES = ["mnt", "uts", "ipc", "pid", "net", "user", "cgroup", "time"]
# What the first lessons cannot do without; the rest only limits later lessons.
ESSENTIAL = ["root", "mount-ns", "uts-ns", "ipc-ns", "pid-ns", "net-ns", "busybox"]
TOOLS = {
    "nftables": ("nft", "nftables", "lesson 07 (NAT, published ports)"),
    "docker-registry": ("docker-registry", "docker-registry", "lesson 06 (the lab registry)"),
    "skopeo": ("skopeo", "skopeo", "lessons 05-06 (interop checks)"),
    "umoci": ("umoci", "umoci", "lesson 05 (interop checks)"),
    "runc": ("runc", "runc", "benchmarks (the reference runtime)"),
}


@dataclass
class Finding:
    """One thing the doctor looked at."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    needed_for: str = ""


@dataclass
class Report:
    """Everything the doctor found."""

    findings: list[Finding] = field(default_factory=list)

    def get(self, name: str) -> Finding:
        for f in self.findings:
            if f.name == name:
                return f
        raise KeyError(f"the doctor has no check named {name!r}; known: {', '.join(f.name for f in self.findings)}")

    @property
    def course_can_run(self) -> bool:
        return all(self.get(name).ok for name in ESSENTIAL)

    def to_json(self) -> str:
        return json.dumps({"course_can_run": self.course_can_run, "findings": [asdict(f) for f in self.findings]},
                          indent=2)


# --- probes -------------------------------------------------------------------------------------

# Runs in a fresh single-threaded interpreter: for each namespace type, fork and try unshare(2) in
# the child, so that the probe itself never changes namespaces. As root it also tries an overlay mount.
_PROBE = r"""
import json, os, sys, tempfile
sys.path.insert(0, sys.argv[1])
from minicontainer import syscalls as s
flags = {"mnt": s.CLONE_NEWNS, "uts": s.CLONE_NEWUTS, "ipc": s.CLONE_NEWIPC, "pid": s.CLONE_NEWPID,
         "net": s.CLONE_NEWNET, "user": s.CLONE_NEWUSER, "cgroup": s.CLONE_NEWCGROUP, "time": s.CLONE_NEWTIME}

def attempt(fn):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            fn()
            msg = "ok"
        except Exception as exc:
            msg = str(exc) or type(exc).__name__
        os.write(w, msg.encode()[:4000])
        os._exit(0)
    os.close(w)
    msg = os.read(r, 4096).decode()
    os.close(r)
    os.waitpid(pid, 0)
    return msg or "the probe process died"

def overlay():
    s.unshare(s.CLONE_NEWNS)
    s.mount(None, "/", None, s.MS_REC | s.MS_PRIVATE)
    base = tempfile.mkdtemp(prefix="minicontainer-doctor-", dir=sys.argv[2])
    try:
        for d in ("lower", "upper", "work", "merged"):
            os.mkdir(os.path.join(base, d))
        opts = "lowerdir={0}/lower,upperdir={0}/upper,workdir={0}/work".format(base)
        s.mount("overlay", base + "/merged", "overlay", 0, opts)
        s.umount2(base + "/merged", s.MNT_DETACH)
    finally:
        import shutil
        shutil.rmtree(base, ignore_errors=True)

out = {name: attempt(lambda f=f: s.unshare(f)) for name, f in flags.items()}
out["overlay-mount"] = attempt(overlay) if os.geteuid() == 0 else "not tried (needs root)"
print(json.dumps(out))
"""


def probe_kernel(work_dir: Path | None = None) -> dict[str, str]:
    """Try each namespace type (and an overlay mount) in a fresh helper process; 'ok' or the error."""
    work_dir = Path(work_dir or tempfile.gettempdir())
    work_dir.mkdir(parents=True, exist_ok=True)
    package_parent = str(Path(__file__).resolve().parent.parent)
    try:
        out = subprocess.run([sys.executable, "-I", "-S", "-c", _PROBE, package_parent, str(work_dir)],
                             capture_output=True, text=True, timeout=30)
        return json.loads(out.stdout)
    except (subprocess.SubprocessError, json.JSONDecodeError, OSError) as exc:
        return {name: f"probe failed: {exc}" for name in NAMESPACES + ["overlay-mount"]}


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def on_binder() -> bool:
    """Binder sets these; its containers have no CAP_SYS_ADMIN and block unshare and mount."""
    return "BINDER_SERVICE_HOST" in os.environ or "BINDER_LAUNCH_HOST" in os.environ or "BINDER_REQUEST" in os.environ


def filesystem_type(path: Path) -> str:
    """The filesystem type that holds `path` (from /proc/self/mountinfo: the longest matching mount point)."""
    from . import mountinfo
    path = Path(path).resolve()
    while not path.exists():
        path = path.parent
    try:
        found = mountinfo.mount_of(str(path))
    except OSError:
        return "unknown"
    return found.fstype if found else "unknown"


def cgroup_setup(root: str = "/sys/fs/cgroup") -> tuple[str, list[str]]:
    """('v2', controllers) on a unified host, ('v1', controllers) on a v1 or hybrid host, ('none', [])."""
    from . import cgroups
    try:
        setup = cgroups.detect(root)
    except ContainerError:
        return "none", []
    if setup.version == "v2":
        return "v2", list(setup.controller_dirs)
    return "v1", list(setup.controller_dirs) + list(setup.others) + [f"{c} (v2)" for c in setup.unified]


def diagnose(paths: Paths | None = None, probe: dict[str, str] | None = None) -> Report:
    """Look at everything the course uses. `probe` may be given to skip the helper (tests)."""
    paths = paths or Paths.from_env()
    report = Report()
    add = report.findings.append
    root = os.geteuid() == 0 and has_capability(CAP_SYS_ADMIN)
    binder = on_binder()
    how_root = ("Binder gives no root: read the lessons here, run them on a Linux VM with `make lab`" if binder
                else "run as root: `sudo make lab` (or `sudo minicontainer ...`)")
    add(Finding("root", root, "root with CAP_SYS_ADMIN" if root else f"uid {os.geteuid()}, no CAP_SYS_ADMIN",
                "" if root else how_root, "lessons 01-07"))
    add(Finding("kernel", True, f"Linux {platform.release()}"))

    results = probe if probe is not None else probe_kernel(paths.run_dir if root else None)
    for ns in NAMESPACES:
        result = results.get(ns, "not probed")
        ok = result == "ok"
        fix = "" if ok else (how_root if "EPERM" in result else "a kernel built with this namespace type (CONFIG_*_NS)")
        if ns == "user" and not ok:
            fix = _userns_fix()
        detail = "can be created" if ok else result.split(". Fix:")[0]
        add(Finding(f"{'mount' if ns == 'mnt' else ns}-ns", ok, detail, fix, "lesson 02"))
    sysctl = _read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
    if sysctl:
        ok = sysctl == "0"
        add(Finding("unprivileged-user-ns", ok,
                    "allowed" if ok else "AppArmor blocks user namespaces for unprivileged users (Ubuntu 24.04)",
                    "" if ok else "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0", "rootless mode"))

    from .unionfs import choose_driver, overlay_available

    in_kernel = overlay_available()  # loaded, or a module mount(2) loads on first use
    store_fs = filesystem_type(paths.lib_dir)
    mount_result = results.get("overlay-mount", "not probed")
    overlay_ok = in_kernel and mount_result in ("ok", "not tried (needs root)")
    detail = f"in the kernel; mount test: {mount_result}" if in_kernel else "neither in /proc/filesystems nor a module"

    detail += f"; container roots use the {choose_driver()} driver"
    add(Finding("overlay", overlay_ok, detail,
                "" if overlay_ok else "modprobe overlay (the course falls back to copying layers: slower)", "lesson 04"))
    upper_ok = store_fs not in ("overlay", "aufs")
    add(Finding("overlay-upper", upper_ok, f"the store {paths.lib_dir} is on {store_fs}",
                "" if upper_ok else f"an overlay upper dir cannot live on {store_fs}: set MC_LIB_DIR to a tmpfs or ext4 path",
                "lesson 04"))

    version, controllers = cgroup_setup()
    needed = {"memory", "cpu", "pids"}
    usable = needed <= set(controllers)
    add(Finding("cgroups", usable and root, f"{version}: {', '.join(controllers) or 'no controllers'}",
                "" if usable and root else (how_root if not root else f"enable the {', '.join(sorted(needed - set(controllers)))} controller(s)"),
                "lesson 03"))

    seccomp = next((line.split(":", 1)[1].strip() for line in _read("/proc/self/status").splitlines()
                    if line.startswith("Seccomp:")), "")
    add(Finding("seccomp", bool(seccomp), f"supported (this process: mode {seccomp})" if seccomp else "not supported",
                "" if seccomp else "a kernel with CONFIG_SECCOMP_FILTER", "lesson 08"))

    busybox = (paths.default_rootfs / "bin" / "busybox").is_file()
    add(Finding("busybox", busybox, f"default rootfs at {paths.default_rootfs}" if busybox else
                ("/bin/busybox present, rootfs not built yet" if Path("/bin/busybox").exists() else "busybox-static missing"),
                "" if busybox else "make lab (or: apt-get install busybox-static && minicontainer prepare)", "lessons 01-07"))

    from importlib.util import find_spec
    has_pyroute2 = find_spec("pyroute2") is not None
    add(Finding("pyroute2", has_pyroute2, "importable" if has_pyroute2 else "not installed",
                "" if has_pyroute2 else "pip install pyroute2 (make lab installs it)", "lesson 07"))
    for name, (binary, package, use) in TOOLS.items():
        found = shutil.which(binary) or (f"/usr/sbin/{binary}" if Path(f"/usr/sbin/{binary}").exists() else "")
        add(Finding(name, bool(found), found or "not installed", "" if found else f"apt-get install {package}", use))
    return report


def _userns_fix() -> str:
    if _read("/proc/sys/kernel/unprivileged_userns_clone") == "0":
        return "sudo sysctl -w kernel.unprivileged_userns_clone=1"
    if _read("/proc/sys/user/max_user_namespaces") == "0":
        return "sudo sysctl -w user.max_user_namespaces=15000"
    return "run in a single-threaded process (not in the Jupyter kernel itself) on a kernel with CONFIG_USER_NS"


def render(report: Report) -> str:
    """The table `minicontainer doctor` prints."""
    lines = []
    width = max(len(f.name) for f in report.findings)
    for f in report.findings:
        mark = "ok " if f.ok else "NO "
        lines.append(f"  {mark} {f.name:<{width}}  {f.detail}")
        if not f.ok and f.fix:
            lines.append(f"      {'':<{width}}  fix: {f.fix}" + (f"  (needed for {f.needed_for})" if f.needed_for else ""))
    verdict = ("The course can run on this host." if report.course_can_run else
               "The course cannot run here yet: fix the lines marked NO above (essential: "
               + ", ".join(n for n in ESSENTIAL if not report.get(n).ok) + ").")
    return "minicontainer doctor\n" + "\n".join(lines) + "\n" + verdict


class LessonCannotRun(RuntimeError):
    """Raised by require(): IPython shows only the explanation, not a traceback."""

    def _render_traceback_(self) -> list[str]:
        return [str(self)]


def require(*names: str, paths: Paths | None = None) -> None:
    """Stop a lesson with an explanation when the host lacks one of `names` (doctor finding names)."""
    report = diagnose(paths)
    missing = [report.get(n) for n in names if not report.get(n).ok]
    if missing:
        lines = ["This lesson needs things this host does not have:"]
        lines += [f"  - {f.name}: {f.detail}" + (f"\n    fix: {f.fix}" if f.fix else "") for f in missing]
        if on_binder():
            lines.append("On Binder you can read every lesson, but containers need a Linux VM: "
                         "clone the course there and run `sudo make lab`.")
        raise LessonCannotRun("\n".join(lines))
    print("doctor: this host has " + ", ".join(names) if names else "doctor: ok")
