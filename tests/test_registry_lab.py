"""`minicontainer registry start|stop`: the lab registry on 127.0.0.1, seeded, stopped by reset (lesson 06)."""

from __future__ import annotations

import os
import socket

import pytest

from minicontainer.errors import ContainerError
from minicontainer.lab import reset
from minicontainer.registry.client import RegistryClient
from minicontainer.registry.server import free_port, lab_status, start_lab, stop_lab


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_lab_registry_starts_seeded_and_stops(paths, busybox_rootfs):
    port = free_port()
    state = start_lab(paths, port=port)
    try:
        assert state["address"] == f"127.0.0.1:{port}" and "seeded" in state["seeded"]
        assert (paths.lib_dir / "registry" / "storage").is_dir()
        client = RegistryClient(state["address"])
        assert client.list_tags("busybox") == ["latest"]
        assert start_lab(paths, port=port)["pid"] == state["pid"], "a second start finds the running one"
        assert "already there" in start_lab(paths, port=port)["seeded"]
    finally:
        message = stop_lab(paths)
    assert message and str(state["pid"]) in message
    assert not listening(port)
    assert lab_status(paths) is None
    assert not os.path.exists(f"/proc/{state['pid']}/cmdline") or b"docker-registry" not in open(
        f"/proc/{state['pid']}/cmdline", "rb").read()


def test_reset_stops_the_lab_registry(paths):
    port = free_port()
    state = start_lab(paths, port=port, seed=False)
    removed = reset(paths)
    assert any("stopped the lab registry" in line for line in removed)
    assert not listening(port)
    assert not os.path.exists(f"/proc/{state['pid']}") or b"docker-registry" not in open(
        f"/proc/{state['pid']}/cmdline", "rb").read()


def test_taken_port_is_a_clear_error(paths):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(ContainerError) as info:
            start_lab(paths, port=s.getsockname()[1], seed=False)
    assert "taken" in str(info.value)
    assert lab_status(paths) is None


def test_cli_registry_start_outlives_the_command_and_stop_ends_it(paths):
    import subprocess
    import sys

    port = free_port()

    def mc(*args):
        return subprocess.run([sys.executable, "-m", "minicontainer", *args], capture_output=True, text=True,
                              timeout=120)

    started = mc("registry", "start", "--port", str(port))
    try:
        assert started.returncode == 0, started.stderr
        assert f"127.0.0.1:{port}" in started.stdout
        assert listening(port), "the registry must keep running after the command returns"
        assert mc("registry", "status").returncode == 0
        assert mc("tags", f"127.0.0.1:{port}/busybox").stdout.split() == ["latest"]
    finally:
        stopped = mc("registry", "stop")
    assert "stopped the lab registry" in stopped.stdout
    assert not listening(port)
    assert mc("registry", "status").returncode == 1
