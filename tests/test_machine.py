"""A second machine on this host (minicontainer.machine, lesson 11): its own network namespace, a veth
cable to this one, its own store; an image shipped to it through a real registry and token server on
the cable's address, which only a client with the registry in its insecure-registries may use.

Everything is real: namespaces, veths, docker-registry, the CLI. Traffic goes only over the cable
the test makes (10.203.x.0/30) and the namespaces it makes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from image_helpers import default_store

from minicontainer import machine as machines
from minicontainer.errors import ContainerError
from minicontainer.machine import Machine
from minicontainer.paths import DEFAULT_RUN_DIR, Paths
from minicontainer.registry.server import RegistryServer
from minicontainer.registry.tokenserver import TokenServer

MC = [sys.executable, "-m", "minicontainer"]


def unique(tag: str) -> str:
    return f"{tag}{os.getpid() % 100000}"


def subnet(n: int) -> str:
    return f"10.203.{(os.getpid() + n) % 200 + 20}.0/30"


def leftovers_of(m: Machine) -> list[str]:
    """What of the machine is still on the host."""
    found = []
    if os.path.exists(f"/run/netns/{m.netns}"):
        found.append(f"netns {m.netns}")
    if subprocess.run(["ip", "link", "show", m.netns], capture_output=True).returncode == 0:
        found.append(f"link {m.netns}")
    if m.directory.exists():
        found.append(f"directory {m.directory}")
    if (machines.records_dir() / m.netns).exists():
        found.append("record")
    found += [line for line in open("/proc/self/mountinfo") if str(m.directory) in line]
    return found


def test_a_machine_has_its_own_network(tmp_path, paths):
    m = Machine(unique("n"), tmp_path / "b", subnet=subnet(0)).start()
    try:
        inside = m.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True).stdout
        assert f"eth0    inet {m.address}/30" in inside, inside
        assert set(m.env) == {"MC_LIB_DIR", "MC_RUN_DIR", "DOCKER_CONFIG", "MC_DAEMON_JSON"}
        # A server on this host's loopback is out of its reach; one on the cable's address is not.
        with socket.socket() as lo, socket.socket() as cable:
            lo.bind(("127.0.0.1", 0))
            lo.listen()
            cable.bind((m.host_address, 0))
            cable.listen()
            probe = "import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)"
            assert m.run([sys.executable, "-c", probe, "127.0.0.1", str(lo.getsockname()[1])],
                         capture_output=True).returncode != 0, "the machine reached this host's 127.0.0.1"
            assert m.run([sys.executable, "-c", probe, m.host_address, str(cable.getsockname()[1])],
                         capture_output=True).returncode == 0, "the machine cannot reach this end of the cable"
        with pytest.raises(ContainerError, match="already exists"):
            Machine(m.name, tmp_path / "other", subnet=subnet(0)).start()
        assert (tmp_path / "b").is_dir(), "a refused start must not touch the machine that exists"
    finally:
        m.stop()
    assert leftovers_of(m) == []


def test_bad_names_are_refused(tmp_path):
    for name in ("a-name-far-too-long", "a b", "x/y"):
        with pytest.raises(ContainerError, match="lab machine name"):
            Machine(name, tmp_path / "b")


def test_a_clash_is_refused_before_anything_is_made(tmp_path, paths):
    taken = Machine(unique("f"), tmp_path / "a", subnet=subnet(1)).start()
    try:
        clash = Machine(unique("g"), tmp_path / "b", subnet=subnet(1))
        with pytest.raises(ContainerError, match=f"{clash.subnet} overlaps {taken.host_address}/30"):
            clash.start()
        assert leftovers_of(clash) == []
    finally:
        taken.stop()


def test_a_start_that_fails_half_way_undoes_what_it_made(tmp_path, paths, monkeypatch):
    # Failure injection: the real `ip` makes the namespace, the cable and the addresses, then the
    # last step (the default route) fails; start() must undo all of it.
    real_ip = machines.ip

    def failing_ip(*args: str, check: bool = True):
        if "route" in args:
            raise ContainerError("ip route add: injected failure", step="set up a lab machine")
        return real_ip(*args, check=check)

    monkeypatch.setattr(machines, "ip", failing_ip)
    m = Machine(unique("h"), tmp_path / "b", subnet=subnet(4))
    with pytest.raises(ContainerError, match="injected"):
        m.start()
    assert leftovers_of(m) == []


def test_reset_removes_a_machine_a_crashed_lesson_left(tmp_path, paths, monkeypatch):
    # Another prefix, so that this reset sees only the test's machine (not a lesson's, running meanwhile).
    monkeypatch.setattr(machines, "PREFIX", "mct-")
    m = Machine(unique("r"), tmp_path / "b", subnet=subnet(2)).start()
    assert machines.sweep(paths) == [], "a private instance's reset must leave the machine's lab machines alone"
    done = machines.sweep(Paths(paths.lib_dir, DEFAULT_RUN_DIR))
    assert f"removed network namespace {m.netns}" in done
    assert leftovers_of(m) == []


def mc(*args: str, env: dict[str, str], machine: Machine | None = None, stdin: str | None = None,
       check: bool = True) -> subprocess.CompletedProcess:
    command = machine.command([*MC, *args]) if machine else [*MC, *args]
    done = subprocess.run(command, env={**os.environ, **env}, input=stdin, capture_output=True, text=True)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_an_image_shipped_to_a_second_machine(tmp_path, paths):
    """Push from this machine to a registry on the cable, pull and run on the other, same digest."""
    default_store(paths)
    here = {"DOCKER_CONFIG": str(tmp_path / "a-docker"), "MC_DAEMON_JSON": str(tmp_path / "a-daemon.json")}
    Path(here["MC_DAEMON_JSON"]).write_text('{"bridge": "none"}\n')
    m = Machine(unique("s"), tmp_path / "b", subnet=subnet(3)).start()
    tokens = registry = None
    try:
        tokens = TokenServer(tmp_path / "tokens", users={"learner": "pw"}, host=m.host_address).start()
        registry = RegistryServer(tmp_path / "registry", auth=tokens.auth_config(), host=m.host_address).start()
        remote = f"{registry.address}/ship/busybox:1"
        mc("tag", "localhost/busybox:latest", remote, env=here)

        # Not loopback, no TLS: refused until this machine's daemon.json names the registry.
        refused = mc("push", "-q", remote, env=here, check=False)
        assert refused.returncode == 1
        assert "server gave HTTP response to HTTPS client" in refused.stderr
        assert f'add "{registry.address}" to "insecure-registries"' in refused.stderr
        Path(here["MC_DAEMON_JSON"]).write_text(json.dumps({"bridge": "none",
                                                            "insecure-registries": [registry.address]}))
        denied = mc("push", "-q", remote, env=here, check=False)
        assert denied.returncode == 1 and "requires a login" in denied.stderr, denied.stderr   # anonymous: pull only
        mc("login", registry.address, "-u", "learner", "--password-stdin", stdin="pw\n", env=here)
        digest = mc("push", "-q", remote, env=here).stdout.split("Digest: ")[1].strip()

        # The other machine: no images, its own daemon.json; a CIDR entry is enough there.
        assert "busybox" not in mc("images", env=m.env, machine=m).stdout
        refused = mc("pull", "-q", remote, env=m.env, machine=m, check=False)
        assert "insecure-registries" in refused.stderr
        m.write_daemon_json({"insecure-registries": [m.subnet]})
        pulled = mc("pull", "-q", remote, env=m.env, machine=m).stdout
        assert f"Digest: {digest}" in pulled

        mc("run", "-d", "--name", "web", "-p", f"{m.address}::80", remote, "httpd", "-f", "-p", "80", "-h", "/etc",
           env=m.env, machine=m)
        port = mc("port", "web", env=m.env, machine=m).stdout.strip().rsplit(":", 1)[1]
        assert mc("port", "web", env=m.env, machine=m).stdout.startswith(f"80/tcp -> {m.address}:")
        page = b""
        for _ in range(50):   # from this machine, over the cable, to the other's published port
            try:
                page = urllib.request.urlopen(f"http://{m.address}:{port}/hostname", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        assert page.strip(), "no answer from the container on the second machine"
        assert "web" not in mc("ps", "-a", env=here).stdout, "the other machine's containers are its own"
    finally:
        if registry:
            registry.stop()
        if tokens:
            tokens.close()
        done = m.stop()
    assert any("killed container" in line or "removed container" in line for line in done), done
    assert leftovers_of(m) == []


@pytest.mark.parametrize("settings,message", [
    ({"insecure-registries": ["http://10.0.0.1:5000"]}, "should not contain '://'"),
    ({"insecure-registries": "10.0.0.1:5000"}, "must be a list"),
    ({"insecure-registries": ["10.0.0.1/99"]}, "not HOST\\[:PORT\\] or a CIDR"),
])
def test_bad_insecure_registries_are_refused(tmp_path, settings, message):
    from minicontainer.registry.insecure import insecure_registries
    daemon = tmp_path / "daemon.json"
    daemon.write_text(json.dumps(settings))
    with pytest.raises(ContainerError, match=message):
        insecure_registries({"MC_DAEMON_JSON": str(daemon)})


def test_which_registries_are_insecure(tmp_path):
    from minicontainer.registry.insecure import is_insecure
    daemon = tmp_path / "daemon.json"
    daemon.write_text(json.dumps({"insecure-registries": ["10.203.0.1:5000", "192.168.0.0/16"]}))
    env = {"MC_DAEMON_JSON": str(daemon)}
    assert is_insecure("127.0.0.1:5000", env) and is_insecure("localhost", env)       # loopback: always
    assert is_insecure("10.203.0.1:5000", env)
    assert not is_insecure("10.203.0.1:5001", env), "HOST:PORT is matched as written"
    assert is_insecure("192.168.7.9:443", env) and is_insecure("[::1]:5000", env)
    assert not is_insecure("10.0.0.1:5000", env)
    assert is_insecure("10.0.0.1:5000", {**env, "MC_INSECURE_REGISTRIES": "10.0.0.0/8"}), "the variable wins"
    assert not is_insecure("ghcr.io", {"MC_DAEMON_JSON": str(tmp_path / "none.json")})
