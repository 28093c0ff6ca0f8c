"""Networking on the real kernel: veth pairs, a bridge, leases, NAT and published ports.

Each test makes its own bridge (a unique mct* name and a free /24 of 10.200-249.x) and its own
network namespaces (`unshare -n` running busybox), so tests, notebooks and the learner's mc0 do
not clash. All traffic goes to loopback, the test's bridge or the test's namespaces. The
fixture's sweep checks that nothing (veth, lease, nft rule, bridge) is left behind.
"""

from __future__ import annotations

import ipaddress
import os
import random
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from minicontainer.errors import ContainerError
from minicontainer.network import NetworkOptions, attach, nat, parse_publish, sweep
from minicontainer.network.ipam import Pool

BUSYBOX = "busybox"


def _free_subnet() -> str:
    used = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    while True:
        net = ipaddress.IPv4Network(f"10.{random.randint(200, 249)}.{random.randint(0, 255)}.0/24")
        if f"10.{net.network_address.packed[1]}.{net.network_address.packed[2]}." not in used:
            return str(net)


@pytest.fixture
def net(paths):
    """A private bridge name and subnet; afterwards, proof that sweep leaves nothing."""
    name = f"mct{uuid.uuid4().hex[:8]}"
    options = dict(bridge=name, subnet=_free_subnet(), paths=paths)
    yield options
    sweep(paths)
    assert not Path(f"/sys/class/net/{name}").exists(), f"bridge {name} left behind"
    assert not [r for r in nat.rules() if r.tag("br") == name], f"nft rules of {name} left behind"
    assert not (paths.run_dir / "network" / name).exists()


