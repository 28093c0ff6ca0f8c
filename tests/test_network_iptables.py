"""The iptables fallback (used only where the nft command is missing), forced here with MC_NAT=iptables.

This host has iptables-nft, so the fallback's rules land in nftables' `ip nat` table, in chains
MC-PREROUTING/MC-OUTPUT/MC-POSTROUTING. The test removes the `ip nat` table afterwards if it made it.
"""

from __future__ import annotations

import subprocess

import pytest
from test_network import cid, free_port, http_get, net, netns  # noqa: F401 - fixtures

from minicontainer.network import NetworkOptions, attach, nat, parse_publish
from minicontainer.network.iptables import translate


def test_translate_the_rule_shapes_we_write():
    assert translate("fib daddr type local tcp dport 8080 dnat to 10.88.0.2:80") == \
        ["-m", "addrtype", "--dst-type", "LOCAL", "-p", "tcp", "--dport", "8080", "-j", "DNAT",
         "--to-destination", "10.88.0.2:80"]
    assert translate('ip saddr 10.88.0.0/16 oifname != "mc0" masquerade') == \
        ["-s", "10.88.0.0/16", "!", "-o", "mc0", "-j", "MASQUERADE"]
    with pytest.raises(ValueError):
        translate("meta mark 1 drop")


@pytest.fixture
def iptables_only(monkeypatch):
    had_nat = subprocess.run(["nft", "list", "table", "ip", "nat"], capture_output=True).returncode == 0
    monkeypatch.setenv("MC_NAT", "iptables")
    yield
    chains = subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True).stdout
    if not had_nat:
        subprocess.run(["nft", "delete", "table", "ip", "nat"], capture_output=True)
    assert "MC-" not in chains, f"our iptables chains were left behind:\n{chains}"


def test_published_port_works_with_the_iptables_fallback(iptables_only, net, netns, tmp_path):
    (tmp_path / "index.html").write_text("via iptables\n")
    httpd = netns("httpd", "-f", "-p", "80", "-h", str(tmp_path))
    port = free_port()
    with attach(cid(), httpd.pid, NetworkOptions("bridge", publish=[parse_publish(f"{port}:80")], **net)) as att:
        assert nat.use_iptables()
        assert any(r.tag("id") == att.container_id for r in nat.rules())
        nft = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
        assert att.container_id not in nft, "the iptables fallback put this container's rules in nftables"
        assert http_get(f"http://127.0.0.1:{port}/") == "via iptables\n"
        assert http_get(f"http://{att.gateway}:{port}/") == "via iptables\n"
    assert not any(r.tag("id") == att.container_id for r in nat.rules())
