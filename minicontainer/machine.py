"""Another machine on this one: a network of its own, a cable to it, and its own state (lesson 11).

The capstone ships an image from "this machine" to "another". On one host, another machine is:

  * **its own network**: a network namespace, joined to this one by a veth pair, the cable. This
    end gets 10.203.0.1/30, its end (eth0 in there) 10.203.0.2/30 and a default route back. As
    commands:

        ip netns add mcm-b                          # /run/netns/mcm-b keeps it with no process in it
        ip link add mcm-b type veth peer name eth0 netns mcm-b
        ip addr add 10.203.0.1/30 dev mcm-b; ip link set mcm-b up
        ip -n mcm-b addr add 10.203.0.2/30 dev eth0; ip -n mcm-b link set eth0 up; ip -n mcm-b link set lo up
        ip -n mcm-b route add default via 10.203.0.1

    Its 127.0.0.1 is its own: a server on this machine's loopback is out of its reach, as on a
    real second machine. Its bridge, nftables rules and published ports are its own too.
  * **its own state**: MC_LIB_DIR (images, volumes), MC_RUN_DIR (containers), DOCKER_CONFIG (saved
    logins) and MC_DAEMON_JSON (its /etc/docker/daemon.json), all under `directory`.

`command(argv)` is how to run something there: `nsenter --net=/run/netns/NAME` switches only the
network namespace. (`ip netns exec` would also mount a fresh /sys, hiding the cgroup file systems
the runtime needs.) What one host cannot split: the processes, the cgroups and the kernel are
shared; the host's process list shows the machine's containers too.

`stop()` removes the machine's containers (`minicontainer reset` run there), the namespace, the
cable and the directory. `minicontainer reset` on the host does the same for a machine a crashed
lesson left (`sweep`).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import ContainerError
from .paths import DEFAULT_RUN_DIR, Paths

PREFIX = "mcm-"                 # every lab machine's namespace and this end of its cable
NETNS_DIR = "/run/netns"        # where `ip netns` keeps named namespaces


def records_dir() -> Path:
    """Where this host remembers its lab machines (netns name -> directory), for `reset`. Always the
    machine-wide run directory: namespace names are the whole host's, whatever MC_RUN_DIR says."""
    return Path(DEFAULT_RUN_DIR) / "machines"


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run `ip ARGS` (iproute2); a failure is a ContainerError that quotes it, unless check=False."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise ContainerError(f"ip {' '.join(args)}: {done.stderr.strip()}", step="set up a lab machine",
                             fix="run as root, with iproute2 installed (make deps)")
    return done


