"""A container's life as data: the transition table of state.py (lesson 02), and the records on disk."""

from __future__ import annotations

import pytest

from minicontainer import state
from minicontainer.errors import ContainerError
from minicontainer.state import CREATED, EXITED, RESTARTING, RUNNING, Container


def record(status: str = CREATED) -> Container:
    return Container(id="ab" * 32, name="web", image="busybox", command=["true"], rootfs="/", status=status)


def test_the_table_is_created_running_exited_with_restarts():
    allowed = {(t.source, t.event, t.target) for t in state.TRANSITIONS}
    assert allowed == {(CREATED, "start", RUNNING), (RUNNING, "exit", EXITED), (CREATED, "exit", EXITED),
                       (RUNNING, "restart", RESTARTING), (RESTARTING, "start", RUNNING),
                       (RESTARTING, "exit", EXITED), (EXITED, "start", RUNNING)}


def test_the_table_prints_one_line_per_transition():
    lines = state.describe().splitlines()
    assert len(lines) == len(state.TRANSITIONS) == 7
    assert lines[0].split()[:3] == ["created", "--start-->", "running"]


def test_a_restart_goes_through_restarting_and_stamps_the_end():
    c = state.transition(record(), "start")
    state.transition(c, "restart")
    assert c.status == RESTARTING and c.finished >= c.started
    state.transition(c, "start")
    assert c.status == RUNNING


def test_an_exited_container_may_start_again():
    c = state.transition(state.transition(record(), "start"), "exit")
    assert state.transition(c, "start").status == RUNNING


def test_start_then_exit_stamps_the_times():
    c = record()
    state.transition(c, "start")
    assert c.status == RUNNING and c.started > 0 and c.finished == 0
    state.transition(c, "exit")
    assert c.status == EXITED and c.finished >= c.started


def test_a_start_that_failed_goes_from_created_to_exited():
    c = state.transition(record(), "exit")
    assert c.status == EXITED and c.started == 0


@pytest.mark.parametrize("status, event", [(RUNNING, "start"), (EXITED, "restart"), (EXITED, "exit"),
                                           (CREATED, "restart"), (RESTARTING, "restart")])
def test_a_transition_the_table_does_not_have_is_refused(status, event):
    c = record(status)
    assert not state.can(c, event)
    with pytest.raises(ContainerError, match=f"is {status}: it cannot {event}"):
        state.transition(c, event)
    assert c.status == status


def test_a_record_is_published_only_when_complete(paths):
    c = record()
    building = state.new_dir(paths, c.id, 1, 1)
    assert state.all_containers(paths) == [], "a directory being made is not a container yet"
    state.publish(paths, building, c)
    assert state.load(paths, c.id) == c
    assert state.find(paths, "web") == c and state.find(paths, "abab") == c
    state.remove(paths, c)
    with pytest.raises(ContainerError, match="No such container"):
        state.find(paths, "web")
