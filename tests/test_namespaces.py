"""namespaces.py, the explorer widget, and the paths a notebook takes (threads) (lesson 02)."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from minicontainer import container, namespaces, syscalls
from minicontainer.container import RunSpec
from minicontainer.widgets import namespaces as explorer


def test_clone_flags_and_unknown_names():
    assert namespaces.clone_flags(["uts", "pid"]) == syscalls.CLONE_NEWUTS | syscalls.CLONE_NEWPID
    with pytest.raises(ValueError, match="unknown namespace"):
        namespaces.clone_flags(["nope"])


def test_a_process_shares_every_namespace_with_itself():
    assert all(namespaces.shared("self", os.getpid()).values())


@pytest.fixture
def threaded():
    """Make this process multi-threaded, like a Jupyter kernel: fork() is then off limits."""
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    yield
    stop.set()
    t.join()


def test_detached_from_a_threaded_process_uses_a_spawned_monitor(paths, busybox_rootfs, threaded):
    c = container.run(RunSpec(rootfs=str(busybox_rootfs), command=["sleep", "30"], detach=True, hostname="nb"),
                      paths)
    try:
        assert container.is_running(c)
        rows = {r.name: r for r in explorer.compare(c.pid)}
        assert not rows["pid"].shared and not rows["uts"].shared and not rows["net"].shared
        assert rows["user"].shared  # as root: no user namespace
        procs = explorer.tree(c.pid)
        assert [(p.inner_pid, p.depth) for p in procs] == [(1, 0), (2, 1)]
        assert procs[1].command == "sleep 30" and procs[0].command == "mc-init"
        text = explorer.render_text(c.pid)
        assert "uts" in text and f"pid {c.pid}" in text
    finally:
        container.stop(paths, c.id, timeout=2)
    c = container.wait_exited(paths, c, 30)  # returns as soon as the monitor records the exit
    assert c.status == "exited" and not container.alive(c.pid, c.pid_start)
    container.rm(paths, c.id)


def test_explorer_degrades_to_text_without_ipywidgets(paths, busybox_rootfs, monkeypatch, capsys):
    c = container.run(RunSpec(rootfs=str(busybox_rootfs), command=["sleep", "30"], detach=True, rm=True), paths)
    try:
        monkeypatch.setitem(sys.modules, "ipywidgets", None)  # `import ipywidgets` now fails
        assert explorer.show(c.pid) is None
        assert "as the container sees them" in capsys.readouterr().out
    finally:
        container.rm(paths, c.id, force=True)


def test_explorer_widget_refreshes_and_says_when_the_container_has_exited(paths, busybox_rootfs):
    pytest.importorskip("ipywidgets")  # the lab extra
    c = container.run(RunSpec(rootfs=str(busybox_rootfs), command=["sleep", "30"], detach=True, rm=True), paths)
    try:
        box = explorer.show(c.pid)
        (button, status), html = box.children[0].children, box.children[1]
        bundle = box._repr_mimebundle_()
        private = sum(not r.shared for r in explorer.compare(c.pid))  # all but user as root (time: if the kernel has it)
        assert bundle["text/plain"] == f"namespace explorer: {private} of {len(explorer.compare(c.pid))} namespaces " \
            "private, 2 processes in the container", bundle["text/plain"]
        assert bundle["image/png"] and "application/vnd.jupyter.widget-view+json" in bundle
        button.click()
        assert status.value == "refresh 1: read from /proc again" and "mc-init" in html.value
    finally:
        container.rm(paths, c.id, force=True)
    button.click()
    assert status.value == "refresh 2: the container has exited"
    assert "The container has exited" in html.value and "<table" not in html.value


def test_run_printed_prints_the_output_for_a_notebook(paths, busybox_rootfs, capsys, threaded):
    c = container.run_printed(str(busybox_rootfs), ["sh", "-c", "echo hello; exit 2"], paths=paths)
    assert c.exit_code == 2
    assert capsys.readouterr().out == "hello\n"
    assert not list(paths.containers_dir.iterdir())


def test_exec_from_a_threaded_process_uses_a_spawned_helper(paths, busybox_rootfs, threaded, capfd):
    """A notebook's kernel has threads: exec then starts a fresh `python -I -S` helper instead of a fork."""
    c = container.run(RunSpec(rootfs=str(busybox_rootfs), command=["sleep", "30"], detach=True, rm=True,
                              hostname="box"), paths)
    try:
        code = container.exec_in(paths, c.id, ["sh", "-c", 'echo "$(hostname) $$"; exit 7'])
        assert code == 7
        hostname, pid = capfd.readouterr().out.split()
        assert hostname == "box" and 1 < int(pid) < 50, "it ran in the container's UTS and PID namespaces"
    finally:
        container.rm(paths, c.id, force=True)
