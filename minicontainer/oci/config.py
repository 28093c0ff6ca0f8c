"""config.json with the runtime spec's meaning, translated into the runtime's own config (lesson 10).

A bundle's config.json says everything `run`'s flags say, in the OCI runtime spec's words:

    config.json                       the runtime's config (what `run` gives process.helper)
    ───────────────────────────────   ────────────────────────────────────────────────────────
    process.args, env, cwd            argv, env (as given: no PATH or HOSTNAME added), workdir
    process.user.uid/gid              user "uid:gid", groups (additionalGids)
    process.capabilities              security.sets: the five sets, by name
    root.path, root.readonly          rootfs (relative to the bundle), read_only
    mounts[]                          mounts: source, destination, type, MS_* flags, data
    linux.namespaces[]                namespaces to create; join: those given by path
    linux.resources                   the cgroup's Limits and device rules (cgroups/, security/devices)
    linux.seccomp                     the filter program (security/seccomp compiles the same format)

translate() checks every field first and refuses what this runtime does not support *by the field's
name* (a runtime that silently ignored `linux.resources.blockIO` would give a container no I/O
limit that its engine believes it set). Nothing is created before it returns.

The pieces a learner writes (exercises 10.x) have the same signatures as the ones here:
mount_flags(options) and namespace_plan(namespaces).
"""

from __future__ import annotations

import os

from .. import quickjson
from ..errors import ContainerError
from ..syscalls import (MS_BIND, MS_NOATIME, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC,
                        MS_REMOUNT, MS_SHARED, MS_SLAVE, MS_STRICTATIME)

MS_SYNCHRONOUS, MS_MANDLOCK, MS_DIRSYNC, MS_NODIRATIME, MS_UNBINDABLE, MS_RELATIME = 16, 64, 128, 2048, 1 << 17, 1 << 21

# mount(8)'s option words -> (clear?, flag). "ro" sets MS_RDONLY, "rw" clears it, ...
MOUNT_FLAGS = {
    "ro": (False, MS_RDONLY), "rw": (True, MS_RDONLY), "nosuid": (False, MS_NOSUID), "suid": (True, MS_NOSUID),
    "nodev": (False, MS_NODEV), "dev": (True, MS_NODEV), "noexec": (False, MS_NOEXEC), "exec": (True, MS_NOEXEC),
    "sync": (False, MS_SYNCHRONOUS), "async": (True, MS_SYNCHRONOUS), "dirsync": (False, MS_DIRSYNC),
    "remount": (False, MS_REMOUNT), "mand": (False, MS_MANDLOCK), "nomand": (True, MS_MANDLOCK),
    "atime": (True, MS_NOATIME), "noatime": (False, MS_NOATIME), "diratime": (True, MS_NODIRATIME),
    "nodiratime": (False, MS_NODIRATIME), "relatime": (False, MS_RELATIME), "norelatime": (True, MS_RELATIME),
    "strictatime": (False, MS_STRICTATIME), "nostrictatime": (True, MS_STRICTATIME),
    "bind": (False, MS_BIND), "rbind": (False, MS_BIND | MS_REC),
}
# Propagation words: applied by a mount call of their own after the mount.
PROPAGATION = {"private": MS_PRIVATE, "rprivate": MS_PRIVATE | MS_REC, "shared": MS_SHARED,
               "rshared": MS_SHARED | MS_REC, "slave": MS_SLAVE, "rslave": MS_SLAVE | MS_REC,
               "unbindable": MS_UNBINDABLE, "runbindable": MS_UNBINDABLE | MS_REC}
# The spec's namespace types -> the runtime's names (syscalls.NAMESPACE_FLAGS).
NAMESPACES = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts", "user": "user",
              "cgroup": "cgroup"}
RLIMITS = ("RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_LOCKS",
           "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_RSS",
           "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK")
CAP_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")
HOOK_FIELDS = {"path", "args", "env", "timeout"}

