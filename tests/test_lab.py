"""The classroom: `make lab` on a real JupyterLab server on 127.0.0.1, and its one-line refusals.

The server shows what a learner needs (exercises/, notebooks/, README.md, a terminal) and opens on the
welcome lesson; a taken port, a user who is not root, a kernel without overlayfs or cgroups and an
offline machine each give one line with the reason and the fix, and leave nothing half-installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from minicontainer import labserver

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, token: str = "", method: str = "GET") -> tuple[int, bytes, dict]:
    request = urllib.request.Request(url, method=method, headers={"Authorization": f"token {token}"} if token else {})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.fixture(scope="module")
def lab():
    """`make lab` on a free port: (base URL, token), stopped with its process group afterwards."""
    port = free_port()
    proc = subprocess.Popen(["make", "--no-print-directory", "lab", f"PORT={port}"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen = []
    try:
        deadline = time.monotonic() + 120
        token = ""
        while time.monotonic() < deadline and not token:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if m := re.search(rf"http://127\.0\.0\.1:{port}/(\S*)\?token=([0-9a-f]+)", line):
                path, token = m.groups()
        assert token, "make lab printed no URL:\n" + "".join(seen[-30:])
        while time.monotonic() < deadline:  # the URL is printed just before the server accepts connections
            try:
                get(f"http://127.0.0.1:{port}/api/status", token)
                break
            except urllib.error.URLError:
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", token, path
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()


def test_lab_url_prints_the_running_labs_url_with_its_token(lab):
    base, token, _ = lab
    port = base.rsplit(":", 1)[1]
    done = subprocess.run(["make", "-s", "--no-print-directory", "lab-url", f"PORT={port}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == f"{base}/lab?token={token}", done.stdout + done.stderr


def test_lab_opens_on_the_welcome_lesson(lab):
    base, token, path = lab
    assert path == "lab/tree/notebooks/00-welcome.ipynb", "the URL make lab prints opens the welcome lesson"
    status, _, headers = get(f"{base}/", token)
    assert status in (301, 302) and headers["Location"].split("?")[0].endswith("/lab/tree/notebooks/00-welcome.ipynb")


def test_lab_file_browser_shows_exercises_notebooks_and_readme_but_not_lesson_sources(lab):
    base, token, _ = lab
    status, body, _ = get(f"{base}/api/contents/", token)
    assert status == 200
    names = {item["name"] for item in json.loads(body)["content"]}
    assert {"exercises", "notebooks", "README.md"} <= names, names
    assert "lessons" not in names, "the lessons' text sources are for authors: hidden in the lab"
    status, body, _ = get(f"{base}/api/contents/exercises", token)
    assert "01-chroot.py" in {item["name"] for item in json.loads(body)["content"]}
    status, body, _ = get(f"{base}/api/contents/notebooks", token)
    lessons = sorted(item["name"] for item in json.loads(body)["content"] if item["name"][:2].isdigit())
    assert lessons and all(name.endswith(".ipynb") for name in lessons), f"each lesson once, as a notebook: {lessons}"


def test_lab_has_terminals(lab):
    base, token, _ = lab
    status, body, _ = get(f"{base}/api/terminals", token, method="POST")
    assert status == 200, body
    name = json.loads(body)["name"]
    try:
        status, body, _ = get(f"{base}/api/terminals", token)
        assert name in {t["name"] for t in json.loads(body)}
    finally:
        assert get(f"{base}/api/terminals/{name}", token, method="DELETE")[0] == 204


def test_lab_needs_its_token_and_listens_on_loopback_only(lab):
    base, _, _ = lab
    assert get(f"{base}/api/contents/")[0] == 403
    port = int(base.rsplit(":", 1)[1])
    listening = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True).stdout
    addresses = {line.split()[3].rsplit(":", 1)[0] for line in listening.splitlines()}
    assert addresses == {"127.0.0.1"}, listening


def test_a_second_lab_on_a_taken_port_says_so_in_one_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        t = time.monotonic()
        done = subprocess.run(["make", "--no-print-directory", "lab", f"PORT={port}"], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        elapsed = time.monotonic() - t
    assert done.returncode != 0
    ours = [line for line in done.stderr.splitlines() if line.startswith("make lab:")]
    assert len(ours) == 1 and f"port {port} on 127.0.0.1 is taken" in ours[0] and "Fix:" in ours[0], done.stderr
    assert f"PORT={port + 1}" in ours[0]
    assert "Starting JupyterLab" not in done.stdout, f"nothing else ran ({elapsed:.1f} s)"


def test_make_lab_as_a_user_says_it_needs_root(tmp_path):
    # A world-readable copy of what make reads first (a checkout under /root is not readable by nobody)
    for name in ("Makefile", "pyproject.toml", "constraints.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    tmp_path.chmod(0o755)
    done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           "make", "--no-print-directory", "lab"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0
    first = done.stderr.splitlines()[0]
    assert "needs root" in first and "sudo make lab" in first, done.stderr


def in_mount_namespace(script: str) -> subprocess.CompletedProcess:
    """Run a shell script in a new mount namespace (its bind mounts vanish with it)."""
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-ec", script],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_lab_warns_in_one_line_each_without_overlayfs_and_cgroups(tmp_path):
    (tmp_path / "filesystems").write_text("nodev\tproc\nnodev\ttmpfs\n\text4\n")
    (tmp_path / "cmdline").write_text("root=/dev/vda cgroup_disable=memory\n")
    python = sys.executable
    done = in_mount_namespace(f"""
        mount --bind {tmp_path}/filesystems /proc/filesystems
        if [ -d /lib/modules ]; then mount -t tmpfs none /lib/modules; fi   # no overlay.ko to load either
        mount -t tmpfs none /sys/fs/cgroup        # no cgroup filesystem
        mount --bind {tmp_path}/cmdline /proc/cmdline
        {python} -m minicontainer.labserver --check --port {free_port()}
    """)
    assert done.returncode == 0, f"warnings do not stop the lab: {done.stderr}"
    lines = done.stderr.splitlines()
    overlay = [line for line in lines if "overlayfs" in line]
    cgroups = [line for line in lines if "cgroup" in line]
    assert len(overlay) == 1 and "Fix: modprobe overlay" in overlay[0], lines
    assert len(cgroups) == 1 and "cgroup_disable=memory" in cgroups[0] and "update-grub" in cgroups[0], lines
    assert len(lines) == 2, lines


def test_lab_has_no_warning_on_this_host():
    errors, warnings = labserver.preflight(free_port())
    assert not errors and not warnings, errors + warnings


def test_an_offline_install_says_so_and_leaves_no_half_made_venv(tmp_path):
    venv = tmp_path / "venv"
    env = dict(os.environ, PIP_RETRIES="0", PIP_TIMEOUT="5", PIP_FIND_LINKS="", PIP_EXTRA_INDEX_URL="")
    python = str(Path(sys.base_prefix) / "bin" / "python3")  # the interpreter the course's venv was made from
    done = subprocess.run(["unshare", "--net", "bash", "scripts/venv.sh", str(venv), python],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode != 0
    ours = [line for line in done.stderr.splitlines() if line.startswith("make: cannot download")]
    assert len(ours) == 1 and "offline?" in ours[0] and "Fix: connect" in ours[0], done.stderr[-2000:]
    assert not venv.exists(), "a venv made by a failed install is removed"


def test_an_offline_package_install_says_so_and_installs_nothing(tmp_path):
    script = tmp_path / "host-deps.sh"
    text = (ROOT / "scripts/host-deps.sh").read_text()
    # one course package that is not installed here, so the script has to reach the archive
    script.write_text(text.replace("  busybox-static   #", "  minicontainer-no-such-package\n  busybox-static   #", 1))
    done = subprocess.run(["unshare", "--net", "bash", str(script), "course"], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "minicontainer-no-such-package" in lines[0] and "nothing was installed" in lines[0].lower(), lines
    assert "offline?" in lines[0] or "lock" in lines[0], lines


def test_bootstrap_on_a_ready_machine_installs_nothing_and_says_what_next():
    done = subprocess.run(["sh", "scripts/bootstrap.sh"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "bootstrap: ready. Next: make lab" and "installing" not in done.stdout


def test_bootstrap_as_a_user_without_sudo_says_to_run_it_as_root(tmp_path):
    script = tmp_path / "bootstrap.sh"
    shutil.copy(ROOT / "scripts/bootstrap.sh", script)
    tmp_path.chmod(0o755)
    script.chmod(0o755)
    done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env", "PATH=/usr/bin:/bin",
                           "sh", "bootstrap.sh"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    sudo = shutil.which("sudo", path="/usr/bin:/bin")
    if sudo:  # with sudo the script asks it for the install; nobody has no sudo rights, so it fails there
        assert done.returncode != 0
    else:
        assert done.returncode == 1 and done.stderr.strip().startswith("bootstrap: this installs Debian packages and needs root")
