"""Security: what keeps a container's root from taking the host (lesson 08).

Namespaces change what a container *sees*; they do not change what its root may *do*. Without
the defences below, root in a container can mount the host's cgroup hierarchy and have the host
run a program (release_agent), create a device node for the host's disk and read it, remount
/proc/sys read-write, load kernel modules... Docker, runc and crun stack five defences, and so
does this runtime, each in its own module:

  capabilities.py   14 of root's 41 capabilities (no CAP_SYS_ADMIN: no mount, no unshare...)
  seccomp.py        a BPF filter on every system call: Docker's default profile (about 370 allowed,
                    the others fail with EPERM), compiled by hand in Python
  no_new_privs      execve never grants privileges again (setuid programs, file capabilities)
  devices.py        the cgroup's device allowlist: a node made with mknod cannot be opened
  rootfs.py         masked and read-only paths in /proc and /sys (MASKED_PATHS, READONLY_PATHS)

`plan()` turns run's flags (--privileged, --cap-add/--cap-drop, --security-opt, --device) into
what the container gets, before anything is created (bad input is a UsageError, exit 125). The
container's side applies it in runc's order (process.py, start_workload):

    before_user(sec)    install the filter now if no_new_privs is off (it then needs CAP_SYS_ADMIN);
                        with --user: drop the bounding set, keep capabilities across setuid
    ... setgroups/setgid/setuid (--user) ...
    after_user(sec)     effective/permitted = the set, inheritable and ambient empty (a workload that
                        stays root: capabilities.apply() does the bounding set and these at once)
    ... chdir, find the program ...
    before_exec(sec)    no_new_privs; install the filter (the last call it sees allowed is execve)

On the path of `run`: small standard modules only.
"""

from __future__ import annotations

from ..errors import UsageError
from . import capabilities, seccomp

# What the runtime itself does once the filter is installed: a profile must allow these, or the
# container could not start (checked before anything is created).
NEEDED_BY_EXEC = ["execve"]
NEEDED_BEFORE_CAPS = ["capset", "prctl", "setgroups", "setgid", "setuid", "chdir"]  # no_new_privs off
NEEDED_BY_INIT = ["wait4", "kill", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "exit_group"]  # mc-init, our PID 1


def parse_security_opts(options: list[str]) -> tuple[str, bool | None]:
    """--security-opt values -> (seccomp: "default" | "unconfined" | a profile path, no_new_privs or None)."""
    profile, nnp = "default", None
    for option in options:
        key, sep, value = option.partition("=")
        if not sep:
            key, sep, value = option.partition(":")  # Docker's old form: seccomp:PATH
        if key == "seccomp" and value:
            profile = value
        elif key == "no-new-privileges":
            if value in ("", "true"):
                nnp = True
            elif value == "false":
                nnp = False
            else:
                raise UsageError(f"invalid --security-opt 2: {option!r}", step="parse --security-opt",
                                 fix="use no-new-privileges, no-new-privileges=true or no-new-privileges=false")
        else:
            raise UsageError(f"invalid --security-opt: {option!r}", step="parse --security-opt",
                             fix="this runtime knows seccomp=unconfined, seccomp=PROFILE.json and "
                                 "no-new-privileges[=true|false]")
    return profile, nnp


