"""What a container reads to find names: /etc/hosts and /etc/resolv.conf (lesson 07).

A container has its own root filesystem, so it also has its own /etc/hosts: we write its own
name, `localhost`, and the names of the other containers on the same bridge, which is how
`ping web` works between containers. /etc/resolv.conf is copied from the host, except that a
nameserver on the host's loopback (127.0.0.53 of systemd-resolved, say) is unreachable from
the container's own loopback, so it is replaced, as Docker does.
"""

from __future__ import annotations

from pathlib import Path

FALLBACK_NAMESERVERS = ["8.8.8.8", "8.8.4.4"]  # what Docker uses when the host's are on loopback


def hosts_file(hostname: str, address: str | None, peers: dict[str, str] | None = None) -> str:
    """The text of a container's /etc/hosts: localhost, itself, then its peers {name: address}."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    if address and hostname:
        lines.append(f"{address}\t{hostname}")
    elif hostname:
        lines.append(f"127.0.1.1\t{hostname}")
    for name, peer in sorted((peers or {}).items()):
        if name != hostname:
            lines.append(f"{peer}\t{name}")
    return "\n".join(lines) + "\n"


def resolv_conf(host_text: str) -> str:
    """A container's /etc/resolv.conf made from the host's: loopback nameservers replaced."""
    kept, servers = [], []
    for line in host_text.splitlines():
        words = line.split()
        if words[:1] == ["nameserver"] and len(words) > 1:
            if not words[1].startswith("127.") and words[1] != "::1":
                servers.append(words[1])
        elif words and not line.lstrip().startswith("#"):
            kept.append(line.strip())
    servers = servers or FALLBACK_NAMESERVERS
    return "\n".join([f"nameserver {s}" for s in servers] + kept) + "\n"


def write_name_files(etc: Path, hostname: str, address: str | None, peers: dict[str, str] | None = None,
                     host_resolv: Path = Path("/etc/resolv.conf")) -> None:
    """Write `hosts` and `resolv.conf` into etc (a rootfs's etc/, or the files a container bind-mounts)."""
    etc = Path(etc)
    etc.mkdir(parents=True, exist_ok=True)
    write_in_place(etc / "hosts", hosts_file(hostname, address, peers))
    host_text = host_resolv.read_text() if host_resolv.exists() else ""
    write_in_place(etc / "resolv.conf", resolv_conf(host_text))


def write_in_place(path: Path, text: str) -> None:
    """Write in place (the file may be a bind mount or a symlink target we must not replace)."""
    if path.is_symlink():
        path.unlink()
    with open(path, "w") as f:
        f.write(text)
