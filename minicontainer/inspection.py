"""`inspect` in Docker's shape, and `inspect -f '{{.State.Status}}'` (lesson 09).

Docker's `inspect` prints what its daemon knows of a container as JSON, with keys every Docker
user's scripts read: `Id`, `State{Status,Running,Pid,ExitCode,StartedAt,FinishedAt}`, `Config`
(what the image and `run` asked for), `HostConfig` (how the host runs it: binds, ports, restart
policy), `NetworkSettings` (the addresses and published ports it got) and `Mounts`. `docker_view(c)`
makes the same from our record (state.json); what Docker keeps and we do not is left out, and what
only we keep (the monitor's PID, the security plan) is under one key of our own, `Minicontainer`.

`-f` takes a Go template; the part people type is a field path, `{{.State.Pid}}`, sometimes
`{{json .NetworkSettings.Ports}}`. `render(template, view)` does those two (and literal text around
them), printing values as Go does: true/false, <no value>, map[k:v], [a b].
"""

from __future__ import annotations

import json
import time

from .state import CREATED, EXITED, RESTARTING, RUNNING, Container, is_running

ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time: a container that never started or never finished


def rfc3339(stamp: float) -> str:
    """A Unix time as Docker prints it: RFC 3339 in UTC with nanoseconds; the zero time for 0."""
    if not stamp:
        return ZERO_TIME
    whole = int(stamp)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((stamp - whole) * 1e9):09d}Z"


def port_bindings(publish: list[str]) -> dict[str, list[dict]]:
    """["0.0.0.0:8080:80/tcp", ...] -> {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}."""
    from .network.ports import parse_publish
    out: dict[str, list[dict]] = {}
    for spec in publish:
        m = parse_publish(spec)
        out.setdefault(f"{m.container_port}/{m.proto}", []).append(
            {"HostIp": m.host_ip or "0.0.0.0", "HostPort": str(m.host_port) if m.host_port else ""})
    return out


def status(c: Container) -> str:
    """Docker's State.Status: created, running, restarting, exited (a record that says running but
    whose PID 1 is gone is exited: its monitor was killed and nobody collected it yet)."""
    if c.status == RUNNING and not is_running(c):
        return EXITED
    return c.status


