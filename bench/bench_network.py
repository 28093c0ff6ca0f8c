"""What networking costs (lesson 07).

1. Start latency: `minicontainer run --rm --network bridge busybox true` beside `--network none`,
   A B A B. The difference is the price of a veth, a lease, the netlink requests and importing
   pyroute2 (the bridge itself exists after the first run, as mc0 would).
2. Throughput: wrk against busybox httpd in a container, through a published port on 127.0.0.1
   (DNAT in the output chain, masquerade) beside straight to the container's address on the bridge.

Runs on a private bridge and run directory, removed at the end. Only loopback and that bridge.
"""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pairs import alternate

ROOT = Path(__file__).resolve().parent.parent
BRIDGE, SUBNET = "mcbench0", "10.252.0.0/24"


def _launcher() -> Path:
    launcher = ROOT / ".venv" / "bin" / "minicontainer"
    return launcher if launcher.exists() else Path(sys.executable).parent / "minicontainer"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrk(url: str, seconds: int = 3) -> float:
    """Requests per second that wrk measures (1 thread, 8 connections)."""
    out = subprocess.run(["wrk", "-t1", "-c8", f"-d{seconds}s", url], capture_output=True, text=True, check=True).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main(rounds: int = 15, wrk_rounds: int = 3) -> None:
    launcher = str(_launcher())
    tmp = Path(tempfile.mkdtemp(prefix="mc-bench-net-"))
    env = dict(os.environ, MC_RUN_DIR=str(tmp / "run"), MC_BRIDGE=BRIDGE, MC_SUBNET=SUBNET)
    www = tmp / "www"
    www.mkdir()
    (www / "index.html").write_text("x" * 512)

    def mc(*args: str) -> str:
        return subprocess.run([launcher, *args], check=True, env=env, capture_output=True, text=True).stdout

    try:
        pair = alternate("run --network bridge", lambda: mc("run", "--rm", "--network", "bridge", "busybox", "true"),
                         "run --network none", lambda: mc("run", "--rm", "busybox", "true"), rounds=rounds)
        print("start latency:", pair.report())
        print(f"  extra for --network bridge: {(pair.median_a - pair.median_b) * 1000:.1f} ms")

        port = _free_port()
        mc("run", "-d", "--name", "bench-web", "--network", "bridge", "-p", f"{port}:80", "-v", f"{www}:/www",
           "busybox", "httpd", "-f", "-p", "80", "-h", "/www")
        address = mc("exec", "bench-web", "ip", "-o", "-4", "addr", "show", "eth0").split()[3].split("/")[0]
        time.sleep(0.2)
        published, direct = [], []
        for _ in range(wrk_rounds):
            published.append(wrk(f"http://127.0.0.1:{port}/index.html"))
            direct.append(wrk(f"http://{address}/index.html"))
        a, b = statistics.median(published), statistics.median(direct)
        print(f"requests/s: published 127.0.0.1:{port} median {a:.0f}  |  direct {address}:80 median {b:.0f}  |  "
              f"ratio {a / b:.2f} (n={wrk_rounds} each, alternating, wrk -t1 -c8 -d3s)")
    finally:
        subprocess.run([launcher, "rm", "-f", "bench-web"], env=env, capture_output=True)
        sys.path.insert(0, str(ROOT))
        from minicontainer.network import remove_network
        from minicontainer.paths import Paths
        remove_network(BRIDGE, Paths(Path(env.get("MC_LIB_DIR", "/var/lib/minicontainer")), tmp / "run"))
        from minicontainer.network import nat
        nat.delete_table_if_empty()
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
