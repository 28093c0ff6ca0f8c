"""Parsing -p, checking host ports, and the text of /etc/hosts and /etc/resolv.conf (no kernel state)."""

from __future__ import annotations

import socket

import pytest

from minicontainer.errors import ContainerError, UsageError
from minicontainer.network import parse_network
from minicontainer.network.hosts import hosts_file, resolv_conf
from minicontainer.network.ports import PortMapping, check_host_port_free, choose_host_port, dnat_rules, parse_publish


@pytest.mark.parametrize("spec, expected", [
    ("8080:80", PortMapping(8080, 80, "tcp", "")),
    ("8080:80/udp", PortMapping(8080, 80, "udp", "")),
    ("127.0.0.1:8080:80/tcp", PortMapping(8080, 80, "tcp", "127.0.0.1")),
    (" 53:53/UDP ", PortMapping(53, 53, "udp", "")),
    ("8080", PortMapping(0, 8080, "tcp", "")),                   # host port 0: any free one (Docker's -p 80)
    ("53/udp", PortMapping(0, 53, "udp", "")),
    ("127.0.0.1::80", PortMapping(0, 80, "tcp", "127.0.0.1")),
])
def test_publish_specs_parse(spec, expected):
    assert parse_publish(spec) == expected


@pytest.mark.parametrize("spec", ["127.0.0.1:80", "80:80:80", "a:80", "8080:80/sctp", "70000:80", "0:80",
                                  "999.1.1.1:80:80", "8080:80/", ""])
def test_malformed_publish_is_a_usage_error_with_a_fix(spec):
    with pytest.raises(UsageError) as err:
        parse_publish(spec)
    assert "Fix:" in str(err.value) or "ports are" in str(err.value) or "use /tcp" in str(err.value)


def test_network_modes():
    for mode in ("none", "bridge", "host", "container:web"):
        assert parse_network(mode) == mode
    for bad in ("bridged", "container:", ""):
        with pytest.raises(UsageError):
            parse_network(bad)


def test_a_host_port_in_use_is_refused_clearly():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ContainerError, match=f"failed to bind host port 127.0.0.1:{port}/tcp: address already in use"):
            check_host_port_free(PortMapping(port, 80, "tcp", "127.0.0.1"))
    check_host_port_free(PortMapping(port, 80, "tcp", "127.0.0.1"))  # free again once closed


def test_a_host_port_is_chosen_when_none_is_given():
    chosen = choose_host_port(parse_publish("127.0.0.1::80"))
    assert (chosen.host_ip, chosen.container_port) == ("127.0.0.1", 80) and 1024 < chosen.host_port <= 65535
    check_host_port_free(chosen)  # a free one
    assert choose_host_port(parse_publish("8080:80")).host_port == 8080  # a given port stays
    again = choose_host_port(parse_publish("80"), taken={chosen.key.replace("127.0.0.1", "0.0.0.0")})
    assert again.host_port != chosen.host_port or again.host_ip != chosen.host_ip


def test_a_foreign_host_ip_is_refused():
    with pytest.raises(ContainerError, match="not an address of this host"):
        check_host_port_free(PortMapping(18080, 80, "tcp", "198.51.100.77"))


def test_dnat_rules_cover_arriving_and_local_traffic():
    rules = dict(dnat_rules(PortMapping(8080, 80), "10.88.0.2"))
    assert set(rules) == {"prerouting", "output"}
    assert rules["output"] == "fib daddr type local tcp dport 8080 dnat to 10.88.0.2:80"
    only_lo = dict(dnat_rules(PortMapping(8080, 80, "udp", "127.0.0.1"), "10.88.0.2"))
    assert only_lo["output"] == "ip daddr 127.0.0.1 udp dport 8080 dnat to 10.88.0.2:80"


def test_hosts_file_names_self_and_peers():
    text = hosts_file("web", "10.88.0.2", {"db": "10.88.0.3", "web": "10.88.0.2"})
    lines = text.splitlines()
    assert "127.0.0.1\tlocalhost" in lines
    assert "10.88.0.2\tweb" in lines
    assert "10.88.0.3\tdb" in lines
    assert sum(1 for line in lines if line.endswith("\tweb")) == 1


def test_resolv_conf_replaces_loopback_nameservers():
    assert resolv_conf("nameserver 127.0.0.53\noptions edns0\n") == \
        "nameserver 8.8.8.8\nnameserver 8.8.4.4\noptions edns0\n"
    assert resolv_conf("# comment\nnameserver 192.0.2.53\nsearch example.org\n") == \
        "nameserver 192.0.2.53\nsearch example.org\n"
