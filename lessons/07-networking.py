# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# **中文摘要 · 第 07 课：网络——veth、网桥、NAT 和端口发布**
#
# 新建的网络命名空间里只有一个 lo。本课用 veth 虚拟网线把两个命名空间连起来，给它们分配地址，
# 用网桥当交换机，在一个命名空间里运行 web 服务，再用 NAT 让容器访问外网、用端口映射把服务发布到主机上；
# 最后由运行时用 `minicontainer run --network bridge -p` 自动完成这一切。
# 对应教程“使用网络”（外部访问容器、容器互联）、“高级网络配置”（端口映射实现、docker0 网桥）和“底层实现：网络”。
#
# 本课构建的包：`minicontainer/network/`。

# %% [markdown]
# # 07 · Networking: veth, bridge, NAT and published ports
#
# **The package this lesson builds: `minicontainer/network/`.**
#
# Since lesson 02 every container has had its own network namespace: its own devices, addresses,
# routes and ports, and nothing in it but a loopback device. In this lesson you connect such a
# namespace to the host and to other containers, by hand first, with the same netlink requests
# `ip` sends (through the Python library **pyroute2**), then with `minicontainer run --network
# bridge -p 8080:80`, which does all of it for you, the way Docker does:
#
# ```
#   host ── bridge mcdemo0 10.250.0.1 ──┬── veth ═ eth0 10.250.0.2  (namespace A)
#       (the containers' gateway)       └── veth ═ eth0 10.250.0.3  (namespace B: a web server)
#   127.0.0.1:18081 ──DNAT──▶ 10.250.0.3:80
# ```
#
# What you will write (in `exercises/07-networking.py`):
#
# | part | function | what it does |
# |---|---|---|
# | 7.1 | `parse_publish` | read `-p 127.0.0.1:8080:80/tcp` |
# | 7.2 | `next_free_address` | hand out the next free address of the bridge's subnet |
# | 7.3 | `dnat_rule` | the nftables rule behind a published port |
# | 7.4 | `plug_veth` | a veth pair into a container's namespace, with address and route |

# %%
from minicontainer.doctor import require

require("root", "net-ns", "busybox", "pyroute2", "nftables")

# %% [markdown]
# ## 1. A new network namespace has almost nothing
#
# `ip netns add NAME` creates a network namespace and keeps it alive (with no process in it) by
# bind-mounting it on `/run/netns/NAME`. pyroute2's `netns.create` does the same. We make two,
# A and B (first removing any left by an interrupted earlier run of this notebook).

# %%
import subprocess

from pyroute2 import AsyncIPRoute, netns

A, B = "mcdemo-a", "mcdemo-b"
for name in (A, B):
    if name in netns.listnetns():
        netns.remove(name)
    netns.create(name)
print(sorted(n for n in netns.listnetns() if n.startswith("mcdemo")))


# %% [markdown]
# `AsyncIPRoute` is a netlink socket: `get_links()` is `ip link`. Given `netns=`, pyroute2 opens the
# socket inside that namespace. (pyroute2 is built on asyncio; a notebook runs an event loop, so we
# use the async API and `await` its calls. Outside a notebook, `pyroute2.IPRoute` is the same API
# without `await`: that is what the runtime uses.) Inside A there is only `lo`, and it is down:

# %%
async def links(ns: str | None = None) -> list[tuple[str, str]]:
    """(name, state) of every network device, on the host or in namespace ns."""
    async with AsyncIPRoute(netns=ns) if ns else AsyncIPRoute() as ipr:
        return [(link.get("ifname"), link.get("operstate")) async for link in await ipr.get_links()]


print("in A:", await links(A))


# %% [markdown]
# To run a program inside a namespace, `ip netns exec NAME ...` joins it (setns) and execs. With
# `lo` down, even 127.0.0.1 is unreachable:

# %%
def in_ns(ns: str, *argv: str) -> str:
    """Run a busybox applet inside namespace ns; its output, or its error."""
    done = subprocess.run(["ip", "netns", "exec", ns, "busybox", *argv], capture_output=True, text=True)
    return (done.stdout + done.stderr).strip()


def ping(ns: str | None, address: str) -> str:
    """One ping, from the host (ns None) or from a namespace: just the summary line."""
    argv = ["ping", "-c", "1", "-W", "1", address]
    out = in_ns(ns, *argv) if ns else subprocess.run(["busybox", *argv], capture_output=True, text=True).stdout
    lines = out.splitlines() or [""]
    return next((line for line in lines if "transmitted" in line), lines[-1])


