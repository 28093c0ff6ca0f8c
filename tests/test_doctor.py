"""The doctor tells what the host supports, by trying it, and gives a fix for each gap."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from minicontainer import doctor
from minicontainer.paths import Paths

ROOT = str(Path(doctor.__file__).resolve().parents[1])


def test_this_host_can_run_the_course(paths):
    (paths.default_rootfs / "bin").mkdir(parents=True)
    (paths.default_rootfs / "bin" / "busybox").write_text("")
    report = doctor.diagnose(paths)
    for name in ["root", "mount-ns", "uts-ns", "ipc-ns", "pid-ns", "net-ns", "user-ns", "cgroup-ns", "overlay", "cgroups"]:
        assert report.get(name).ok, f"{name}: {report.get(name).detail}"
    assert report.course_can_run
    assert report.get("cgroups").detail.startswith(("v1", "v2"))


def test_missing_rootfs_says_how_to_build_it(paths):
    report = doctor.diagnose(paths)
    busybox = report.get("busybox")
    assert not busybox.ok and "make lab" in busybox.fix
    assert not report.course_can_run
    assert "essential: busybox" in doctor.render(report)


def test_without_root_every_gap_has_a_fix(readable_root):
    out = subprocess.run(["runuser", "-u", "nobody", "--", "env", f"PYTHONPATH={readable_root}", "/usr/bin/python3", "-m",
                          "minicontainer", "doctor", "--json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, "doctor must exit 1 when the course cannot run"
    report = json.loads(out.stdout)
    found = {f["name"]: f for f in report["findings"]}
    assert not found["root"]["ok"] and "sudo" in found["root"]["fix"]
    assert not found["pid-ns"]["ok"] and "EPERM" in found["pid-ns"]["detail"]
    assert found["user-ns"]["ok"], "an unprivileged user may create a user namespace on this kernel"
    assert all(f["fix"] for f in report["findings"] if not f["ok"]), "every missing thing needs a one-line fix"


def test_a_probe_that_reports_eperm_is_explained_for_binder(monkeypatch, paths):
    # Binder cannot be had here: we give the doctor the probe results Binder produces (every unshare
    # refused) and check the advice it derives from them.
    monkeypatch.setenv("BINDER_SERVICE_HOST", "binder.example")
    denied = {ns: "unshare(X) failed: EPERM (Operation not permitted)" for ns in doctor.NAMESPACES}
    denied["overlay-mount"] = "not tried (needs root)"
    report = doctor.diagnose(paths, probe=denied)
    assert "Binder" in report.get("pid-ns").fix
    with pytest.raises(doctor.LessonCannotRun) as info:
        monkeypatch.setattr(doctor, "diagnose", lambda paths=None: report)
        doctor.require("pid-ns")
    assert "Linux VM" in str(info.value)
    assert info.value._render_traceback_() == [str(info.value)], "IPython must show the explanation, not a traceback"


def test_require_names_an_unknown_feature():
    with pytest.raises(KeyError, match="no check named 'warp-drive'"):
        doctor.require("warp-drive")


def test_upper_dir_on_overlay_is_reported(tmp_path):
    assert doctor.filesystem_type(Path("/proc/self")) == "proc"
    assert doctor.filesystem_type(tmp_path / "not" / "yet") == doctor.filesystem_type(tmp_path)


def test_cgroup_detection_on_a_v2_shaped_tree(tmp_path):
    # A fake: this host is v1 hybrid, so a v2 root with controllers cannot be mounted here.
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    assert doctor.cgroup_setup(str(tmp_path)) == ("v2", ["cpuset", "cpu", "io", "memory", "pids"])
    assert doctor.cgroup_setup(str(tmp_path / "empty")) == ("none", [])
