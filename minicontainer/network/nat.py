"""NAT with nftables: one table owned by minicontainer, rules tagged by who owns them (lesson 07).

Everything the runtime adds to the host's firewall lives in one table, `ip minicontainer`, with
three NAT chains (the hooks are where the kernel consults them):

    prerouting   dstnat  packets arriving from outside: published ports (DNAT)
    output       dstnat  packets the host itself sends: published ports from 127.0.0.1 too
    postrouting  srcnat  packets leaving: containers' traffic masqueraded behind the host
    input        filter  (lesson 08) packets for 127.0.0.0/8 that did not come from lo: dropped

Each rule carries a comment naming its owner (`mc id=<container>` or `mc bridge=<bridge>`), so
removing a container removes exactly its rules (found with `nft -j`, deleted by handle), and the
table is deleted when its last rule goes. Rules are installed with `nft -f -`: the whole script is
one transaction, so a failure leaves nothing half-added. Changes are serialised with a host-wide
file lock because the table is shared by every minicontainer on the machine.

Only when the nft command is missing (or MC_NAT=iptables) do the same rules go through iptables
(iptables.py), in chains of their own.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from ..errors import ContainerError

TABLE = "minicontainer"
FAMILY = "ip"
LOCK = "/run/lock/minicontainer-nft.lock"

CHAINS = {
    "prerouting": "type nat hook prerouting priority dstnat; policy accept;",
    "output": "type nat hook output priority -100; policy accept;",
    "postrouting": "type nat hook postrouting priority srcnat; policy accept;",
    "input": "type filter hook input priority filter; policy accept;",
}


def use_iptables() -> bool:
    """True when the fallback is in use: MC_NAT=iptables, or no nft but an iptables command."""
    choice = os.environ.get("MC_NAT", "")
    if choice:
        return choice == "iptables"
    return shutil.which("nft") is None and shutil.which("iptables") is not None


@dataclass(frozen=True)
class Rule:
    """One rule of our table as nft shows it."""

    chain: str
    handle: int | str     # nft: the rule's handle; iptables: its `-A ...` line
    comment: str
    text: str = ""

    def tag(self, key: str) -> str | None:
        """The value of `key=` in the comment ('mc id=abc pub=tcp:0.0.0.0:80' -> tag('id') == 'abc')."""
        for word in self.comment.split():
            if word.startswith(key + "="):
                return word.split("=", 1)[1]
        return None


def nft(script: str, step: str = "change the nftables rules") -> str:
    """Run an nft script as one transaction (`nft -f -`); a clear error if it fails."""
    if shutil.which("nft") is None:
        raise ContainerError("the nft command is missing", step=step,
                             fix="install nftables (apt-get install nftables; make deps does it)")
    done = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True)
    if done.returncode != 0:
        raise ContainerError(f"nft refused the rules: {done.stderr.strip()}", step=step,
                             fix="check the rule text below with `nft -c -f FILE`:\n" + script)
    return done.stdout


@contextmanager
def locked() -> Iterator[None]:
    """Hold the host-wide lock on our table for the duration of the block."""
    os.makedirs(os.path.dirname(LOCK), exist_ok=True)
    fd = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def rules() -> list[Rule]:
    """Every rule in our table (none if the table does not exist)."""
    if use_iptables():
        from . import iptables
        return [Rule(chain, line, comment, line) for chain, comment, line in iptables.listed()]
    if shutil.which("nft") is None:
        return []
    done = subprocess.run(["nft", "-j", "list", "table", FAMILY, TABLE], capture_output=True, text=True)
    if done.returncode != 0:
        return []  # no table
    found = []
    for item in json.loads(done.stdout).get("nftables", []):
        rule = item.get("rule")
        if rule:
            found.append(Rule(rule["chain"], rule["handle"], rule.get("comment", ""), _text(rule)))
    return found


def _text(rule: dict) -> str:
    """A short human-readable form of a rule's expression (for pictures and tests)."""
    parts = []
    for e in rule.get("expr", []):
        if "match" in e:
            left, right = e["match"]["left"], e["match"]["right"]
            key = left.get("payload", {}).get("field") or left.get("meta", {}).get("key") or \
                ("ct " + left["ct"]["key"] if "ct" in left else "") or \
                ("fib " + "/".join(left["fib"]["flags"]) if "fib" in left else "?")
            if isinstance(right, dict) and "prefix" in right:  # 127.0.0.0/8
                right = f"{right['prefix']['addr']}/{right['prefix']['len']}"
            parts.append(f"{key} {e['match']['op']} {json.dumps(right) if isinstance(right, dict) else right}")
        elif "dnat" in e:
            parts.append(f"dnat to {e['dnat'].get('addr')}:{e['dnat'].get('port')}")
        elif "masquerade" in e:
            parts.append("masquerade")
    return ", ".join(parts)


