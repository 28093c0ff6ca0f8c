"""The container's side of a bundle: what PID 1 does differently for `minicontainer oci` (lesson 10).

process.py runs a bundle's container as it runs `run`'s (helper, PID 1, workload); two steps differ,
and live here so that process.py stays one story:

  setup_bundle_rootfs()     config.json lists every mount itself (with its flags, in its order), the
                            masked and read-only paths, sysctls, a read-only root; createContainer
                            hooks run between the mounts and pivot_root
  created_wait_for_start()  `create` ends with PID 1 ready and *waiting*: it says "created" on the
                            report pipe, then blocks opening the exec fifo until `start` opens it

PID 1 imports this module before pivot_root (process.init), like everything it uses.
"""

from __future__ import annotations

import os

from .. import devfs, rootfs, syscalls
from ..spawn import send
from .hooks import run_hooks


def setup_bundle_rootfs(cfg: dict) -> None:
    """[oci] The same steps for a bundle's config.json, translated by oci/config.py: its mounts in its
    order, the standard devices, its masked and read-only paths, sysctls, a read-only root last."""
    syscalls.mount(None, "/", None, cfg.get("root_propagation") or syscalls.MS_SLAVE | syscalls.MS_REC)
    root = cfg["rootfs"]
    rootfs.bind_root(root, False, cfg.get("userns", False))
    for m in cfg["mounts"]:
        if m["type"] == "cgroup":  # the container's own group(s), as `run` mounts them
            if cfg.get("cgroup_mounts"):
                rootfs.mount_cgroups(root, cfg["cgroup_mounts"], read_only=bool(m["flags"] & syscalls.MS_RDONLY))
            continue
        rootfs.mount_entry(root, m)
    devfs.populate_dev(root)
    sec = cfg.get("security") or {}
    for target, kind, major, minor, mode, uid, gid in cfg.get("devices", ()):
        devfs.make_device_node(root, target, kind, major, minor, mode, uid, gid)
    if cfg.get("console"):
        console = f"{root}/dev/console"
        os.close(os.open(console, os.O_CREAT | os.O_WRONLY, 0o600))
        syscalls.mount(cfg["console"], console, None, syscalls.MS_BIND)
    if cfg.get("hooks", {}).get("createContainer"):  # in the container's namespaces, before pivot_root
        run_hooks(cfg["hooks"]["createContainer"], cfg["hook_state"] | {"pid": int(os.readlink("/proc/self"))},
                  "createContainer")
    rootfs.pivot_without_old_dir(root)
    for key, value in cfg.get("sysctl", {}).items():
        with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
            f.write(value)
    if not sec.get("privileged"):
        rootfs.mask_paths(cfg.get("masked_paths", []), cfg.get("readonly_paths", []))
    if cfg.get("read_only"):
        rootfs.remount_root_readonly()
    if cfg.get("rootfs_propagation"):
        syscalls.mount(None, "/", None, cfg["rootfs_propagation"])


def created_wait_for_start(cfg: dict, report_w: int) -> int:
    """[oci] Tell `create` we are ready ("created"), then block until `start` opens the exec fifo.

    runc's trick: opening a fifo for writing blocks until someone opens it for reading. PID 1
    opened it by an O_PATH descriptor before pivot_root; /proc/self/fd/N reopens it here. Returns -1:
    from now on nobody reads the report pipe, so errors go to stderr (spawn.send_error)."""
    send(report_w, "created")
    os.close(report_w)
    fd = os.open(f"/proc/self/fd/{cfg['exec_fifo_fd']}", os.O_WRONLY | os.O_CLOEXEC)
    os.write(fd, b"0")
    os.close(fd)
    os.close(cfg["exec_fifo_fd"])
    return -1
