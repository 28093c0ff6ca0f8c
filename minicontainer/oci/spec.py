"""`oci spec` and `oci features`: the documents a runtime writes for others to read (lesson 10).

default_config() is the config.json `runc spec` writes (a shell in ./rootfs, read-only, the usual
namespaces, mounts, masked paths); `--rootless` adds a user namespace mapping root to the caller.
features() is the runtime spec's features document: what this runtime can do, so an engine can
check before it asks (runtime-spec, features.md).
"""

from __future__ import annotations

import os

from .config import MOUNT_FLAGS, NAMESPACES, PROPAGATION
from .hooks import PHASES
from .state import OCI_VERSION

CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
MASKED = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
          "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def default_config(rootless: bool = False) -> dict:
    """runc's `spec`, field for field (runc 1.1), with `--rootless`'s changes."""
    config = {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": True, "user": {"uid": 0, "gid": 0}, "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": CAPS, "effective": CAPS, "permitted": CAPS, "ambient": CAPS},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "minicontainer",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": list(MASKED),
            "readonlyPaths": list(READONLY),
        },
    }
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):  # a cgroup v2 host: runc adds a cgroup namespace
        config["linux"]["namespaces"].append({"type": "cgroup"})
    if rootless:  # runc spec --rootless: a user namespace, no cgroup settings, /sys bound from the host
        linux = config["linux"]
        linux.pop("resources")
        linux["uidMappings"] = [{"containerID": 0, "hostID": os.getuid(), "size": 1}]
        linux["gidMappings"] = [{"containerID": 0, "hostID": os.getgid(), "size": 1}]
        linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != "network"] + [{"type": "user"}]
        mounts = [m for m in config["mounts"] if m["destination"] not in ("/sys", "/sys/fs/cgroup")]
        mounts.append({"destination": "/sys", "type": "none", "source": "/sys",
                       "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]})
        for m in mounts:
            if m["destination"] == "/dev/pts":
                m["options"] = [o for o in m["options"] if o != "gid=5"]
        config["mounts"] = mounts
    return config


def features() -> dict:
    """The runtime spec's features document for this runtime."""
    from ..security import capabilities, seccomp
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": list(PHASES),
        "mountOptions": sorted(set(MOUNT_FLAGS) | set(PROPAGATION)),
        "linux": {
            "namespaces": sorted(NAMESPACES),
            "capabilities": capabilities.all_names(),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {"enabled": True, "actions": sorted(seccomp.ACTIONS), "operators": sorted(seccomp.OPS),
                        "archs": ["SCMP_ARCH_" + a.upper() for a in seccomp.AUDIT_ARCH]},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {"io.github.minicontainer.lesson": "10-oci-runtime"},
    }