def add_rules(chain_rules: list[tuple[str, str, str]]) -> None:
    """Add rules [(chain, rule text, owner comment)] in one transaction, creating table and chains if needed."""
    if use_iptables():
        from . import iptables
        with locked():
            iptables.ensure_chains()
            for chain, text, comment in chain_rules:
                iptables.add(chain, text, comment)
        return
    lines = [f"add table {FAMILY} {TABLE}"]
    lines += [f"add chain {FAMILY} {TABLE} {name} {{ {spec} }}" for name, spec in CHAINS.items()]
    lines += [f'add rule {FAMILY} {TABLE} {chain} {text} comment "{comment}"' for chain, text, comment in chain_rules]
    with locked():
        nft("\n".join(lines) + "\n")


def delete_rules(key: str, value: str) -> list[Rule]:
    """Delete every rule whose comment has key=value; delete the table if it is then empty."""
    with locked():
        existing = rules()
        doomed = [r for r in existing if r.tag(key) == value]
        if use_iptables():
            from . import iptables
            for rule in doomed:
                iptables.delete(str(rule.handle))
            if len(doomed) == len(existing):
                iptables.remove_chains()
            return doomed
        script = [f"delete rule {FAMILY} {TABLE} {r.chain} handle {r.handle}" for r in doomed]
        if existing and len(doomed) == len(existing):
            script = [f"delete table {FAMILY} {TABLE}"]
        if script:
            nft("\n".join(script) + "\n", step="remove nftables rules")
    return doomed


def delete_table_if_empty() -> bool:
    """Delete our table when it holds no rule (reset, tests). True if it was deleted."""
    with locked():
        if rules() or not table_exists():
            return False
        if use_iptables():
            from . import iptables
            iptables.remove_chains()
            return True
        nft(f"delete table {FAMILY} {TABLE}\n", step="remove the nftables table")
        return True


def table_exists() -> bool:
    """Does our table (or, with the fallback, our chains) exist?"""
    if use_iptables():
        from . import iptables
        return iptables.chains_exist()
    return shutil.which("nft") is not None and subprocess.run(
        ["nft", "list", "table", FAMILY, TABLE], capture_output=True).returncode == 0


def localnet_rule() -> tuple[str, str]:
    """CVE-2020-8558: `route_localnet=1` on the bridge (for -p from 127.0.0.1) also lets a container
    send packets *to* 127.0.0.1 through the bridge, reaching services the host keeps on loopback
    (the lab registry, a database, an admin port). A new connection to 127.0.0.0/8 must come from
    `lo`: drop the others (Kubernetes' fix; answers of published ports are not new connections)."""
    return ("input", 'iifname != "lo" ip daddr 127.0.0.0/8 ip saddr != 127.0.0.0/8 ct state new drop')


def masquerade_rules(bridge: str, subnet: str) -> list[tuple[str, str]]:
    """Outbound NAT for a bridge's containers; and masquerade for packets sent to a container through a
    published port from the host's loopback or from a container (even itself: "hairpin"), so that
    its answers come back the way they went."""
    return [
        ("postrouting", f'ip saddr {subnet} oifname != "{bridge}" masquerade'),
        ("postrouting", f'ip saddr 127.0.0.0/8 oifname "{bridge}" masquerade'),
        ("postrouting", f'ct status dnat ip saddr {subnet} oifname "{bridge}" masquerade'),
        localnet_rule(),  # [security] lesson 08: route_localnet must not open the host's loopback
    ]