@pytest.fixture
def netns(tmp_path):
    """Start processes in new network namespaces (busybox under `unshare -n`); killed afterwards."""
    started: list[subprocess.Popen] = []

    def start(*argv: str) -> subprocess.Popen:
        proc = subprocess.Popen(["unshare", "-n", BUSYBOX, *(argv or ("sleep", "60"))])
        started.append(proc)
        deadline = time.time() + 30  # a deadline for process start-up, not a speed check (a loaded CI is slow)
        while os.readlink(f"/proc/{proc.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
            assert time.time() < deadline, "unshare -n did not start"
            time.sleep(0.01)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def in_ns(pid: int, *argv: str, timeout: float = 10) -> subprocess.CompletedProcess:
    """Run a busybox applet inside the network namespace of pid."""
    return subprocess.run(["nsenter", "-t", str(pid), "-n", BUSYBOX, *argv],
                          capture_output=True, text=True, timeout=timeout)


def cid() -> str:
    return uuid.uuid4().hex


def http_get(url: str, wait: float = 30.0) -> str:
    """GET url; retried for `wait` seconds while the server is still starting (connection refused).

    Only a refused connection is retried, so the generous wait costs nothing when the server answers
    and does not hide a wrong answer; it is there for a busy CI machine where httpd starts slowly."""
    deadline = time.time() + wait
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read().decode()
        except ConnectionRefusedError:
            if time.time() > deadline:
                raise
            time.sleep(0.05)
        except urllib.error.URLError as exc:
            if not isinstance(exc.reason, ConnectionRefusedError) or time.time() > deadline:
                raise
            time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def host_veths() -> list[str]:
    return sorted(n for n in os.listdir("/sys/class/net") if n.startswith("mcv"))


def test_two_namespaces_on_the_bridge_ping_each_other(net, netns):
    a, b = netns(), netns()
    with attach(cid(), a.pid, NetworkOptions("bridge", **net)) as att_a, \
            attach(cid(), b.pid, NetworkOptions("bridge", **net)) as att_b:
        assert att_a.ip != att_b.ip
        assert ipaddress.IPv4Address(att_a.ip) in ipaddress.IPv4Network(net["subnet"])
        done = in_ns(a.pid, "ping", "-c", "1", "-W", "2", att_b.ip)
        assert done.returncode == 0, f"ping {att_b.ip} from a: {done.stdout}{done.stderr}"
        done = in_ns(b.pid, "ping", "-c", "1", "-W", "2", att_a.gateway)
        assert done.returncode == 0, f"ping the gateway from b: {done.stdout}{done.stderr}"
        route = in_ns(a.pid, "ip", "route").stdout
        assert f"default via {att_a.gateway}" in route


def test_published_port_answers_on_loopback_and_bridge_address(net, netns, tmp_path):
    (tmp_path / "index.html").write_text("hello from the container\n")
    httpd = netns("httpd", "-f", "-p", "80", "-h", str(tmp_path))
    port = free_port()
    with attach(cid(), httpd.pid, NetworkOptions("bridge", publish=[parse_publish(f"{port}:80")], **net)) as att:
        assert http_get(f"http://127.0.0.1:{port}/") == "hello from the container\n"
        assert http_get(f"http://{att.gateway}:{port}/") == "hello from the container\n"
        assert http_get(f"http://{att.ip}:80/") == "hello from the container\n"
        assert any(r.tag("id") == att.container_id for r in nat.rules())
    assert not any(r.tag("id") == att.container_id for r in nat.rules()), "DNAT rules outlived release()"
    with pytest.raises(OSError):
        http_get(f"http://127.0.0.1:{port}/", wait=0)


def test_network_none_has_only_loopback_and_it_is_up(paths, netns):
    proc = netns()
    att = attach(cid(), proc.pid, NetworkOptions("none", paths=paths))
    links = in_ns(proc.pid, "ip", "-o", "link").stdout
    names = [line.split(":")[1].strip() for line in links.splitlines()]
    assert names == ["lo"], f"devices in a --network none namespace: {names}"
    assert "UP" in links.split("<")[1].split(">")[0]
    assert in_ns(proc.pid, "ping", "-c", "1", "-W", "1", "127.0.0.1").returncode == 0
    att.release()


def test_release_removes_veth_lease_and_rules(net, netns):
    proc = netns()
    att = attach(cid(), proc.pid, NetworkOptions("bridge", publish=[parse_publish(f"{free_port()}:80")], **net))
    pool_dir = net["paths"].run_dir / "network" / net["bridge"]
    assert att.host_veth in host_veths()
    assert (pool_dir / "leases" / att.ip).exists()
    att.release()
    att.release()  # twice is harmless
    assert att.host_veth not in host_veths()
    assert not (pool_dir / "leases" / att.ip).exists()
    assert not any(r.tag("id") == att.container_id for r in nat.rules())


def test_killed_containers_leave_nothing_after_the_next_attach(net, netns):
    """50 attachments, every 5th one SIGKILLed without release(): the next attach collects them."""
    pool_dir = net["paths"].run_dir / "network" / net["bridge"]
    for n in range(50):
        proc = netns()
        att = attach(cid(), proc.pid, NetworkOptions("bridge", publish=[parse_publish(f"{free_port()}:80")], **net))
        if n % 5 == 4:
            proc.send_signal(signal.SIGKILL)  # the runtime never calls release()
            proc.wait()
        else:
            att.release()
            proc.kill()
            proc.wait()
    last = netns()
    with attach(cid(), last.pid, NetworkOptions("bridge", **net)) as att:
        leases = Pool(pool_dir, net["subnet"]).leases()
        assert [lease.address for lease in leases] == [att.ip]
        assert [r for r in nat.rules() if r.tag("br") == net["bridge"] and r.tag("id")] == []
        assert host_veths().count(att.host_veth) == 1
        mine = [v for v in host_veths() if Path(f"/sys/class/net/{v}/master").resolve().name == net["bridge"]]
        assert mine == [att.host_veth]
    assert list((pool_dir / "leases").iterdir()) == []


def test_port_already_in_use_fails_and_leaves_nothing(net, netns):
    proc = netns()
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        before = host_veths()
        with pytest.raises(ContainerError, match="already in use"):
            attach(cid(), proc.pid, NetworkOptions("bridge", publish=[parse_publish(f"{port}:80")], **net))
    assert host_veths() == before
    assert not list((net["paths"].run_dir / "network" / net["bridge"] / "leases").glob("*"))


def test_a_port_published_twice_is_refused(net, netns):
    port = free_port()
    first, second = netns(), netns()
    with attach(cid(), first.pid, NetworkOptions("bridge", publish=[parse_publish(f"{port}:80")], **net)):
        with pytest.raises(ContainerError, match=f"Bind for 0.0.0.0:{port} failed: port is already allocated"):
            attach(cid(), second.pid, NetworkOptions("bridge", publish=[parse_publish(f"{port}:81")], **net))


def test_a_subnet_that_clashes_with_a_host_route_is_refused(paths, netns):
    dummy, subnet = f"mctd{uuid.uuid4().hex[:6]}", _free_subnet()
    host = ipaddress.IPv4Network(subnet)
    subprocess.run(["ip", "link", "add", dummy, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", f"{host.network_address + 1}/24", "dev", dummy], check=True)
        subprocess.run(["ip", "link", "set", dummy, "up"], check=True)
        bridge = f"mct{uuid.uuid4().hex[:8]}"
        with pytest.raises(ContainerError, match=f"overlaps {subnet}"):
            attach(cid(), netns().pid, NetworkOptions("bridge", bridge=bridge, subnet=subnet, paths=paths))
        assert not Path(f"/sys/class/net/{bridge}").exists()
    finally:
        subprocess.run(["ip", "link", "del", dummy])
    sweep(paths)


def test_hosts_files_name_the_peers(net, netns, tmp_path):
    root_a, root_b = tmp_path / "a", tmp_path / "b"
    a, b = netns(), netns()
    with attach(cid(), a.pid, NetworkOptions("bridge", name="web", etc_dir=root_a / "etc", **net)) as att_a:
        with attach(cid(), b.pid, NetworkOptions("bridge", name="db", etc_dir=root_b / "etc", **net)) as att_b:
            assert f"{att_b.ip}\tdb" in (root_a / "etc/hosts").read_text().splitlines()
            assert f"{att_a.ip}\tweb" in (root_b / "etc/hosts").read_text().splitlines()
            assert "nameserver" in (root_b / "etc/resolv.conf").read_text()
        assert "db" not in (root_a / "etc/hosts").read_text()


def _mc_bridges() -> list[str]:
    return [p.name for p in Path("/sys/class/net").iterdir() if (p / "bridge").is_dir() and p.name.startswith("mc")]


def test_sweep_removes_bridge_rules_and_table_when_empty(paths, netns):
    name = f"mct{uuid.uuid4().hex[:8]}"
    forward_before = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    others = _mc_bridges()
    proc = netns()
    attach(cid(), proc.pid, NetworkOptions("bridge", bridge=name, subnet=_free_subnet(), paths=paths,
                                           publish=[parse_publish(f"{free_port()}:80")]))
    assert Path(f"/sys/class/net/{name}").exists()
    removed = sweep(paths)
    assert f"removed bridge {name}" in removed
    assert not [r for r in nat.rules() if r.tag("br") == name]
    if not nat.rules():
        assert not nat.table_exists(), "the empty minicontainer table should be deleted"
    if not others and not _mc_bridges():  # the host's ip_forward is back as it was
        assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == forward_before


def test_picture_shows_bridge_containers_addresses_and_ports(net, netns):
    from minicontainer.widgets.network import render_svg, render_text, snapshot

    port = free_port()
    a, b = netns(), netns()
    with attach(cid(), a.pid, NetworkOptions("bridge", name="web", publish=[parse_publish(f"{port}:80")], **net)) as web, \
            attach(cid(), b.pid, NetworkOptions("bridge", name="db", **net)) as db:
        views = snapshot(net["paths"], [net["bridge"]])
        text = render_text(views)
        assert [v.name for v in views] == [net["bridge"]]
        assert views[0].address == f"{web.gateway}/24"
        assert {p.name: p.address for p in views[0].plugs} == {"web": web.ip, "db": db.ip}
        assert f"0.0.0.0:{port}→80/tcp" in text and web.host_veth in text and db.host_veth in text
        assert render_svg(views).startswith("<svg")
    assert render_text(snapshot(net["paths"], [net["bridge"]])).endswith("(nothing plugged in)")


def test_a_bridge_left_half_made_by_a_killed_runtime_is_completed(net, netns):
    """The runtime died after creating the bridge but before its NAT rules: the next attach adds them."""
    import json

    pool_dir = net["paths"].run_dir / "network" / net["bridge"]
    pool_dir.mkdir(parents=True)
    (pool_dir / "bridge.json").write_text(json.dumps({"bridge": net["bridge"]}))
    gateway = ipaddress.IPv4Network(net["subnet"]).network_address + 1
    subprocess.run(["ip", "link", "add", net["bridge"], "type", "bridge"], check=True)
    subprocess.run(["ip", "addr", "add", f"{gateway}/24", "dev", net["bridge"]], check=True)
    assert not [r for r in nat.rules() if r.tag("br") == net["bridge"]]
    with attach(cid(), netns().pid, NetworkOptions("bridge", **net)):
        masquerades = [r for r in nat.rules() if r.tag("br") == net["bridge"] and not r.tag("id")]
        assert len(masquerades) == 4, masquerades  # 3 masquerades and the loopback guard (lesson 08)
