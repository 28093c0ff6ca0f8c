"""Checks for lesson 07 (networking). Run them with `make check EX=07`, or `check("7.2")` in the notebook.

7.3, 7.4 and 7.5 run on the real kernel: the rules are checked by nft itself (`nft -c`, which changes
nothing), and the veth goes into a network namespace the check makes and removes. The milestone runs
your runtime: two containers on a bridge of the check's, one publishing a busybox httpd on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import time
import urllib.request
import uuid

import pytest

from minicontainer.errors import ContainerError, UsageError
from minicontainer.network.ports import PortMapping


@pytest.mark.exercise("7.1")
def test_free_address_skips_gateway_and_used(ex):
    got = ex.free_address("10.88.0.0/16", "10.88.0.1", set())
    assert got == "10.88.0.2", f"free_address('10.88.0.0/16', gateway '10.88.0.1', nothing used) returned {got!r}; expected '10.88.0.2'"
    got = ex.free_address("10.88.0.0/16", "10.88.0.1", {"10.88.0.2", "10.88.0.4"})
    assert got == "10.88.0.3", f"with .2 and .4 used it returned {got!r}; expected '10.88.0.3'"
    got = ex.free_address("192.168.9.0/24", "192.168.9.7", set())
    assert got == "192.168.9.1", f"a gateway at .7 leaves .1 free: got {got!r}"


@pytest.mark.exercise("7.1")
def test_free_address_says_when_the_subnet_is_full(ex):
    with pytest.raises(ContainerError):
        got = ex.free_address("192.168.7.0/30", "192.168.7.1", {"192.168.7.2"})
        pytest.fail(f"free_address('192.168.7.0/30', ...) returned {got!r}; the subnet is full (.1 gateway, .2 used, "
                    ".3 broadcast): expected a ContainerError")


@pytest.mark.exercise("7.2")
def test_parse_publish_reads_the_forms(ex):
    cases = {"8080:80": PortMapping(8080, 80, "tcp", ""), "8080:80/udp": PortMapping(8080, 80, "udp", ""),
             "127.0.0.1:8080:80/tcp": PortMapping(8080, 80, "tcp", "127.0.0.1"), "80": PortMapping(0, 80, "tcp", ""),
             "127.0.0.1::80": PortMapping(0, 80, "tcp", "127.0.0.1"), "53:53/UDP": PortMapping(53, 53, "udp", "")}
    for spec, expected in cases.items():
        got = ex.parse_publish(spec)
        assert got == expected, f"parse_publish({spec!r}) returned {got!r}; expected {expected!r}"


@pytest.mark.exercise("7.2")
def test_parse_publish_refuses_bad_input(ex):
    for spec in ["", "8080:80/sctp", "70000:80", "0:80", "a:80", "1:2:3:4", "8080:", "300.1.1.1:80:80", "80/"]:
        try:
            got = ex.parse_publish(spec)
        except UsageError:
            continue
        pytest.fail(f"parse_publish({spec!r}) returned {got!r}; expected a UsageError")


def _nft_accepts(rules: list[tuple[str, str]]) -> subprocess.CompletedProcess:
    chains = "".join(f" chain {chain} {{\n  type nat hook {chain} priority -100;\n"
                     + "".join(f"  {rule}\n" for c, rule in rules if c == chain) + " }\n"
                     for chain in sorted({c for c, _ in rules}))
    return subprocess.run(["nft", "-c", "-f", "-"], input=f"table ip mccheck {{\n{chains}}}\n", capture_output=True, text=True)


@pytest.mark.exercise("7.3")
def test_dnat_rules_for_any_host_address(ex):
    got = [tuple(r) for r in ex.dnat_rules(PortMapping(8080, 80, "tcp", ""), "10.88.0.2")]
    rule = "fib daddr type local tcp dport 8080 dnat to 10.88.0.2:80"
    assert got == [("prerouting", rule), ("output", rule)], f"dnat_rules(8080->80, '10.88.0.2') returned {got}"
    done = _nft_accepts(got)
    assert done.returncode == 0, f"nft -c refused your rules: {done.stderr.strip()}"


@pytest.mark.exercise("7.3")
def test_dnat_rules_for_one_host_address(ex):
    got = [tuple(r) for r in ex.dnat_rules(PortMapping(5353, 53, "udp", "127.0.0.1"), "10.88.0.9")]
    rule = "ip daddr 127.0.0.1 udp dport 5353 dnat to 10.88.0.9:53"
    assert got == [("prerouting", rule), ("output", rule)], f"dnat_rules(127.0.0.1:5353->53/udp) returned {got}"
    assert _nft_accepts(got).returncode == 0


@pytest.fixture
def namespace():
    """A process in a network namespace of its own (killed afterwards: the namespace goes with it)."""
    proc = subprocess.Popen(["unshare", "-n", "sleep", "60"])
    while os.readlink(f"/proc/{proc.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
        time.sleep(0.01)
    yield proc.pid
    proc.kill()
    proc.wait()


def _inside(pid: int, *args: str) -> str:
    return subprocess.run(["nsenter", "-t", str(pid), "-n", *args], capture_output=True, text=True).stdout


@pytest.mark.exercise("7.4")
def test_create_pair_puts_eth0_in_the_namespace_and_plugs_the_bridge(ex, namespace):
    from pyroute2 import IPRoute

    tag = uuid.uuid4().hex[:6]
    host, bridge = f"mcx{tag}", f"mcxb{tag}"
    try:
        with IPRoute() as ipr:
            ipr.link("add", ifname=bridge, kind="bridge")
            bridge_index = ipr.link_lookup(ifname=bridge)[0]
            index = ex.create_pair(ipr, host, namespace, bridge_index)
            link = ipr.get_links(index)[0]
            assert link.get_attr("IFLA_IFNAME") == host, f"create_pair returned index {index}, which is not {host}"
            assert link.get_attr("IFLA_MASTER") == bridge_index, f"{host} is not plugged into the bridge {bridge}"
            assert link.get_attr("IFLA_OPERSTATE") in ("UP", "LOWERLAYERDOWN", "DORMANT") or link["flags"] & 1, \
                f"{host} is not up"
        assert open(f"/sys/class/net/{host}/brport/hairpin_mode").read().strip() == "1", "hairpin_mode is not 1"
        assert "eth0" in _inside(namespace, "ip", "-o", "link"), "there is no eth0 in the container's namespace"
    finally:
        subprocess.run(["ip", "link", "del", host], capture_output=True)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)


@pytest.mark.exercise("7.5")
def test_configure_inside_gives_the_namespace_an_address_and_a_route(ex, namespace):
    host = f"mcx{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", str(namespace)], check=True)
    try:
        ex.configure_inside(namespace, ipaddress.IPv4Interface("10.250.77.2/24"), "10.250.77.1")
        addrs = _inside(namespace, "ip", "-4", "-o", "addr")
        assert "eth0" in addrs and "10.250.77.2/24" in addrs, f"inside the namespace `ip addr` shows:\n{addrs}\nexpected eth0 with 10.250.77.2/24"
        assert " lo " in addrs, "lo has no address inside: is it up?"
        routes = _inside(namespace, "ip", "route")
        assert "default via 10.250.77.1" in routes, f"inside the namespace the routes are:\n{routes}\nexpected a default via 10.250.77.1"
    finally:
        subprocess.run(["ip", "link", "del", host], capture_output=True)


@pytest.mark.exercise("7.5")
def test_configure_inside_without_an_address_brings_lo_up(ex, namespace):
    ex.configure_inside(namespace, None, None)
    assert "127.0.0.1" in _inside(namespace, "ip", "-4", "-o", "addr"), "configure_inside(pid, None, None) must bring lo up"


# --- the milestone: your runtime -----------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.milestone("your runtime put two containers on a bridge and published a busybox httpd on 127.0.0.1")
def test_milestone_your_runtime_publishes_a_web_server(yours):
    tag = uuid.uuid4().hex[:6]
    env = {"MC_BRIDGE": f"mcm{tag}", "MC_SUBNET": f"10.{200 + int(tag[:2], 16) % 50}.{int(tag[2:4], 16)}.0/24"}
    web, port = f"mc-m07-{tag}", _free_port()
    try:
        yours("run", "-d", "--name", web, "--network", "bridge", "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c",
              "mkdir -p /www && echo hello from your runtime > /www/index.html && exec httpd -f -p 80 -h /www", env=env)
        body = ""
        for _ in range(100):
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert body == "hello from your runtime\n", \
            f"http://127.0.0.1:{port}/ answered {body!r}: the published port does not reach the container's httpd"
        ip = yours("exec", web, "ip", "-o", "-4", "addr", "show", "eth0", env=env).stdout.split()[3]
        gateway = str(next(ipaddress.IPv4Network(env["MC_SUBNET"]).hosts()))
        assert ip.endswith("/24") and ip.split("/")[0] != gateway, f"the container's eth0 has {ip}"
        other = yours("run", "--rm", "--network", "bridge", "busybox", "sh", "-c",
                      f"ip -o -4 addr show eth0; wget -q -O- http://{ip.split('/')[0]}/", env=env).stdout
        assert "hello from your runtime" in other and ip.split("/")[0] not in other.split()[3], \
            f"a second container on the bridge (another address) could not fetch the page: {other!r}"
    finally:
        yours("rm", "-f", web, ok=False, env=env)
        yours("network", "rm", env["MC_BRIDGE"], ok=False, env=env)
