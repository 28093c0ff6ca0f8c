"""`minicontainer run --network ...` on the real kernel: the lesson 07 promises, end to end.

Every test uses its own bridge (MC_BRIDGE, a unique mct* name) and a free /24 (MC_SUBNET), and
talks only to loopback, that bridge and its containers.
"""

from __future__ import annotations

import ipaddress
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from minicontainer.network import nat, sweep


def mc(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """The minicontainer command, as a learner runs it."""
    launcher = Path(sys.executable).parent / "minicontainer"
    return subprocess.run([str(launcher), *args], capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str, wait: float = 30) -> bytes:
    """GET url, retrying for `wait` seconds while the server in the container starts (slowly on a busy
    CI machine: the wait only costs time when the test would fail anyway)."""
    deadline = time.time() + wait
    while True:
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                return response.read()
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture
def bridge(paths, busybox_rootfs, monkeypatch):
    """A private bridge for `run --network bridge`; afterwards nothing of it may remain."""
    name = f"mct{uuid.uuid4().hex[:8]}"
    used = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    while True:
        subnet = ipaddress.IPv4Network(f"10.{random.randint(200, 249)}.{random.randint(0, 255)}.0/24")
        if ".".join(str(subnet.network_address).split(".")[:3]) + "." not in used:
            break
    monkeypatch.setenv("MC_BRIDGE", name)
    monkeypatch.setenv("MC_SUBNET", str(subnet))
    yield {"name": name, "subnet": subnet, "gateway": str(subnet.network_address + 1), "rootfs": str(busybox_rootfs)}
    from minicontainer import container
    container.sweep(paths)
    sweep(paths)
    assert not Path(f"/sys/class/net/{name}").exists()
    assert not [r for r in nat.rules() if r.tag("br") == name]


def veths_on(bridge_name: str) -> list[str]:
    return sorted(n for n in os.listdir("/sys/class/net")
                  if Path(f"/sys/class/net/{n}/master").exists()
                  and Path(f"/sys/class/net/{n}/master").resolve().name == bridge_name)


def test_two_containers_ping_each_other_by_ip_and_by_name(bridge):
    first = mc("run", "-d", "--name", "alpha", "--network", "bridge", "--rootfs", bridge["rootfs"], "sleep", "30")
    assert first.returncode == 0, first.stderr
    address = mc("exec", "alpha", "ip", "-o", "-4", "addr", "show", "eth0").stdout.split()[3].split("/")[0]
    assert ipaddress.IPv4Address(address) in bridge["subnet"]
    done = mc("run", "--rm", "--name", "beta", "--network", "bridge", "--rootfs", bridge["rootfs"], "sh", "-c",
              f"ping -c 1 -W 2 {address} && ping -c 1 -W 2 alpha && grep alpha /etc/hosts")
    assert done.returncode == 0, f"beta could not reach alpha:\n{done.stdout}{done.stderr}"
    assert f"{address}\talpha" in done.stdout
    mc("rm", "-f", "alpha")
    assert veths_on(bridge["name"]) == []


def test_httpd_answers_on_a_published_port_via_loopback_and_bridge_address(bridge, tmp_path):
    (tmp_path / "index.html").write_text("published!\n")
    port = free_port()
    started = mc("run", "-d", "--name", "web", "--network", "bridge", "-p", f"{port}:80", "-v", f"{tmp_path}:/www",
                 "--rootfs", bridge["rootfs"], "httpd", "-f", "-p", "80", "-h", "/www")
    assert started.returncode == 0, started.stderr
    try:
        for host in ("127.0.0.1", bridge["gateway"]):
            assert fetch(f"http://{host}:{port}/") == b"published!\n"
        url = f"http://{bridge['gateway']}:{port}/"
        itself = mc("exec", "web", "timeout", "5", "wget", "-q", "-O-", url)
        assert itself.stdout == "published!\n", f"web via its own published port (hairpin): {itself.stderr}"
        other = mc("run", "--rm", "--network", "bridge", "--rootfs", bridge["rootfs"], "timeout", "5", "wget", "-q", "-O-", url)
        assert other.stdout == "published!\n", f"another container via the published port: {other.stderr}"
    finally:
        mc("rm", "-f", "web")
    assert not [r for r in nat.rules() if r.tag("br") == bridge["name"] and r.tag("id")]


def test_publish_without_a_host_port_takes_a_free_one_that_port_shows(bridge, tmp_path):
    (tmp_path / "index.html").write_text("any port\n")
    started = mc("run", "-d", "--name", "anyport", "--network", "bridge", "-p", "127.0.0.1::80", "-v",
                 f"{tmp_path}:/www", "--rootfs", bridge["rootfs"], "httpd", "-f", "-p", "80", "-h", "/www")
    assert started.returncode == 0, started.stderr
    try:
        shown = mc("port", "anyport").stdout.split()
        assert shown[:2] == ["80/tcp", "->"] and shown[2].startswith("127.0.0.1:"), shown
        port = int(shown[2].split(":")[1])
        assert fetch(f"http://127.0.0.1:{port}/") == b"any port\n"
    finally:
        mc("rm", "-f", "anyport")


UDP_ECHO = """
import socket, sys
from minicontainer.namespaces import join
join(int(sys.argv[1]), ["net"])  # this process now lives in the container's network namespace
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5353))
print("ready", flush=True)
data, peer = s.recvfrom(100)
s.sendto(b"echo " + data, peer)
"""


def test_a_published_udp_port_reaches_the_container(bridge):
    """-p HOST:5353/udp: a datagram to the host's port reaches a server in the container and the
    reply comes back (busybox has no UDP server, so a Python one joins the container's network)."""
    from minicontainer import container

    port = free_port()
    started = mc("run", "-d", "--name", "dns", "--network", "bridge", "-p", f"{port}:5353/udp",
                 "--rootfs", bridge["rootfs"], "sleep", "60")
    assert started.returncode == 0, started.stderr
    server = None
    try:
        pid = container.find(container.default_paths(), "dns").pid
        server = subprocess.Popen([sys.executable, "-c", UDP_ECHO, str(pid)], stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "ready"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(5)
            client.sendto(b"hello", ("127.0.0.1", port))
            assert client.recvfrom(100)[0] == b"echo hello"
        assert server.wait(timeout=10) == 0
    finally:
        if server is not None and server.poll() is None:
            server.kill()
            server.wait()
        mc("rm", "-f", "dns")


def test_network_none_has_only_loopback_up(paths, busybox_rootfs):
    done = mc("run", "--rm", "--rootfs", str(busybox_rootfs), "ip", "-o", "link")
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].split(":")[1].strip() == "lo", done.stdout
    assert ",UP" in lines[0], f"lo is down in a --network none container: {lines[0]}"
    assert mc("run", "--rm", "--rootfs", str(busybox_rootfs), "ping", "-c", "1", "-W", "1", "127.0.0.1").returncode == 0


def test_network_container_shares_the_other_containers_namespace(bridge):
    assert mc("run", "-d", "--name", "owner", "--network", "bridge", "--rootfs", bridge["rootfs"],
              "sleep", "30").returncode == 0
    mine = mc("exec", "owner", "ip", "-o", "-4", "addr", "show", "eth0").stdout.split()[3]
    shared = mc("run", "--rm", "--network", "container:owner", "--rootfs", bridge["rootfs"],
                "ip", "-o", "-4", "addr", "show", "eth0")
    assert shared.returncode == 0, shared.stderr
    assert shared.stdout.split()[3] == mine
    mc("rm", "-f", "owner")


def test_bad_network_options_are_clear_errors(paths, busybox_rootfs):
    for flags, message in [(["--network", "bogus"], "unknown network mode"),
                           (["-p", "80:80:80"], "malformed port mapping"),
                           (["-p", "8080:80"], "-p needs --network bridge"),
                           (["--network", "container:nobody"], "No such container")]:
        done = mc("run", "--rm", *flags, "--rootfs", str(busybox_rootfs), "true")
        assert done.returncode == 125 and message in done.stderr, (flags, done.stderr)
    assert list(paths.containers_dir.glob("*")) == [] if paths.containers_dir.exists() else True


def test_a_used_host_port_fails_and_leaves_nothing(bridge):
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = mc("run", "--rm", "--network", "bridge", "-p", f"{port}:80", "--rootfs", bridge["rootfs"], "true")
    assert done.returncode == 125 and "already in use" in done.stderr, done.stderr
    assert veths_on(bridge["name"]) == []


def test_after_50_runs_some_sigkilled_nothing_remains(bridge, paths):
    launcher = str(Path(sys.executable).parent / "minicontainer")
    pool = paths.run_dir / "network" / bridge["name"] / "leases"
    for n in range(50):
        flags = ["--network", "bridge", "-p", f"{free_port()}:80", "--rootfs", bridge["rootfs"]]
        if n % 5 == 4:  # every fifth: SIGKILL the runtime while its container runs
            before = set(pool.iterdir()) if pool.is_dir() else set()
            runtime = subprocess.Popen([launcher, "run", "--rm", *flags, "sleep", "30"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.time() + 30  # process start-up with pyroute2: slow on a loaded or emulated host
            while not (pool.is_dir() and set(pool.iterdir()) - before):
                assert time.time() < deadline and runtime.poll() is None, "the container never got its address"
                time.sleep(0.01)
            time.sleep(0.05)
            runtime.send_signal(signal.SIGKILL)
            runtime.wait()
        else:
            done = mc("run", "--rm", *flags, "true")
            assert done.returncode == 0, done.stderr
    time.sleep(0.2)
    mc("ps", "-a")  # any command collects crashed runs, as the next `run` would
    assert veths_on(bridge["name"]) == []
    assert list(pool.iterdir()) == []
    assert [r for r in nat.rules() if r.tag("br") == bridge["name"] and r.tag("id")] == []


def test_runtimes_killed_at_any_moment_of_network_set_up_leave_nothing(bridge, paths):
    """SIGKILL at 10 moments from 0 to 1.1 times a whole run: before, during and after the veth, the
    address lease and the port rules are made. The next command collects what each one left."""
    launcher = str(Path(sys.executable).parent / "minicontainer")
    pool = paths.run_dir / "network" / bridge["name"] / "leases"

    def flags() -> list[str]:
        return ["--rm", "--network", "bridge", "-p", f"{free_port()}:80", "--rootfs", bridge["rootfs"]]

    start = time.monotonic()
    assert mc("run", *flags(), "true").returncode == 0
    took = time.monotonic() - start
    for i in range(10):
        runtime = subprocess.Popen([launcher, "run", *flags(), "sleep", "30"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(took * 1.1 * i / 10)
        runtime.send_signal(signal.SIGKILL)
        runtime.wait()
        mc("ps", "-a")  # collects the crashed run, as the next `run` would
    assert veths_on(bridge["name"]) == []
    assert not pool.is_dir() or list(pool.iterdir()) == []
    assert [r for r in nat.rules() if r.tag("br") == bridge["name"] and r.tag("id")] == []
    assert mc("ps", "-aq").stdout.split() == []


def test_concurrent_starts_get_distinct_addresses(bridge):
    launcher = str(Path(sys.executable).parent / "minicontainer")
    names = [f"par{n}" for n in range(6)]
    starts = [subprocess.Popen([launcher, "run", "-d", "--name", name, "--network", "bridge", "--rootfs", bridge["rootfs"],
                                "sleep", "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for name in names]
    try:
        for proc in starts:
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
        addresses = [mc("exec", name, "ip", "-o", "-4", "addr", "show", "eth0").stdout.split()[3] for name in names]
        assert len(set(addresses)) == len(names), f"two containers got the same address: {addresses}"
    finally:
        mc("rm", "-f", *names)
    assert veths_on(bridge["name"]) == []


def test_reset_removes_containers_bridge_and_rules(bridge, paths):
    from minicontainer import lab

    assert mc("run", "-d", "--name", "doomed", "--network", "bridge", "-p", f"{free_port()}:80",
              "--rootfs", bridge["rootfs"], "sleep", "30").returncode == 0
    assert Path(f"/sys/class/net/{bridge['name']}").exists()
    removed = lab.reset(paths, remove_images=False)
    assert f"removed bridge {bridge['name']}" in removed
    assert not Path(f"/sys/class/net/{bridge['name']}").exists()
    assert not [r for r in nat.rules() if r.tag("br") == bridge["name"]]
    assert veths_on(bridge["name"]) == []


def test_network_ls_and_rm(bridge):
    port = free_port()
    assert mc("run", "-d", "--name", "shown", "--network", "bridge", "-p", f"{port}:80",
              "--rootfs", bridge["rootfs"], "sleep", "30").returncode == 0
    picture = mc("network", "ls").stdout
    line = next(ln for ln in picture.splitlines() if "shown" in ln)
    assert bridge["name"] in picture and f"0.0.0.0:{port}→80/tcp" in line
    refused = mc("network", "rm", bridge["name"])
    assert refused.returncode == 1 and "used by 1 running container" in refused.stderr  # Docker's status
    mc("rm", "-f", "shown")
    done = mc("network", "rm", bridge["name"])
    assert done.returncode == 0 and f"removed bridge {bridge['name']}" in done.stdout
    assert not Path(f"/sys/class/net/{bridge['name']}").exists()


def test_picture_degrades_to_text_without_ipywidgets(paths, monkeypatch, capsys):
    from minicontainer.widgets import network as picture

    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # `import ipywidgets` now fails
    assert picture.show(paths, bridges=["mcnothing"]) is None
    assert "no minicontainer bridge yet" in capsys.readouterr().out


def test_a_bridge_drops_new_connections_to_loopback_from_other_devices(bridge):
    """CVE-2020-8558: route_localnet=1 on the bridge (for -p from 127.0.0.1) must not let containers
    reach services bound to the host's 127.0.0.1; the drop rule lives and goes with the bridge."""
    assert mc("run", "--rm", "--network", "bridge", "--rootfs", bridge["rootfs"], "true").returncode == 0
    mine = [r for r in nat.rules() if r.tag("br") == bridge["name"] and r.chain == "input"]
    assert len(mine) == 1, f"no input rule for {bridge['name']}: {nat.rules()}"
    assert "127.0.0.0/8" in mine[0].text and "lo" in mine[0].text


def test_a_container_cannot_reach_the_hosts_loopback_through_the_bridge(bridge):
    """The attack itself: the container routes 127.0.0.1 to its gateway (done from the host with
    nsenter, the way a container with CAP_NET_ADMIN would) and connects to a server on the host's
    127.0.0.1. (On kernels that also refuse such packets for other reasons this passes without the rule.)"""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    name = f"mct-attacker-{uuid.uuid4().hex[:6]}"
    assert mc("run", "-d", "--name", name, "--network", "bridge", "--rootfs", bridge["rootfs"], "sleep", "60").returncode == 0
    try:
        import json
        pid = json.loads(mc("inspect", name).stdout)[0]["State"]["Pid"]
        setup = ("sysctl -qw net.ipv4.conf.eth0.route_localnet=1; ip route del local 127.0.0.1 dev lo table local; "
                 f"ip route del local 127.0.0.0/8 dev lo table local; ip route add 127.0.0.1/32 via {bridge['gateway']}")
        subprocess.run(["nsenter", "-t", str(pid), "-n", "sh", "-c", setup], check=True, timeout=30)
        probe = (f"import socket; s = socket.socket(); s.settimeout(2)\n"
                 f"try:\n    s.connect(('127.0.0.1', {port})); print('connected')\nexcept OSError as e: print(e)")
        out = subprocess.run(["nsenter", "-t", str(pid), "-n", sys.executable, "-c", probe], capture_output=True,
                             text=True, timeout=30).stdout
        try:
            server.accept()[0].close()
            reached = True
        except OSError:
            reached = False
    finally:
        mc("rm", "-f", name)
        server.close()
    assert "connected" not in out and not reached