print("lo down:", ping(A, "127.0.0.1"))
async with AsyncIPRoute(netns=A) as ns:
    await ns.link("set", ifname="lo", state="up")
print("lo up:  ", ping(A, "127.0.0.1"))

# %% [markdown]
# That is all `--network none` gives a container: a loopback device, switched on (by PID 1, with
# one ioctl: `minicontainer/network/loopback.py`).
#
# ## 2. A virtual cable: the veth pair
#
# A veth pair is two network devices joined back to back: a frame sent into one comes out of the
# other. We create the pair on the host, then move one end into namespace A and rename it `eth0`
# (`ip link add mcdemo-a0 type veth peer name mcdemo-a1; ip link set mcdemo-a1 netns mcdemo-a name eth0`):

# %%
async with AsyncIPRoute() as ipr:
    await ipr.link("add", ifname="mcdemo-a0", kind="veth", peer="mcdemo-a1")
    peer = (await ipr.link_lookup(ifname="mcdemo-a1"))[0]
    await ipr.link("set", index=peer, net_ns_fd=A, ifname="eth0")
print("host:", [link for link in await links() if link[0].startswith("mcdemo")])
print("in A:", await links(A))

# %% [markdown]
# ## 3. Addresses, and a switch: the bridge
#
# Inside A, `eth0` gets an address and goes up. On the host, instead of giving the other end an
# address, we plug it into a **bridge**, a virtual Ethernet switch. Every container's veth will
# plug into the same bridge, and the bridge's own address (`.1`) is how the host talks to them:
# it becomes the containers' gateway.

# %%
SUBNET, GATEWAY = "10.250.0.0/24", "10.250.0.1"

async with AsyncIPRoute(netns=A) as ns:
    eth0 = (await ns.link_lookup(ifname="eth0"))[0]
    await ns.addr("add", index=eth0, address="10.250.0.2", prefixlen=24)
    await ns.link("set", index=eth0, state="up")

async with AsyncIPRoute() as ipr:
    await ipr.link("add", ifname="mcdemo0", kind="bridge")
    bridge = (await ipr.link_lookup(ifname="mcdemo0"))[0]
    await ipr.addr("add", index=bridge, address=GATEWAY, prefixlen=24)
    await ipr.link("set", index=bridge, state="up")
    await ipr.link("set", index=(await ipr.link_lookup(ifname="mcdemo-a0"))[0], master=bridge, state="up")

print("host -> A:", ping(None, "10.250.0.2"))


# %% [markdown]
# Namespace B gets the same treatment. Here it is as one short function; the runtime's own version
# is `minicontainer/network/veth.py`, and **Exercise 7.4** asks you to write it for a container
# given by its PID (`/proc/PID/ns/net`), creating `eth0` directly inside the namespace.

# %%
async def plug(ns_name: str, host_end: str, address: str) -> None:
    """A veth from the bridge mcdemo0 to eth0 in ns_name, with an address, lo up, and a default route."""
    async with AsyncIPRoute() as ipr:
        await ipr.link("add", ifname=host_end, kind="veth", peer=host_end + "p")
        peer = (await ipr.link_lookup(ifname=host_end + "p"))[0]
        await ipr.link("set", index=peer, net_ns_fd=ns_name, ifname="eth0")
        bridge = (await ipr.link_lookup(ifname="mcdemo0"))[0]
        await ipr.link("set", index=(await ipr.link_lookup(ifname=host_end))[0], master=bridge, state="up")
    async with AsyncIPRoute(netns=ns_name) as ns:
        eth0 = (await ns.link_lookup(ifname="eth0"))[0]
        await ns.addr("add", index=eth0, address=address, prefixlen=24)
        await ns.link("set", index=eth0, state="up")
        await ns.link("set", ifname="lo", state="up")
        await ns.route("add", dst="0.0.0.0/0", gateway=GATEWAY)


await plug(B, "mcdemo-b0", "10.250.0.3")
print("A -> B:", ping(A, "10.250.0.3"))
print("B -> A:", ping(B, "10.250.0.2"))

# %% [markdown]
# A and B reach each other through the switch. The last line of `plug` added a **default route**:
# packets for any address not on the bridge go to the gateway, the host, which may route them on.
# A has no default route yet, so it only knows its own subnet:

