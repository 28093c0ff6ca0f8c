"""Docker's default network is the bridge: `run -d -p 8080:80 IMAGE` works as the primers type it (lesson 09).

Each test clears the suite's `"bridge": "none"` (conftest.py) and uses its own bridge (MC_BRIDGE, a
unique mct* name, a free /24), so it talks only to loopback and a bridge it made.
"""

from __future__ import annotations

import ipaddress
import json
import random
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from minicontainer.container import default_network
from minicontainer.network import nat, sweep

LAUNCHER = str(Path(sys.executable).parent / "minicontainer")


def mc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([LAUNCHER, *args], capture_output=True, text=True, timeout=60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str, wait: float = 30) -> bytes:
    deadline = time.time() + wait
    while True:
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                return response.read()
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture
def default_bridge(paths, busybox_rootfs, monkeypatch, tmp_path):
    """No daemon.json (so Docker's default: the bridge), and a bridge of this test's own."""
    name = f"mct{uuid.uuid4().hex[:8]}"
    used = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    while True:
        subnet = ipaddress.IPv4Network(f"10.{random.randint(200, 249)}.{random.randint(0, 255)}.0/24")
        if ".".join(str(subnet.network_address).split(".")[:3]) + "." not in used:
            break
    monkeypatch.setenv("MC_DAEMON_JSON", str(tmp_path / "no-daemon.json"))
    monkeypatch.setenv("MC_BRIDGE", name)
    monkeypatch.setenv("MC_SUBNET", str(subnet))
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("hello from the default bridge\n")
    yield {"name": name, "rootfs": str(busybox_rootfs), "www": str(www)}
    from minicontainer import container
    container.sweep(paths)
    sweep(paths)
    assert not Path(f"/sys/class/net/{name}").exists()
    assert not [r for r in nat.rules() if r.tag("br") == name]


def httpd(net: dict, *flags: str) -> subprocess.CompletedProcess:
    return mc("run", "-d", *flags, "-v", f"{net['www']}:/www", "--rootfs", net["rootfs"],
              "httpd", "-f", "-p", "80", "-h", "/www")


def test_run_d_p_without_network_answers_on_loopback(default_bridge):
    port = free_port()
    started = httpd(default_bridge, "--name", "web", "-p", f"{port}:80")
    assert started.returncode == 0, started.stderr
    assert fetch(f"http://127.0.0.1:{port}/") == b"hello from the default bridge\n"
    ps = mc("ps").stdout.splitlines()
    assert ps[0].split()[-2:] == ["PORTS", "NAMES"]
    assert f"0.0.0.0:{port}->80/tcp" in ps[1]
    state = json.loads(mc("inspect", "web").stdout)[0]
    assert state["HostConfig"]["NetworkMode"] == "bridge"
    assert state["NetworkSettings"]["Ports"]["80/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": str(port)}]
    mc("rm", "-f", "web")


def test_publish_all_puts_each_exposed_port_on_a_free_host_port(default_bridge, paths, tmp_path):
    from minicontainer.image import prepare_default_image
    prepare_default_image(paths)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text('FROM busybox\nEXPOSE 80\nCMD ["httpd", "-f", "-p", "80", "-h", "/www"]\n')
    assert mc("build", "-t", "exposing:1", str(ctx)).returncode == 0
    started = mc("run", "-d", "--name", "web", "-P", "-v", f"{default_bridge['www']}:/www", "exposing:1")
    assert started.returncode == 0, started.stderr
    [line] = mc("port", "web").stdout.splitlines()
    assert line.startswith("80/tcp -> 0.0.0.0:")
    port = int(line.rsplit(":", 1)[1])
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    assert low <= port <= high, "a random host port, from the kernel's ephemeral range as Docker's"
    assert f"0.0.0.0:{port}->80/tcp" in mc("ps").stdout
    assert fetch(f"http://127.0.0.1:{port}/") == b"hello from the default bridge\n"
    mc("rm", "-f", "web")


def test_a_host_port_a_program_holds_is_refused_and_nothing_is_left(default_bridge):
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for command in ("run", "create"):
            refused = httpd(default_bridge, "-p", f"{port}:80") if command == "run" else \
                mc("create", "-p", f"{port}:80", "--rootfs", default_bridge["rootfs"], "true")
            assert refused.returncode == (125 if command == "run" else 1), refused.stderr
            assert refused.stderr.count("\n") == 1
            assert f"failed to bind host port 0.0.0.0:{port}/tcp: address already in use" in refused.stderr
    assert mc("ps", "-aq").stdout == ""
    assert not [r for r in nat.rules() if r.tag("br") == default_bridge["name"] and r.tag("id")]
    assert not [n for n in Path("/sys/class/net").iterdir() if (n / "master").exists()
                and (n / "master").resolve().name == default_bridge["name"]], "a veth was left on the bridge"


def test_a_host_port_another_container_publishes_is_refused_with_dockers_words(default_bridge):
    port = free_port()
    assert httpd(default_bridge, "--name", "first", "-p", f"{port}:80").returncode == 0
    second = httpd(default_bridge, "--name", "second", "-p", f"{port}:80")
    assert second.returncode == 125
    assert f"Bind for 0.0.0.0:{port} failed: port is already allocated" in second.stderr
    from minicontainer import container
    assert [c.name for c in container.all_containers(container.default_paths())] == ["first"]
    assert fetch(f"http://127.0.0.1:{port}/") == b"hello from the default bridge\n", "the first one must be unharmed"
    mc("rm", "-f", "first")


def test_daemon_json_without_a_bridge_gives_none(paths, busybox_rootfs, tmp_path, monkeypatch):
    """dockerd --bridge=none ("bridge": "none" in daemon.json): a container gets only its loopback."""
    conf = tmp_path / "daemon-none.json"
    conf.write_text('{"bridge": "none"}')
    monkeypatch.setenv("MC_DAEMON_JSON", str(conf))
    out = mc("run", "--rm", "--rootfs", str(busybox_rootfs), "ls", "/sys/class/net")
    assert out.stdout.split() == ["lo"]
    assert default_network(False, str(conf)) == "none"
    assert default_network(False, str(tmp_path / "missing.json")) == "bridge"
    assert default_network(True, str(tmp_path / "missing.json")) == "none", "rootless: no bridge without root"
