"""Checks for lesson 07 (networking). Run them with `make check EX=07`, or `check("7.2")` in the notebook.

7.3 and 7.4 run on the real kernel: the rule is checked by nft itself (`nft -c`, which changes
nothing) and the veth goes into a network namespace the check makes and removes.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import time
import uuid

import pytest


@pytest.mark.exercise("7.1")
def test_parse_publish_reads_the_three_forms(ex):
    cases = {"8080:80": ("", 8080, 80, "tcp"), "8080:80/udp": ("", 8080, 80, "udp"),
             "127.0.0.1:8080:80/tcp": ("127.0.0.1", 8080, 80, "tcp")}
    for spec, expected in cases.items():
        got = ex.parse_publish(spec)
        assert tuple(got) == expected, f"parse_publish({spec!r}) returned {got!r}; expected {expected!r}"


@pytest.mark.exercise("7.1")
def test_parse_publish_refuses_bad_input(ex):
    for spec in ["8080", "8080:80/sctp", "70000:80", "0:80", "a:80", "1:2:3:4"]:
        try:
            got = ex.parse_publish(spec)
        except ValueError:
            continue
        pytest.fail(f"parse_publish({spec!r}) returned {got!r}; expected a ValueError")


@pytest.mark.exercise("7.2")
def test_next_free_address_skips_gateway_and_used(ex):
    got = ex.next_free_address("10.88.0.0/16", set())
    assert got == "10.88.0.2", f"next_free_address('10.88.0.0/16', set()) returned {got!r}; expected '10.88.0.2' (.1 is the bridge)"
    got = ex.next_free_address("10.88.0.0/16", {"10.88.0.2", "10.88.0.4"})
    assert got == "10.88.0.3", f"with .2 and .4 used it returned {got!r}; expected '10.88.0.3'"


@pytest.mark.exercise("7.2")
def test_next_free_address_says_when_full(ex):
    used = {"192.168.7.2"}
    try:
        got = ex.next_free_address("192.168.7.0/30", used)
    except NotImplementedError:
        raise
    except RuntimeError:
        return
    pytest.fail(f"next_free_address('192.168.7.0/30', {used}) returned {got!r}; the subnet is full "
                "(.1 is the gateway, .2 is used, .3 is the broadcast): expected a RuntimeError")


@pytest.mark.exercise("7.3")
def test_dnat_rule_is_accepted_by_nft(ex):
    rule = ex.dnat_rule(8080, "10.88.0.2", 80)
    assert "dnat to 10.88.0.2:80" in rule and "dport 8080" in rule, \
        f"dnat_rule(8080, '10.88.0.2', 80) returned {rule!r}; expected it to match dport 8080 and 'dnat to 10.88.0.2:80'"
    script = ("table ip mccheck {\n chain output {\n  type nat hook output priority -100;\n"
              f"  {rule}\n }}\n}}\n")
    done = subprocess.run(["nft", "-c", "-f", "-"], input=script, capture_output=True, text=True)
    assert done.returncode == 0, f"nft -c refused the rule {rule!r}: {done.stderr.strip()}"


@pytest.mark.exercise("7.3")
def test_dnat_rule_matches_local_addresses_only(ex):
    rule = ex.dnat_rule(5353, "10.88.0.9", 53, "udp")
    assert rule.startswith("fib daddr type local"), \
        f"dnat_rule(...) returned {rule!r}; expected it to start with 'fib daddr type local' (only the host's own addresses)"
    assert "udp dport 5353" in rule, f"dnat_rule(5353, ..., 'udp') returned {rule!r}; expected 'udp dport 5353'"


@pytest.mark.exercise("7.4")
def test_plug_veth_connects_the_namespace(ex):
    from pyroute2 import IPRoute

    host_name = f"mcx{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(["unshare", "-n", "busybox", "sleep", "30"])
    try:
        while os.readlink(f"/proc/{proc.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
            time.sleep(0.01)
        with IPRoute() as ipr:
            ex.plug_veth(ipr, host_name, proc.pid, "10.250.77.2/24", "10.250.77.1")
            assert ipr.link_lookup(ifname=host_name), f"after plug_veth there is no {host_name} on the host"
        inside = subprocess.run(["nsenter", "-t", str(proc.pid), "-n", "ip", "-4", "-o", "addr"],
                                capture_output=True, text=True).stdout
        assert "eth0" in inside and "10.250.77.2/24" in inside, \
            f"inside the namespace `ip addr` shows:\n{inside}\nexpected eth0 with 10.250.77.2/24"
        assert " lo " in inside, "lo has no address inside: is it up?"
        routes = subprocess.run(["nsenter", "-t", str(proc.pid), "-n", "ip", "route"],
                                capture_output=True, text=True).stdout
        assert "default via 10.250.77.1" in routes, f"inside the namespace the routes are:\n{routes}\nexpected a default via 10.250.77.1"
    finally:
        subprocess.run(["ip", "link", "del", host_name], capture_output=True)
        proc.kill()
        proc.wait()