def docker_view(c: Container) -> dict:
    """The record as `docker inspect` shows a container."""
    spec = c.spec or {}
    net = spec.get("network_state") or {}
    state = status(c)
    running = state == RUNNING
    mounts = []
    anonymous = list(spec.get("anonymous_volumes") or [])
    for v in spec.get("volume", []):
        parts = v.split(":")
        if len(parts) == 1:  # -v /path: an anonymous volume, named at create (volumes.py)
            parts = [anonymous.pop(0) if anonymous else "", parts[0]]
        source, target = parts[0], parts[1]
        mode = parts[2] if len(parts) > 2 else ""
        if source.startswith(("/", ".")):
            mounts.append({"Type": "bind", "Source": source, "Destination": target, "Mode": mode,
                           "RW": mode != "ro", "Propagation": "rprivate"})
        else:  # a named volume (volumes.py)
            mounts.append({"Type": "volume", "Name": source, "Source": (spec.get("volume_dirs") or {}).get(source, ""),
                           "Destination": target, "Driver": "local", "Mode": mode, "RW": mode != "ro"})
    for t in spec.get("tmpfs", []):
        mounts.append({"Type": "tmpfs", "Source": "", "Destination": t.partition(":")[0], "Mode": "", "RW": True})
    resources = spec.get("resources") or {}
    policy = spec.get("restart") or "no"
    name, _, count = policy.partition(":")
    security = spec.get("security") or {}
    ports = port_bindings(net.get("publish", [])) if running else {}
    address, _, prefix = (net.get("address") or "").partition("/")
    networks = {}
    if spec.get("network") == "bridge" and running:
        networks["bridge"] = {"IPAddress": address, "IPPrefixLen": int(prefix or 0), "Gateway": net.get("gateway", "")}
    return {
        "Id": c.id,
        "Created": rfc3339(c.created),
        "Path": c.command[0] if c.command else "",
        "Args": c.command[1:],
        "State": {
            "Status": state, "Running": running, "Paused": False, "Restarting": state == RESTARTING,
            "OOMKilled": c.oom_killed, "Dead": False, "Pid": c.pid if running else 0,
            "ExitCode": c.exit_code if c.exit_code is not None and state != CREATED else 0, "Error": c.error,
            "StartedAt": rfc3339(c.started), "FinishedAt": rfc3339(c.finished),
        },
        "Image": spec.get("image_digest", ""),
        "Name": "/" + c.name,
        "RestartCount": c.restart_count,
        "Config": {
            "Hostname": spec.get("hostname") or c.id[:12], "User": spec.get("user", ""), "Tty": spec.get("tty", False),
            "OpenStdin": spec.get("interactive", False), "Env": spec.get("env_resolved", []), "Cmd": c.command,
            "Image": c.image, "WorkingDir": spec.get("workdir", ""), "Entrypoint": spec.get("entrypoint"),
        },
        "HostConfig": {
            "Binds": [v for v in spec.get("volume", [])],
            "NetworkMode": spec.get("network", "none"),
            "PortBindings": port_bindings(spec.get("publish", [])),
            "PublishAllPorts": spec.get("publish_all", False),
            "RestartPolicy": {"Name": name, "MaximumRetryCount": int(count or 0)},
            "AutoRemove": spec.get("rm", False),
            "Init": spec.get("init", False),
            "ReadonlyRootfs": spec.get("read_only", False),
            "Privileged": security.get("privileged", False),
            "CapAdd": spec.get("cap_add", []), "CapDrop": spec.get("cap_drop", []),
            "SecurityOpt": spec.get("security_opt", []),
            "Tmpfs": {t.partition(":")[0]: t.partition(":")[2] for t in spec.get("tmpfs", [])},
            # the limits as Docker names them: --cpus is NanoCpus (billionths of a CPU), not a quota
            "Memory": resources.get("memory") or 0, "MemorySwap": resources.get("memory_swap") or 0,
            "NanoCpus": round((resources.get("cpus") or 0) * 1e9), "CpuShares": resources.get("cpu_shares") or 0,
            "CpuPeriod": resources.get("cpu_period") or 0, "CpusetCpus": resources.get("cpuset_cpus") or "",
            "CpusetMems": resources.get("cpuset_mems") or "",
            "PidsLimit": resources.get("pids_limit"),
        },
        "NetworkSettings": {"IPAddress": address if running else "", "Gateway": net.get("gateway", "") if running else "",
                            "Ports": ports, "Networks": networks},
        "Mounts": mounts,
        "Minicontainer": {  # what only this runtime keeps: its monitor, the root it built, the security plan
            "MonitorPid": c.monitor_pid, "Rootfs": c.rootfs, "Layers": spec.get("layers"), "Security": security,
        },
    }


# --- -f: a Go template's field paths ------------------------------------------------------------

class TemplateError(ValueError):
    """A template that names a field the data does not have, or that we cannot read."""


def go_text(value: object) -> str:
    """A value as Go's text/template prints it."""
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_text(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_text(v) for v in value) + "]"
    return str(value)


def lookup(data: object, path: str, at: str) -> object:
    """`.State.Pid` in `data`; "." is data itself."""
    value = data
    for key in [k for k in path.split(".") if k]:
        if not isinstance(value, dict):
            raise TemplateError(f'template: :1: executing "" at <{at}>: can\'t evaluate field {key}')
        if key not in value:
            raise TemplateError(f'template: :1: executing "" at <{at}>: map has no entry for key "{key}"')
        value = value[key]
    return value


def render(template: str, data: dict) -> str:
    """Fill `{{.Path}}` and `{{json .Path}}` in template with data's values."""
    out, rest = [], template
    while "{{" in rest:
        before, _, rest = rest.partition("{{")
        action, found, rest = rest.partition("}}")
        if not found:
            raise TemplateError(f'template: :1: unclosed action in "{template}"')
        out.append(before)
        words = action.strip().strip("-").strip().split()
        if len(words) == 1 and words[0].startswith("."):
            out.append(go_text(lookup(data, words[0], words[0])))
        elif len(words) == 2 and words[0] == "json" and words[1].startswith("."):
            out.append(json.dumps(lookup(data, words[1], f"json {words[1]}")))
        else:
            raise TemplateError(f"template: :1: function or field not supported here: {action.strip()!r} "
                                "(use {{.Field.Path}} or {{json .Field}})")
    out.append(rest)
    return "".join(out)