@dataclass
class Machine:
    """A network namespace plus a state directory: "another machine" for the lab."""

    name: str                        # short: the namespace is PREFIX + name, and so is the cable's end here
    directory: Path                  # its state: lib/, run/, docker/ (logins), daemon.json
    subnet: str = "10.203.0.0/30"    # the cable: this end the first address, the machine's end the second

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        if len(self.netns) > 15 or not self.name.replace("-", "").isalnum():
            raise ContainerError(f"lab machine name {self.name!r}: letters, digits and '-', at most "
                                 f"{15 - len(PREFIX)} characters", step="set up a lab machine")
        hosts = list(ipaddress.ip_network(self.subnet).hosts())
        self.prefix = ipaddress.ip_network(self.subnet).prefixlen
        self.host_address, self.address = str(hosts[0]), str(hosts[1])

    @property
    def netns(self) -> str:
        """The namespace's name, and this end of the cable's."""
        return PREFIX + self.name

    @property
    def env(self) -> dict[str, str]:
        """The environment that points minicontainer at this machine's state."""
        return {"MC_LIB_DIR": str(self.directory / "lib"), "MC_RUN_DIR": str(self.directory / "run"),
                "DOCKER_CONFIG": str(self.directory / "docker"), "MC_DAEMON_JSON": str(self.directory / "daemon.json")}

    def command(self, argv: list[str]) -> list[str]:
        """argv, run inside the machine's network namespace."""
        return ["nsenter", f"--net={NETNS_DIR}/{self.netns}", *argv]

    def run(self, argv: list[str], **options: object) -> subprocess.CompletedProcess:
        """Run argv on the machine, with its environment (options go to subprocess.run)."""
        env = {**os.environ, **self.env, **dict(options.pop("env", None) or {})}  # type: ignore[arg-type]
        return subprocess.run(self.command(argv), env=env, **options)  # type: ignore[call-overload]

    def write_daemon_json(self, settings: dict) -> Path:
        """The machine's /etc/docker/daemon.json (e.g. its insecure-registries)."""
        path = Path(self.env["MC_DAEMON_JSON"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings, indent=2) + "\n")
        return path

    def exists(self) -> bool:
        return os.path.exists(f"{NETNS_DIR}/{self.netns}")

    def check_free(self) -> None:
        """Refuse a name a device has, or a subnet that overlaps one of this host's (nothing is made yet)."""
        from .network.rtnl import RTNL

        wanted = ipaddress.ip_network(self.subnet)
        with RTNL() as ipr:
            if ipr.link_lookup(ifname=self.netns):
                raise ContainerError(f"a network device named {self.netns} exists", step="set up a lab machine",
                                     fix="choose another name, or `ip link del` it if a lesson left it")
            for a in ipr.get_addr():
                taken = ipaddress.ip_interface(f"{a.get_attr('IFA_LOCAL') or a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}")
                if taken.network.overlaps(wanted):
                    raise ContainerError(f"{self.subnet} overlaps {taken} on this host", step="set up a lab machine",
                                         fix="give the machine another subnet: Machine(..., subnet='10.203.1.0/30')")

    def start(self) -> "Machine":
        """Make the namespace and the cable; on any failure, undo what was made."""
        if self.exists():
            raise ContainerError(f"lab machine {self.name} already exists", step="set up a lab machine",
                                 path=f"{NETNS_DIR}/{self.netns}", fix=f"Machine({self.name!r}, ...).stop(), "
                                 "or `minicontainer reset`")
        self.check_free()
        for part in ("lib", "run", "docker"):
            (self.directory / part).mkdir(parents=True, exist_ok=True)
        record = records_dir() / self.netns
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(str(self.directory))
        try:
            ip("netns", "add", self.netns)
            ip("link", "add", self.netns, "type", "veth", "peer", "name", "eth0", "netns", self.netns)
            ip("addr", "add", f"{self.host_address}/{self.prefix}", "dev", self.netns)
            ip("link", "set", self.netns, "up")
            ip("-n", self.netns, "addr", "add", f"{self.address}/{self.prefix}", "dev", "eth0")
            ip("-n", self.netns, "link", "set", "eth0", "up")
            ip("-n", self.netns, "link", "set", "lo", "up")
            ip("-n", self.netns, "route", "add", "default", "via", self.host_address)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> list[str]:
        """Remove its containers and everything they use, then the namespace, the cable, the directory."""
        done = []
        if self.exists():
            reset = self.run([sys.executable, "-m", "minicontainer", "reset"], capture_output=True, text=True)
            done += [line for line in reset.stdout.splitlines() if line.strip()]
            ip("netns", "del", self.netns, check=False)
            done.append(f"removed network namespace {self.netns}")
        if ip("link", "del", self.netns, check=False).returncode == 0:
            done.append(f"removed cable {self.netns}")
        shutil.rmtree(self.directory, ignore_errors=True)
        (records_dir() / self.netns).unlink(missing_ok=True)
        return done

    def __enter__(self) -> "Machine":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def remove_leftover(name: str) -> list[str]:
    """Stop the lab machine `name` if an interrupted lesson left it (with the directory it recorded)."""
    record = records_dir() / (PREFIX + name)
    directory = record.read_text().strip() if record.is_file() else ""
    leftover = Machine(name, Path(directory or records_dir() / f".{PREFIX}{name}-unknown"))
    return leftover.stop() if leftover.exists() or directory else []


def sweep(paths: Paths) -> list[str]:
    """`minicontainer reset`: the lab machines a crashed lesson or test left (the machine's own run dir only)."""
    if os.path.normpath(paths.run_root) != os.path.normpath(DEFAULT_RUN_DIR):
        return []
    records = records_dir()
    found = {p.name for p in records.iterdir()} if records.is_dir() else set()
    found |= set(os.listdir(NETNS_DIR)) if os.path.isdir(NETNS_DIR) else set()
    done = []
    for netns in sorted(n for n in found if n.startswith(PREFIX)):
        record = records / netns
        directory = record.read_text().strip() if record.is_file() else ""
        machine = Machine(netns[len(PREFIX):], Path(directory or records / f".{netns}-unknown"))
        done += machine.stop()
    return done
