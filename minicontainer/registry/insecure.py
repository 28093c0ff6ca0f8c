"""Insecure registries: Docker's `insecure-registries`, the registries allowed plain HTTP (lesson 11).

A client talks to a registry over HTTPS and checks its certificate. The one exception Docker makes
on its own is loopback (localhost, 127.0.0.0/8): a lab registry there may speak plain HTTP. A
private registry on another machine of the lab, `10.203.0.1:5000`, has to be named in the
client machine's /etc/docker/daemon.json first (every Chinese primer's "私有仓库" chapter does it):

    {"insecure-registries": ["10.203.0.1:5000", "192.168.0.0/16"]}

minicontainer reads the same key (MC_DAEMON_JSON names another file), or the environment variable
MC_INSECURE_REGISTRIES (entries separated by commas or spaces), which then wins. Docker's rules
(moby's registry package):

  * an entry is HOST:PORT (or HOST), matched as written against the registry part of an image
    name, or a CIDR (`10.0.0.0/8`) matched against the registry's IP address;
  * an entry with a scheme (`http://...`) is refused: the entry says which registry, not how;
  * for such a registry the client tries HTTPS without checking the certificate, then plain HTTP,
    and accepts a token server that speaks plain HTTP (the `--insecure` flag does the same for one
    command).
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from pathlib import Path

from ..errors import ContainerError
from .mirrors import daemon_json_path, daemon_settings
from .transport import is_loopback

INSECURE_ENV = "MC_INSECURE_REGISTRIES"     # "10.203.0.1:5000,10.0.0.0/8"
STEP = "read insecure registries"


def validate_entry(entry: str) -> str:
    """One entry as Docker accepts it: no scheme, no path."""
    entry = entry.strip()
    if "://" in entry:
        raise ContainerError(f"insecure registry {entry} should not contain '://'", step=STEP,
                             fix=f'write it as HOST:PORT: "{entry.split("://", 1)[1].rstrip("/")}"')
    if not entry or ("/" in entry and _network(entry) is None):
        raise ContainerError(f"insecure registry {entry!r} is not HOST[:PORT] or a CIDR", step=STEP,
                             fix='write "10.203.0.1:5000" or "10.203.0.0/24"')
    return entry


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(entry, strict=False) if "/" in entry else None
    except ValueError:
        return None


def insecure_registries(environ: dict[str, str] | None = None, daemon_json: Path | None = None) -> list[str]:
    """The entries: MC_INSECURE_REGISTRIES if set, else daemon.json's insecure-registries."""
    environ = os.environ if environ is None else environ
    if environ.get(INSECURE_ENV, "").strip():
        return [validate_entry(e) for e in re.split(r"[,\s]+", environ[INSECURE_ENV].strip()) if e]
    path = daemon_json or daemon_json_path(environ)
    entries = daemon_settings(environ, path, step=STEP).get("insecure-registries", [])
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise ContainerError("insecure-registries must be a list of HOST:PORT or CIDR entries", step=STEP,
                             path=str(path), fix='write "insecure-registries": ["10.203.0.1:5000"]')
    return [validate_entry(e) for e in entries]


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """host's IP addresses: itself if it is one, else what the resolver says (none if it cannot say)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        return [ipaddress.ip_address(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)]
    except (OSError, ValueError):
        return []


def host_of(registry: str) -> str:
    """The host of HOST[:PORT]: "10.0.0.1:5000" -> "10.0.0.1", "[::1]:5000" -> "::1"."""
    if registry.startswith("["):
        return registry[1:registry.index("]")] if "]" in registry else registry
    return registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry


def is_insecure(registry: str, environ: dict[str, str] | None = None) -> bool:
    """May the client use plain HTTP (or unverified TLS) with `registry`, the HOST[:PORT] of an image name?"""
    host = host_of(registry)
    if is_loopback(host):
        return True
    entries = insecure_registries(environ)
    if registry in entries:
        return True
    networks = [n for n in map(_network, entries) if n is not None]
    return bool(networks) and any(address in network for address in _addresses(host) for network in networks)
