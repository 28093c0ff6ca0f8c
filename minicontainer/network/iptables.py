"""The same NAT rules with iptables, for hosts without the nft command (lesson 07, fallback only).

nft is the tool of today (nat.py). On a host that lacks it but has `iptables` (on Debian 12 and
Ubuntu 22.04 that is iptables-nft, which writes nftables rules itself), the runtime keeps its rules
in chains that only it uses, entered by one jump from each built-in chain:

    nat:     PREROUTING  -> MC-PREROUTING       OUTPUT -> MC-OUTPUT       POSTROUTING -> MC-POSTROUTING
    filter:  INPUT       -> MC-INPUT            (lesson 08: no 127.0.0.0/8 from outside, see nat.py)

Rules are written in nft syntax by ports.py and nat.py; `translate()` turns the few shapes they use
into iptables arguments. Each rule carries the same owner comment (`-m comment --comment`).
"""

from __future__ import annotations

import re
import shlex
import subprocess

from ..errors import ContainerError

CHAINS = {"prerouting": "PREROUTING", "output": "OUTPUT", "postrouting": "POSTROUTING", "input": "INPUT"}
TABLE_OF = {"INPUT": "filter"}  # the others are in the nat table
PREFIX = "MC-"


def iptables(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    chain = next((a for a in args if a.removeprefix(PREFIX) in CHAINS.values()), "")
    table = TABLE_OF.get(chain.removeprefix(PREFIX), "nat")
    done = subprocess.run(["iptables", "-w", "-t", table, *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise ContainerError(f"iptables {' '.join(args)} failed: {done.stderr.strip()}",
                             step="change the iptables rules", fix="is iptables working? (iptables -t nat -S)")
    return done


def translate(text: str) -> list[str]:
    """nft rule text (the shapes ports.py and nat.py write) -> iptables arguments."""
    args: list[str] = []
    words = text.replace('"', "").split()
    i = 0
    while i < len(words):
        w = words[i:]
        if w[:3] == ["ct", "status", "dnat"]:
            args += ["-m", "conntrack", "--ctstate", "DNAT"]
            i += 3
        elif w[:4] == ["fib", "daddr", "type", "local"]:
            args += ["-m", "addrtype", "--dst-type", "LOCAL"]
            i += 4
        elif w[:3] == ["ip", "saddr", "!="]:
            args += ["!", "-s", w[3]]
            i += 4
        elif w[:2] == ["ip", "daddr"]:
            args += ["-d", w[2]]
            i += 3
        elif w[:2] == ["ip", "saddr"]:
            args += ["-s", w[2]]
            i += 3
        elif w[0] in ("tcp", "udp") and w[1:2] == ["dport"]:
            args += ["-p", w[0], "--dport", w[2]]
            i += 3
        elif w[:2] == ["oifname", "!="]:
            args += ["!", "-o", w[2]]
            i += 3
        elif w[0] == "oifname":
            args += ["-o", w[1]]
            i += 2
        elif w[:2] == ["dnat", "to"]:
            args += ["-j", "DNAT", "--to-destination", w[2]]
            i += 3
        elif w[0] == "masquerade":
            args += ["-j", "MASQUERADE"]
            i += 1
        elif w[:2] == ["iifname", "!="]:
            args += ["!", "-i", w[2]]
            i += 3
        elif w[:3] == ["ct", "state", "new"]:
            args += ["-m", "conntrack", "--ctstate", "NEW"]
            i += 3
        elif w[0] == "drop":
            args += ["-j", "DROP"]
            i += 1
        else:
            raise ValueError(f"cannot translate {text!r} to iptables (at {' '.join(w)!r})")
    return args


def ensure_chains() -> None:
    for chain, builtin in CHAINS.items():
        mine = PREFIX + builtin
        if iptables("-n", "-L", mine, check=False).returncode != 0:
            iptables("-N", mine)
        if iptables("-C", builtin, "-j", mine, check=False).returncode != 0:
            iptables("-A", builtin, "-j", mine)


def add(chain: str, text: str, comment: str) -> None:
    iptables("-A", PREFIX + CHAINS[chain], *translate(text), "-m", "comment", "--comment", comment)


def listed() -> list[tuple[str, str, str]]:
    """(chain, comment, the rule's `-A ...` line) for each of our rules."""
    found = []
    for builtin in CHAINS.values():
        done = iptables("-S", PREFIX + builtin, check=False)
        for line in done.stdout.splitlines() if done.returncode == 0 else []:
            if not line.startswith("-A "):
                continue
            match = re.search(r'--comment "?([^"]*?)"? (-j|$)', line + " ")
            chain = next(k for k, v in CHAINS.items() if v == builtin)
            found.append((chain, match.group(1) if match else "", line))
    return found


def delete(line: str) -> None:
    """Delete a rule given as the `-A CHAIN ...` line iptables -S printed."""
    iptables("-D", *shlex.split(line)[1:])


def chains_exist() -> bool:
    return any(iptables("-n", "-L", PREFIX + b, check=False).returncode == 0 for b in CHAINS.values())


def remove_chains() -> None:
    for builtin in CHAINS.values():
        mine = PREFIX + builtin
        while iptables("-D", builtin, "-j", mine, check=False).returncode == 0:
            pass
        iptables("-F", mine, check=False)
        iptables("-X", mine, check=False)