# %%
print("A:", in_ns(A, "ip", "route"))
async with AsyncIPRoute(netns=A) as ns:
    await ns.route("add", dst="0.0.0.0/0", gateway=GATEWAY)
print("A:", in_ns(A, "ip", "route"))

# %% [markdown]
# **Exercise 7.2**: the runtime must give each container a free address of the subnet, skipping
# the gateway: write `next_free_address(subnet, used)`. (The runtime's version,
# `minicontainer/network/ipam.py`, keeps one lease file per address under a file lock, so two
# `run`s starting together never get the same one, and takes back the addresses of killed containers.)

# %%
from minicontainer.exercises import check

check("7.2")

# %% [markdown]
# ## 4. A web server in namespace B
#
# busybox has a small web server. We start it inside B and fetch its page from the host, through
# the bridge:

# %%
import tempfile
import time
import urllib.request
from pathlib import Path

www = Path(tempfile.mkdtemp(prefix="mcdemo-www-"))
(www / "index.html").write_text("hello from namespace B\n")
httpd = subprocess.Popen(["ip", "netns", "exec", B, "busybox", "httpd", "-f", "-p", "80", "-h", str(www)])


def get(url: str, wait: float = 30) -> str:
    """An HTTP GET, retried while a server starts (a moment; up to `wait` s on a very busy machine)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read().decode().strip()
        except OSError as exc:
            if time.monotonic() > deadline:
                return f"failed: {exc}"
            time.sleep(0.02)


print(get("http://10.250.0.3/"))

# %% [markdown]
# ## 5. NAT: out through the host, and in through a published port
#
# The containers' addresses exist only on this machine. Two kinds of **network address
# translation** (NAT) fix that, both done by netfilter, the kernel's packet filter, which we
# program with `nft` (nftables):
#
# * **masquerade** (source NAT): a packet from 10.250.0.x leaving through another device gets the
#   host's address as its source, so answers come back to the host, which translates them back.
#   The host must also route between devices: `net.ipv4.ip_forward=1`.
# * **DNAT** (destination NAT): a packet for the host's port 18081 gets its destination
#   rewritten to 10.250.0.3:80. That is all `-p 18081:80` is.
#
# A DNAT rule in the `prerouting` chain sees packets arriving from other machines; packets the host
# sends itself (`curl 127.0.0.1:18081`) only pass the `output` chain, so we add the rule to both.
# `fib daddr type local` matches any address of the host itself. Two more details make 127.0.0.1
# work: the bridge must accept packets with a loopback source (`route_localnet=1`), and they are
# masqueraded to the bridge's address so B can answer them.

# %%
ruleset = f"""
table ip mcdemo {{
  chain prerouting {{ type nat hook prerouting priority dstnat; }}
  chain output {{ type nat hook output priority -100; }}
  chain postrouting {{ type nat hook postrouting priority srcnat; }}
}}
add rule ip mcdemo postrouting ip saddr {SUBNET} oifname != "mcdemo0" masquerade
add rule ip mcdemo postrouting ip saddr 127.0.0.0/8 oifname "mcdemo0" masquerade
add rule ip mcdemo prerouting fib daddr type local tcp dport 18081 dnat to 10.250.0.3:80
add rule ip mcdemo output fib daddr type local tcp dport 18081 dnat to 10.250.0.3:80
"""
subprocess.run(["nft", "-f", "-"], input=ruleset, text=True, check=True)
Path("/proc/sys/net/ipv4/conf/mcdemo0/route_localnet").write_text("1")
print(subprocess.run(["nft", "list", "table", "ip", "mcdemo"], capture_output=True, text=True).stdout)

# %%
print("via 127.0.0.1:18081 ->", get("http://127.0.0.1:18081/"))
print("via the bridge address ->", get(f"http://{GATEWAY}:18081/"))

# %% [markdown]
# (We leave `ip_forward` alone here: nothing in this lesson leaves the machine. The runtime sets it
# when it creates its bridge and restores it on `minicontainer reset`.)
#
# **Exercise 7.1**: read a `-p` value. **Exercise 7.3**: write the DNAT rule for a published port
# (its check asks `nft -c`, which validates a rule without changing anything).

# %%
check("7.1")
check("7.3")

# %% [markdown]
# **Exercise 7.4**: now write `plug_veth(ipr, host_name, pid, address, gateway)`, the veth step for
# a container known by its PID. Its check starts a process in a new network namespace (`unshare -n`)
# and looks inside.

# %%
check("7.4")

# %% [markdown]
# Time to take the hand-made network down. Deleting a namespace deletes its `eth0`, and a veth
# never outlives its peer, so the host ends go too. The kernel dismantles a dead namespace in the
# background, so we give it a moment:

# %%
import asyncio

httpd.kill()
httpd.wait()
subprocess.run(["nft", "delete", "table", "ip", "mcdemo"], check=True)
for name in (A, B):
    netns.remove(name)
async with AsyncIPRoute() as ipr:
    await ipr.link("del", index=(await ipr.link_lookup(ifname="mcdemo0"))[0])
for _ in range(1500):  # usually a moment; a very busy machine may need seconds
    if not [link for link in await links() if link[0].startswith("mcdemo")]:
        break
    await asyncio.sleep(0.02)
print("left:", [link for link in await links() if link[0].startswith("mcdemo")],
      [n for n in netns.listnetns() if n.startswith("mcdemo")])

# %% [markdown]
# ## 6. The runtime does all of it: `run --network bridge -p`
#
# `minicontainer run --network bridge` makes the bridge (`mc0`, 10.88.0.0/16, or a free private
# range when that one is taken), leases an address, plugs a veth into PID 1's namespace before the
# workload starts, writes the container's `/etc/hosts` (its peers by name) and `/etc/resolv.conf`,
# and for each `-p` adds DNAT rules to one nftables table, `ip minicontainer`. When the container
# ends, all of it goes; if the runtime itself is killed, the next command collects what it left.
#
# The lesson uses its own bridge (`MC_BRIDGE`, `MC_SUBNET`) so that it does not disturb your `mc0`:

# %%
import os
import sys

os.environ["MC_BRIDGE"], os.environ["MC_SUBNET"] = "mcnb0", "10.251.0.0/24"
MC = str(Path(sys.executable).parent / "minicontainer")


def mc(*args: str) -> str:
    done = subprocess.run([MC, *args], capture_output=True, text=True)
    return (done.stdout + done.stderr).strip()


(www / "index.html").write_text("hello from the web container\n")
started = mc("run", "-d", "--name", "web", "--network", "bridge", "-p", "18082:80", "-v", f"{www}:/www",
             "busybox", "httpd", "-f", "-p", "80", "-h", "/www")
print("web started:", len(started) == 64 or started)
print(mc("exec", "web", "ip", "-o", "-4", "addr", "show", "eth0").split()[3])
print("from the host, 127.0.0.1:18082 ->", get("http://127.0.0.1:18082/"))

# %% [markdown]
# A second container finds the first by name (its `/etc/hosts` lists its peers on the bridge):

# %%
print(mc("run", "--rm", "--name", "client", "--network", "bridge", "busybox", "sh", "-c",
         "grep web /etc/hosts; wget -q -O- http://web/"))

# %% [markdown]
# The picture below is drawn from the live state: the bridge and veths from netlink, names and
# addresses from the leases, published ports from the nftables rules. (`minicontainer network ls`
# prints the same for every bridge in a terminal.)

# %%
from minicontainer.widgets.network import render_text, show, snapshot

print(render_text(snapshot(bridges=["mcnb0"])))
show(bridges=["mcnb0"])

# %% [markdown]
# And `--network none` (the default) still has only its loopback device:

# %%
print(mc("run", "--rm", "busybox", "ls", "/sys/class/net"))

# %% [markdown]
# ## 7. Clean up
#
# Removing the container releases its address, veth and rules; `remove_network` then deletes the
# lesson's bridge and the `minicontainer` table once it is empty (`minicontainer reset` does the
# same for every bridge).

# %%
import shutil

from minicontainer.network import nat, remove_network
from minicontainer.paths import Paths

print(mc("rm", "-f", "web"))
for line in remove_network("mcnb0", Paths.from_env()):
    print(line)
nat.delete_table_if_empty()
shutil.rmtree(www)
del os.environ["MC_BRIDGE"], os.environ["MC_SUBNET"]
print("veths left:", [n for n, _ in await links() if n.startswith(("mcv", "mcdemo", "mcnb"))])

# %% [markdown]
# **What you built:** a network namespace connected by a veth pair to a bridge, addresses and a
# default route, a web server reached through the bridge, masquerade and DNAT with nftables, and
# the runtime's `--network bridge -p`. Next, **08 · security**: capabilities, seccomp and a
# read-only root.
