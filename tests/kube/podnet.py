"""Pod network namespaces on the bridge of `controlplane.py`: one namespace, one veth, one address per pod.

Why: the API server's pod and service proxies refuse loopback pod IPs, and a JobManager publishes its
own pod IP; so each pod gets a real address from 10.244.0.0/16 that exists only inside namespaces made
here. The address is the namespace name (`kl-<a>-<b>` = 10.244.<a>.<b>): creating the namespace is the
allocation, atomic across every kubelet on this node, and deleting it frees the address.
Name resolution inside a pod: `/etc/netns/<ns>/hosts` (the pod's name, the cluster's Services) and a
`resolv.conf` that fails fast; `ip netns exec` binds both over /etc for the pod only.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.kube.controlplane import BRIDGE, NODE_IP, POD_PREFIX

REPO = Path(__file__).resolve().parents[2]
NETNS_ETC = Path("/etc/netns")
RESOLV_CONF = "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"


class PodNetError(RuntimeError):
    pass


@dataclass(frozen=True)
class PodNet:
    netns: str
    ip: str

    @property
    def veth(self) -> str:
        return "klv" + self.netns[3:]  # at most 15 characters: "klv255-254"


def _run(argv: list[str], input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, input=input_text, timeout=30)


def allocate(attempts: int = 64) -> PodNet:
    """A new namespace with its own address, wired to the bridge (default route via the node)."""
    for _ in range(attempts):
        a, b = random.randint(0, 255), random.randint(2, 254)
        if (a, b) == (0, 1):
            continue
        net = PodNet(netns=f"kl-{a}-{b}", ip=f"10.244.{a}.{b}")
        if _run(["ip", "netns", "add", net.netns]).returncode != 0:
            continue  # taken by another pod: try another address
        host_side = (f"link add {net.veth} type veth peer name eth0 netns {net.netns}\n"
                     f"link set {net.veth} master {BRIDGE} up\n")
        pod_side = (f"addr add {net.ip}/{POD_PREFIX} dev eth0\nlink set eth0 up\nlink set lo up\n"
                    f"route add default via {NODE_IP}\n")
        for argv, batch in ((["ip", "-batch", "-"], host_side), (["ip", "-n", net.netns, "-batch", "-"], pod_side)):
            done = _run(argv, input_text=batch)
            if done.returncode != 0:
                release(net)
                raise PodNetError(f"wiring {net.netns} failed: {done.stderr.strip()}")
        etc = NETNS_ETC / net.netns
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text(RESOLV_CONF)
        (etc / "hosts").write_text(f"127.0.0.1 localhost\n{net.ip} {net.netns}\n")
        return net
    raise PodNetError("no free pod address after {attempts} tries")


def release(net: PodNet) -> None:
    """Delete the namespace (its veth goes with it) and its /etc/netns files."""
    _run(["ip", "netns", "del", net.netns])
    _run(["ip", "link", "del", net.veth])
    shutil.rmtree(NETNS_ETC / net.netns, ignore_errors=True)


def write_hosts(net: PodNet, entries: list[tuple[str, str]]) -> None:
    """Rewrite the pod's /etc/hosts in place (the running pod has the file bound, not the name)."""
    text = "127.0.0.1 localhost\n" + "".join(f"{ip} {name}\n" for ip, name in entries)
    path = NETNS_ETC / net.netns / "hosts"
    try:
        if path.read_text() == text:
            return
        with open(path, "r+") as fh:
            fh.truncate(0)
            fh.write(text)
    except FileNotFoundError:
        return


def exec_argv(net: PodNet, hostname: str, secrets: Path | None, command: list[str]) -> list[str]:
    """argv that runs `command` as the pod: its network, hostname, hosts file and service-account files."""
    argv = ["ip", "netns", "exec", net.netns, "unshare", "--uts", sys.executable, "-m", "tests.kube.podexec",
            "--hostname", hostname[:63]]
    if secrets is not None:
        argv += ["--secrets", str(secrets)]
    return [*argv, "--", *command]


def pythonpath() -> str:
    return os.pathsep.join([str(REPO), str(REPO / "plugins")])