def plan(privileged: bool = False, cap_add: list[str] = (), cap_drop: list[str] = (),
         security_opt: list[str] = (), devices: list[str] = (), rootless: bool = False,
         init: bool = True) -> dict:
    """What a container gets, from run's flags. Returns a dict that goes to the container (JSON-able):

    privileged, capabilities (names), caps (their mask), seccomp ("default"/"unconfined"/path),
    program (the filter as hex, or ""), no_new_privs, devices (allowed rules as v1 lines, None =
    all), device_nodes ([container path, type, major, minor] for --device)."""
    from .devices import default_rules, parse_device

    caps = capabilities.resolve(list(cap_add), list(cap_drop), privileged)
    profile, nnp = parse_security_opts(list(security_opt))
    if nnp is None:
        nnp = not privileged
    if privileged and profile == "default":
        profile = "unconfined"
    program = b""
    if profile != "unconfined":
        if profile == "default":
            program = seccomp.default_program(caps)
        else:
            program = seccomp.compile_profile(seccomp.load_profile(profile), caps)
        needed = NEEDED_BY_EXEC + ([] if nnp else NEEDED_BEFORE_CAPS)
        refused = [name for name in needed + (NEEDED_BY_INIT if init else []) if not seccomp.allows(program, name)]
        if refused:
            who = "the container's PID 1 (mc-init) and the runtime's own set-up" if set(refused) - {"execve"} else \
                "the runtime's own exec of the container's program"
            raise UsageError(f"the seccomp profile {profile} refuses {', '.join(refused)}, which {who} needs",
                             step="load seccomp profile", path=profile,
                             fix=f"allow {', '.join(refused)} in the profile (SCMP_ACT_ALLOW)")
    rules = None if privileged else default_rules()
    nodes = []
    for text in devices:
        host, target, access, rule = parse_device(text)
        if rootless:
            raise UsageError("--device needs root (a user namespace may not create device nodes)",
                             step="parse --device", fix="run as root, or without --device")
        nodes.append([target, rule.type, rule.major, rule.minor])
        if rules is not None:
            rules.append(rule)
    return {"privileged": privileged, "capabilities": caps, "caps": capabilities.mask(caps), "seccomp": profile,
            "program": program.hex(), "no_new_privs": nnp,
            "devices": None if rules is None else [r.line() for r in rules], "device_nodes": nodes}


def rules_of(sec: dict):
    """The plan's device rules as devices.Rule values (None: every device is allowed)."""
    from .devices import Rule
    if sec.get("devices") is None:
        return None
    out = []
    for line in sec["devices"]:
        kind, numbers, access = line.split()
        major, minor = numbers.split(":")
        out.append(Rule(kind, -1 if major == "*" else int(major), -1 if minor == "*" else int(minor), access))
    return out


# --- the container's side (process.py calls these in the workload and in PID 1) ---------------

def before_user(sec: dict, changes_user: bool = True) -> None:
    """Still root with every capability: filter first if no_new_privs is off; then, before --user's
    setuid (which empties the effective set: the bounding set could no longer change), the bounding
    set, and keep the permitted set across setuid."""
    if sec["program"] and not sec["no_new_privs"]:
        seccomp.install(bytes.fromhex(sec["program"]))
    if changes_user or sec.get("sets"):  # (a workload that stays root: apply() drops it, after_user)
        capabilities.drop_bounding(sec["caps"])
        capabilities.keep_caps(True)


def after_user(sec: dict, changes_user: bool = True) -> None:
    """After setuid: the capability sets themselves; a workload that stays root gets all of
    capabilities.apply() here (lesson 08, exercise 8.2)."""
    sets = sec.get("sets")  # [oci] lesson 10: config.json names the five sets; `run` gives one for all
    if sets:
        capabilities.keep_caps(False)
        capabilities.set_all(sets["effective"], sets["permitted"], sets["inheritable"], sets["ambient"])
    elif changes_user:
        capabilities.keep_caps(False)
        capabilities.set_sets(sec["caps"])
    else:
        capabilities.apply(sec["caps"])


def before_exec(sec: dict) -> None:
    """The last steps before execve: no_new_privs, then the filter."""
    if sec["no_new_privs"]:
        seccomp.set_no_new_privs()
        if sec["program"]:
            seccomp.install(bytes.fromhex(sec["program"]))


def confine_init(sec: dict) -> None:
    """PID 1 (mc-init) gets what the workload gets: the default profile allows ptrace, and a workload
    that could write into an unconfined PID 1's memory would be outside its own filter."""
    before_user(sec, changes_user=False)
    after_user(sec, changes_user=False)
    before_exec(sec)