# Every field of the runtime spec (1.x), object by object: a field that is not here is *unknown*, and the
# spec says a runtime MUST ignore it (config.md, "Extensibility"): it is ignored with a warning naming it.
SPEC = {
    "": {"ociVersion", "process", "root", "hostname", "domainname", "mounts", "hooks", "annotations", "linux",
         "solaris", "windows", "vm", "zos"},
    "process": {"terminal", "consoleSize", "user", "args", "commandLine", "env", "cwd", "capabilities", "rlimits",
                "noNewPrivileges", "apparmorProfile", "oomScoreAdj", "scheduler", "selinuxLabel", "ioPriority",
                "execCPUAffinity"},
    "process.user": {"uid", "gid", "umask", "additionalGids", "username"},
    "process.consoleSize": {"height", "width"},
    "root": {"path", "readonly"},
    "linux": {"namespaces", "uidMappings", "gidMappings", "timeOffsets", "devices", "netDevices", "cgroupsPath",
              "rootfsPropagation", "seccomp", "sysctl", "resources", "intelRdt", "personality", "maskedPaths",
              "readonlyPaths", "mountLabel", "memoryPolicy"},
    "linux.resources": {"devices", "memory", "cpu", "blockIO", "hugepageLimits", "network", "pids", "rdma", "unified"},
    "linux.resources.memory": {"limit", "reservation", "swap", "kernel", "kernelTCP", "swappiness", "disableOOMKiller",
                               "useHierarchy", "checkBeforeUpdate"},
    "linux.resources.cpu": {"shares", "quota", "burst", "period", "realtimeRuntime", "realtimePeriod", "cpus", "mems",
                            "idle"},
    "linux.resources.pids": {"limit"},
    "hooks": {"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
    "linux.seccomp": {"defaultAction", "defaultErrnoRet", "architectures", "flags", "listenerPath",
                      "listenerMetadata", "syscalls"},
}
# The spec's fields this runtime supports. A spec field outside these, with a value that asks for
# something, is refused by its name: a runtime that skipped `linux.resources.blockIO` would leave a
# container without the I/O limit its engine believes it set.
KNOWN = {
    "": SPEC[""] - {"domainname", "solaris", "windows", "vm", "zos"},
    "process": SPEC["process"] - {"commandLine", "scheduler", "ioPriority", "execCPUAffinity"},
    "process.user": {"uid", "gid", "umask", "additionalGids"},
    "process.consoleSize": {"height", "width"},
    "root": {"path", "readonly"},
    "linux": SPEC["linux"] - {"timeOffsets", "netDevices", "intelRdt", "personality", "memoryPolicy"},
    "linux.resources": {"devices", "memory", "cpu", "pids"},
    "linux.resources.memory": {"limit", "swap", "useHierarchy", "checkBeforeUpdate"},
    "linux.resources.cpu": {"shares", "quota", "period", "cpus", "mems"},
    "linux.resources.pids": {"limit"},
    "hooks": SPEC["hooks"],
    "linux.seccomp": {"defaultAction", "defaultErrnoRet", "architectures", "flags", "syscalls"},
}
IGNORED = {  # fields that mean nothing on this host: accepted, with the reason (`create` warns)
    "process.apparmorProfile": "AppArmor profiles are not applied by minicontainer",
    "process.selinuxLabel": "SELinux labels are not applied by minicontainer",
    "linux.mountLabel": "SELinux labels are not applied by minicontainer",
}


class ConfigError(ContainerError):
    """config.json asks for something invalid or unsupported; the message names the field."""


def bad(field: str, message: str, fix: str = "") -> ConfigError:
    return ConfigError(f"config.json: {field}: {message}", step="read config.json", path=field,
                       fix=fix or "see the OCI runtime spec (config.md), or `minicontainer oci features`")


def check_keys(obj: object, where: str, warnings: list[str] | None = None) -> dict:
    """`obj` must be an object. Its fields that the spec has and this runtime does not support are refused
    by name (unless empty: `"blockIO": {}` asks for nothing); fields unknown to the spec are ignored, as the
    spec requires, with a warning in `warnings`."""
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise bad(where or "config.json", "must be a JSON object")
    for key in sorted(obj):
        name = f"{where}.{key}" if where else key
        if key not in SPEC[where]:
            if warnings is not None:
                warnings.append(f"{name}: not a field of the OCI runtime spec: ignored")
        elif key not in KNOWN[where] and obj[key] not in (None, False, 0, "", [], {}):
            raise bad(name, "not supported by minicontainer (a feature of the spec it does not have)",
                      fix="remove the field, or use runc/crun for this container")
    return obj


# --- the seams: small translations a learner writes (exercises 10.1 and 10.2) ------------------

def mount_flags(options: list[str]) -> tuple[int, int, str]:
    """A mount's option words -> (MS_* flags, propagation flags, data for the filesystem).

    mount_flags(["nosuid", "ro", "mode=755"]) == (MS_NOSUID | MS_RDONLY, 0, "mode=755"); "rw" clears
    MS_RDONLY again; "rprivate" goes to the propagation flags; unknown words are the filesystem's data."""
    flags, propagation, data = 0, 0, []
    for word in options:
        if word in MOUNT_FLAGS:
            clear, flag = MOUNT_FLAGS[word]
            flags = flags & ~flag if clear else flags | flag
        elif word in PROPAGATION:
            propagation |= PROPAGATION[word]
        else:
            data.append(word)
    return flags, propagation, ",".join(data)


def namespace_plan(namespaces: list[dict]) -> tuple[list[str], list[tuple[str, str]]]:
    """linux.namespaces -> (the runtime's names of those to create, [(name, path)] of those to join).

    [{"type": "pid"}, {"type": "network", "path": "/run/netns/x"}] -> (["pid"], [("net", "/run/netns/x")]).
    A type given twice, or unknown, is an error naming it."""
    new: list[str] = []
    join: list[tuple[str, str]] = []
    seen = set()
    for i, ns in enumerate(namespaces):
        kind = ns.get("type") if isinstance(ns, dict) else None
        if kind not in NAMESPACES:
            raise bad(f"linux.namespaces[{i}].type", f"unknown namespace type {kind!r}",
                      fix="use one of " + ", ".join(NAMESPACES))
        if kind in seen:
            raise bad(f"linux.namespaces[{i}]", f"namespace type {kind!r} given twice")
        seen.add(kind)
        if ns.get("path"):
            join.append((NAMESPACES[kind], ns["path"]))
        else:
            new.append(NAMESPACES[kind])
    return new, join


# --- reading the bundle ------------------------------------------------------------------------

def load(bundle: str) -> dict:
    """The bundle's config.json, parsed; errors name the file."""
    path = os.path.join(bundle, "config.json")
    if not os.path.isdir(bundle):
        raise ContainerError("bundle directory not found", step="read config.json", path=bundle,
                             fix="give the bundle's directory with --bundle (default: the current directory)")
    try:
        with open(path, "rb") as f:
            return quickjson.loads(f.read())
    except FileNotFoundError:
        raise ContainerError("the bundle has no config.json", step="read config.json", path=path,
                             fix="write one with `minicontainer oci spec` in the bundle directory") from None
    except ValueError as exc:
        raise ContainerError(f"config.json is not valid JSON: {exc}", step="read config.json", path=path,
                             fix="fix the file (python3 -m json.tool config.json shows where)") from None


def _strings(value: object, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad(field, "must be a list of strings")
    return list(value)


def _int(value: object, field: str, default: int | None = None) -> int | None:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad(field, f"must be an integer, not {value!r}")
    return value


def translate_mounts(mounts: object, bundle: str) -> list[dict]:
    """mounts[] -> the runtime's mount list: numbers instead of words, sources resolved."""
    if mounts is None:
        return []
    if not isinstance(mounts, list):
        raise bad("mounts", "must be a list")
    out = []
    for i, m in enumerate(mounts):
        where = f"mounts[{i}]"
        if not isinstance(m, dict):
            raise bad(where, "must be an object")
        unknown = sorted(set(m) - {"destination", "type", "source", "options"})
        if unknown:
            raise bad(f"{where}.{unknown[0]}", "not supported by minicontainer (idmapped mounts are not)")
        dest = m.get("destination")
        if not isinstance(dest, str) or not dest.startswith("/"):
            raise bad(f"{where}.destination", f"must be an absolute path in the container, not {dest!r}")
        flags, propagation, data = mount_flags(_strings(m.get("options"), f"{where}.options"))
        kind = m.get("type") or ("bind" if flags & MS_BIND else "")
        if kind == "bind":
            flags |= MS_BIND
        if not kind:
            raise bad(f"{where}.type", "missing (and the options do not say bind)")
        source = m.get("source") or ""
        if flags & MS_BIND and source and not source.startswith("/"):
            source = os.path.join(bundle, source)  # the spec: relative to the bundle
        out.append({"destination": os.path.normpath(dest), "type": "none" if flags & MS_BIND else kind,
                    "source": source, "flags": flags, "propagation": propagation, "data": data})
        if kind == "cgroup":
            out[-1]["type"] = "cgroup"
    return out


def translate_capabilities(caps: object) -> dict:
    """process.capabilities -> {"names": bounding names, "caps": bounding mask, "sets": five masks}."""
    from ..security import capabilities
    caps = caps or {}
    if not isinstance(caps, dict):
        raise bad("process.capabilities", "must be an object")
    unknown = sorted(set(caps) - set(CAP_SETS))
    if unknown:
        raise bad(f"process.capabilities.{unknown[0]}", "unknown capability set", fix="use " + ", ".join(CAP_SETS))
    sets = {}
    for name in CAP_SETS:
        names = _strings(caps.get(name), f"process.capabilities.{name}")
        for cap in names:
            if cap not in capabilities.NUMBER:
                raise bad(f"process.capabilities.{name}", f"unknown capability {cap!r}")
        sets[name] = capabilities.mask([n for n in names if capabilities.NUMBER[n] <= capabilities.last_cap()])
    return {"names": _strings(caps.get("bounding"), "process.capabilities.bounding"), "sets": sets}


def translate_resources(res: dict, notes: list[str]) -> tuple[dict, list[str] | None]:
    """linux.resources -> (cgroups.Limits fields, device rules as v1 lines or None for all devices)."""
    from ..security.devices import Rule, default_rules
    limits: dict = {}
    memory = check_keys(res.get("memory"), "linux.resources.memory", notes)
    if memory.get("limit") is not None and memory["limit"] > 0:
        limits["memory"] = _int(memory["limit"], "linux.resources.memory.limit")
    if memory.get("swap") not in (None, 0):
        limits["memory_swap"] = _int(memory["swap"], "linux.resources.memory.swap")
    cpu = check_keys(res.get("cpu"), "linux.resources.cpu", notes)
    if cpu.get("shares"):
        limits["cpu_shares"] = _int(cpu["shares"], "linux.resources.cpu.shares")
    if cpu.get("quota") is not None and cpu["quota"] > 0:
        period = _int(cpu.get("period"), "linux.resources.cpu.period", 100_000) or 100_000
        limits["cpus"] = _int(cpu["quota"], "linux.resources.cpu.quota") / period
        if period != 100_000:
            limits["cpu_period"] = period
    elif cpu.get("period"):
        raise bad("linux.resources.cpu.period", "a period without a quota is not supported by minicontainer")
    if cpu.get("cpus"):
        limits["cpuset_cpus"] = cpu["cpus"]
    if cpu.get("mems"):
        limits["cpuset_mems"] = cpu["mems"]
    pids = check_keys(res.get("pids"), "linux.resources.pids", notes)
    if pids.get("limit") is not None and pids["limit"] > 0:
        limits["pids_limit"] = _int(pids["limit"], "linux.resources.pids.limit")
    rules: list[Rule] | None = []  # the config's rules in its order, then the standard devices (as runc)
    for i, d in enumerate(res.get("devices") or []):
        field = f"linux.resources.devices[{i}]"
        kind, access = d.get("type") or "a", d.get("access") or "rwm"
        major, minor = d.get("major"), d.get("minor")
        if not d.get("allow"):
            if kind == "a" and major is None and minor is None and i == 0:
                continue  # "deny everything" first: the allow list starts empty, as ours does
            raise bad(field, "a deny rule other than the first deny-all is not supported by minicontainer",
                      fix="list only the devices to allow after one {\"allow\": false, \"access\": \"rwm\"}")
        if kind == "a":
            rules = None  # everything is allowed
            continue
        if rules is not None:
            rules.append(Rule(kind, -1 if major is None else major, -1 if minor is None else minor, access))
    return limits, None if rules is None else [r.line() for r in rules + default_rules()]


def translate(config: dict, bundle: str) -> dict:
    """Check config.json and translate it. Returns {"cfg": the helper's config, and the runtime's
    own parts: "cgroup", "limits", "device_rules", "uid_maps", "gid_maps", "hooks", "annotations",
    "terminal", "notes" (fields accepted but without effect here)}."""
    notes = [f"{field}: {why}" for field, why in IGNORED.items() if _get(config, field) not in (None, "")]
    check_keys(config, "", notes)
    if not isinstance(config.get("ociVersion"), str) or not config["ociVersion"].startswith("1."):
        raise bad("ociVersion", f"{config.get('ociVersion')!r}: this runtime reads version 1.x of the spec")
    process = check_keys(config.get("process"), "process", notes)
    if not process:
        raise bad("process", "missing: there is nothing to run")
    args = _strings(process.get("args"), "process.args")
    if not args:
        raise bad("process.args", "missing or empty: give the program and its arguments")
    cwd = process.get("cwd") or ""
    if not isinstance(cwd, str) or not cwd.startswith("/"):
        raise bad("process.cwd", f"must be an absolute path, not {cwd!r}")
    user = check_keys(process.get("user"), "process.user", notes)
    uid, gid = _int(user.get("uid"), "process.user.uid", 0), _int(user.get("gid"), "process.user.gid", 0)
    root = check_keys(config.get("root"), "root", notes)
    if not isinstance(root.get("path"), str) or not root["path"]:
        raise bad("root.path", "missing: the container needs a root filesystem")
    rootfs = os.path.normpath(os.path.join(bundle, root["path"]))
    if not os.path.isdir(rootfs):
        raise ContainerError("root filesystem not found", step="read config.json", path=rootfs,
                             fix="unpack an image into the bundle (root.path is relative to the bundle)")
    linux = check_keys(config.get("linux"), "linux", notes)
    new, join = namespace_plan(linux.get("namespaces") or [])
    if "mnt" not in new and not any(n == "mnt" for n, _ in join):
        raise bad("linux.namespaces", "no mount namespace: minicontainer needs one (pivot_root would change the host's root)",
                  fix='add {"type": "mount"}')
    hostname = config.get("hostname") or ""
    if hostname and "uts" not in new and "uts" not in dict(join):  # (a UTS namespace joined by path: set there)
        raise bad("hostname", "setting the hostname needs a new UTS namespace", fix='add {"type": "uts"}')
    maps = {}
    for key in ("uidMappings", "gidMappings"):
        maps[key] = []
        for i, m in enumerate(linux.get(key) or []):
            try:
                maps[key].append((int(m["containerID"]), int(m["hostID"]), int(m["size"])))
            except (KeyError, TypeError, ValueError):
                raise bad(f"linux.{key}[{i}]", "needs containerID, hostID and size") from None
    if (maps["uidMappings"] or maps["gidMappings"]) and "user" not in new:
        raise bad("linux.uidMappings", "mappings need a new user namespace", fix='add {"type": "user"}')
    if "user" in new and not (maps["uidMappings"] and maps["gidMappings"]):
        raise bad("linux.uidMappings", "a new user namespace needs uidMappings and gidMappings")
    caps = translate_capabilities(process.get("capabilities"))
    nnp = bool(process.get("noNewPrivileges"))
    program = ""
    if linux.get("seccomp"):
        program = translate_seccomp(check_keys(linux["seccomp"], "linux.seccomp", notes), caps["names"], nnp)
    rlimits = []
    for i, r in enumerate(process.get("rlimits") or []):
        if not isinstance(r, dict) or r.get("type") not in RLIMITS:
            raise bad(f"process.rlimits[{i}].type", f"unknown rlimit {r.get('type') if isinstance(r, dict) else r!r}")
        soft, hard = _int(r.get("soft"), f"process.rlimits[{i}].soft", 0), _int(r.get("hard"), f"process.rlimits[{i}].hard", 0)
        if soft > hard:
            raise bad(f"process.rlimits[{i}]", f"soft limit {soft} is above the hard limit {hard}")
        rlimits.append((r["type"], soft, hard))
    resources = check_keys(linux.get("resources"), "linux.resources", notes)
    limits, device_rules = translate_resources(resources, notes)
    devices = []
    for i, d in enumerate(linux.get("devices") or []):
        if d.get("type") not in ("c", "b", "u", "p") or not str(d.get("path", "")).startswith("/"):
            raise bad(f"linux.devices[{i}]", "needs a path and a type c, b, u or p")
        major, minor = _int(d.get("major"), f"linux.devices[{i}].major", 0), _int(d.get("minor"), f"linux.devices[{i}].minor", 0)
        devices.append((d["path"], d["type"], major, minor, _int(d.get("fileMode"), "fileMode", 0o666),
                        _int(d.get("uid"), "uid", 0), _int(d.get("gid"), "gid", 0)))
        if device_rules is not None and d["type"] != "p":
            device_rules.append(f"{'c' if d['type'] == 'u' else d['type']} {major}:{minor} rwm")
    propagation = 0
    if linux.get("rootfsPropagation"):
        propagation = PROPAGATION.get(linux["rootfsPropagation"])
        if propagation is None:
            raise bad("linux.rootfsPropagation", f"unknown propagation {linux['rootfsPropagation']!r}",
                      fix="use " + ", ".join(PROPAGATION))
    sysctl = linux.get("sysctl") or {}
    if not isinstance(sysctl, dict) or not all(isinstance(v, str) for v in sysctl.values()):
        raise bad("linux.sysctl", "must map names to string values")
    hooks = check_keys(config.get("hooks"), "hooks", notes)
    for phase, entries in hooks.items():
        for i, h in enumerate(entries or []):
            if not isinstance(h, dict) or not str(h.get("path", "")).startswith("/"):
                raise bad(f"hooks.{phase}[{i}].path", "must be an absolute path")
            if set(h) - HOOK_FIELDS:
                raise bad(f"hooks.{phase}[{i}].{sorted(set(h) - HOOK_FIELDS)[0]}", "unknown hook field")
            if "timeout" in h and (not isinstance(h["timeout"], int) or h["timeout"] <= 0):
                raise bad(f"hooks.{phase}[{i}].timeout", "must be a positive number of seconds")
    annotations = config.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise bad("annotations", "must map strings to strings")
    sec = {"privileged": False, "capabilities": caps["names"], "caps": caps["sets"]["bounding"],
           "sets": caps["sets"], "seccomp": "config.json" if program else "unconfined", "program": program,
           "no_new_privs": nnp, "devices": device_rules, "device_nodes": []}
    cfg = {
        "rootfs": rootfs, "argv": args, "env": _strings(process.get("env"), "process.env"), "workdir": cwd,
        "user": f"{uid}:{gid}", "groups": [int(g) for g in user.get("additionalGids") or []],
        "umask": user.get("umask"), "hostname": hostname, "namespaces": new, "join": join,
        "userns": "user" in new, "init": False, "tty": bool(process.get("terminal")), "binds": [], "tmpfs": [],
        "etc_files": {}, "read_only": bool(root.get("readonly")), "console": "", "layers": None,
        "network_pid": 0, "security": sec, "mounts": translate_mounts(config.get("mounts"), bundle),
        "masked_paths": _strings(linux.get("maskedPaths"), "linux.maskedPaths"),
        "readonly_paths": _strings(linux.get("readonlyPaths"), "linux.readonlyPaths"),
        "sysctl": sysctl, "rootfs_propagation": propagation, "devices": devices, "rlimits": rlimits,
        "oom_score_adj": _int(process.get("oomScoreAdj"), "process.oomScoreAdj"),
        "hooks": {k: v for k, v in hooks.items() if k in ("createContainer", "startContainer") and v},
    }
    cgroups_path = linux.get("cgroupsPath") or ""
    if cgroups_path and not isinstance(cgroups_path, str) or ":" in cgroups_path:
        raise bad("linux.cgroupsPath", f"{cgroups_path!r}: give a path (a systemd slice:prefix:name needs "
                                       "--systemd-cgroup, which minicontainer does not have)")
    return {"cfg": cfg, "cgroups_path": cgroups_path.strip("/"), "limits": limits,
            "uid_maps": maps["uidMappings"], "gid_maps": maps["gidMappings"], "hooks": hooks,
            "annotations": annotations, "notes": notes, "console_size": process.get("consoleSize")}


def translate_seccomp(profile: dict, caps: list[str], nnp: bool) -> str:
    """linux.seccomp (the same format as Docker's profiles, without includes/excludes) -> the program (hex)."""
    from ..security import NEEDED_BEFORE_CAPS, NEEDED_BY_EXEC, seccomp
    try:
        program = seccomp.compile_profile(profile, caps)
    except ContainerError as exc:
        raise bad("linux.seccomp", str(exc)) from None
    needed = NEEDED_BY_EXEC + ([] if nnp else NEEDED_BEFORE_CAPS)
    refused = [name for name in needed if not seccomp.allows(program, name)]
    if refused:
        raise bad("linux.seccomp", f"the profile refuses {', '.join(refused)}, which the runtime needs to start "
                                   "the program after installing the filter", fix="allow them in the profile")
    return program.hex()


def _get(config: dict, dotted: str) -> object:
    value: object = config
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value
