"""A picture of the container network, drawn from the live state of the host (lesson 07).

    host ── mc0 10.88.0.1/16 ──┬── mcv3f2a9c… ═ eth0 10.88.0.2  web   127.0.0.1:8080→80/tcp
                               └── mcv91bb07… ═ eth0 10.88.0.3  db

Everything comes from the kernel and the runtime's files at the moment you call it: bridges and
veths from netlink (pyroute2), addresses and names from the leases, published ports from the
nftables rules. `show()` displays it in a notebook (an SVG picture with a Refresh button; plain text
without ipywidgets), `render_text()` returns the text.
"""

from __future__ import annotations

import html
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

from ..network.offloop import off_loop
from ..paths import Paths


@dataclass
class Plug:
    """One container on a bridge."""

    host_veth: str
    address: str
    name: str
    container_id: str
    up: bool
    ports: list[str] = field(default_factory=list)


@dataclass
class BridgeView:
    name: str
    address: str
    up: bool
    plugs: list[Plug] = field(default_factory=list)


@off_loop
def snapshot(paths: Paths | None = None, bridges: list[str] | None = None) -> list[BridgeView]:
    """The bridges (all mc* ones, or those named), what is plugged into them, and published ports."""
    from pyroute2 import IPRoute

    from ..network import ipam, nat

    paths = paths or Paths.from_env()
    ports: dict[str, list[str]] = {}
    for rule in nat.rules():
        if rule.chain == "output" and rule.tag("id") and rule.tag("pub"):
            proto, ip, port = rule.tag("pub").split(":")
            target = re.search(r"(?:dnat to |--to-destination )[\d.]+:(\d+)", rule.text)
            target = target.group(1) if target else "?"
            ports.setdefault(rule.tag("id"), []).append(f"{ip}:{port}→{target}/{proto}")
    views = []
    with IPRoute() as ipr:
        links = {link["index"]: link for link in ipr.get_links()}
        for index, link in sorted(links.items()):
            name = link.get_attr("IFLA_IFNAME")
            kind = (link.get_attr("IFLA_LINKINFO") or {}).get_attr("IFLA_INFO_KIND") \
                if link.get_attr("IFLA_LINKINFO") else None
            if kind != "bridge" or (bridges is not None and name not in bridges) or \
                    (bridges is None and not name.startswith("mc")):
                continue
            addrs = [f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
                     for a in ipr.get_addr(family=socket.AF_INET, index=index)]
            view = BridgeView(name, addrs[0] if addrs else "", link.get_attr("IFLA_OPERSTATE") == "UP")
            leases = {lease.host_veth: lease for lease in
                      ipam.Pool(paths.run_dir / "network" / name, "0.0.0.0/32").leases()}
            for other in links.values():
                if other.get_attr("IFLA_MASTER") != index:
                    continue
                veth = other.get_attr("IFLA_IFNAME")
                lease = leases.get(veth)
                view.plugs.append(Plug(veth, lease.address if lease else "?", lease.name if lease else "",
                                       lease.id if lease else "", other.get_attr("IFLA_OPERSTATE") == "UP",
                                       ports.get(lease.id, []) if lease else []))
            views.append(view)
    return views


def render_text(views: list[BridgeView]) -> str:
    """The picture as text, one line per container."""
    if not views:
        return "host (no minicontainer bridge yet: start a container with --network bridge)"
    lines = []
    for view in views:
        head = f"host ── {view.name} {view.address or '(no address)'}{'' if view.up else ' (down)'} "
        if not view.plugs:
            lines.append(head + "── (nothing plugged in)")
            continue
        pad = " " * len(head)
        for n, plug in enumerate(view.plugs):
            joint = ("┬" if len(view.plugs) > 1 else "─") if n == 0 else ("└" if n == len(view.plugs) - 1 else "├")
            who = plug.name or plug.container_id[:12] or "?"
            text = f"{joint}── {plug.host_veth} ═ eth0 {plug.address:<12} {who}"
            if plug.ports:
                text += "   published " + ", ".join(plug.ports)
            lines.append((head if n == 0 else pad) + text)
    return "\n".join(lines)


def render_svg(views: list[BridgeView]) -> str:
    """The same picture as a small SVG: host box, bridge bar, one box per container."""
    rows = sum(max(1, len(v.plugs)) for v in views) or 1
    height = 40 + rows * 56 + len(views) * 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="760" height="{height}" font-family="monospace" '
           'font-size="12">', '<rect x="5" y="5" width="140" height="40" fill="#eef" stroke="#446"/>',
           '<text x="15" y="30">host</text>']
    y = 20
    for view in views:
        top = y
        out.append(f'<rect x="190" y="{top}" width="12" height="{max(1, len(view.plugs)) * 56}" fill="#8a8"/>')
        out.append(f'<text x="150" y="{top - 4}">{html.escape(view.name)} {html.escape(view.address)}</text>')
        out.append(f'<line x1="145" y1="25" x2="190" y2="{top + 20}" stroke="#446"/>')
        for n, plug in enumerate(view.plugs):
            cy = top + n * 56 + 24
            out.append(f'<line x1="202" y1="{cy}" x2="380" y2="{cy}" stroke="{"#282" if plug.up else "#a33"}" '
                       'stroke-width="2"/>')
            out.append(f'<text x="210" y="{cy - 6}">{html.escape(plug.host_veth)}</text>')
            out.append(f'<rect x="380" y="{cy - 20}" width="370" height="44" fill="#ffe" stroke="#664"/>')
            label = f"{plug.name or plug.container_id[:12]}  eth0 {plug.address}"
            out.append(f'<text x="390" y="{cy - 4}">{html.escape(label)}</text>')
            if plug.ports:
                out.append(f'<text x="390" y="{cy + 14}">published {html.escape(", ".join(plug.ports))}</text>')
        y = top + max(1, len(view.plugs)) * 56 + 20
    out.append("</svg>")
    return "\n".join(out)


def show(paths: Paths | None = None, bridges: list[str] | None = None):
    """The live network as a picture with a Refresh button (ipywidgets), or printed as text without them."""
    views = snapshot(paths, bridges)
    try:
        import ipywidgets
    except ImportError:
        print(render_text(views))
        return None
    from . import lesson_view, text_png

    picture = ipywidgets.HTML(render_svg(views))
    button = ipywidgets.Button(description="Refresh", icon="refresh")
    status = ipywidgets.Label("read from the kernel just now")
    status.add_class("mc-status")  # (the browser tests find it by this class)
    refreshes = 0

    def refresh(_: object) -> None:
        nonlocal refreshes
        refreshes += 1
        now = snapshot(paths, bridges)
        picture.value = render_svg(now)
        status.value = (f"refresh {refreshes}: " + (f"{sum(len(v.plugs) for v in now)} container(s) plugged in"
                                                    if now else "no minicontainer bridge any more"))

    button.on_click(refresh)
    plugs = sum(len(v.plugs) for v in views)
    return lesson_view([ipywidgets.HBox([button, status]), picture],
                       picture=lambda: text_png(render_text(views), "container network"),
                       summary=f"network: {len(views)} bridge(s), {plugs} container(s) plugged in")
