"""Inside a pod's namespaces, become the pod, then exec its container command.

Run as `ip netns exec <pod netns> unshare --uts python -m tests.kube.podexec --hostname H --secrets DIR
-- argv…`. `ip netns exec` has already put us in a private mount namespace (with the pod's
/etc/hosts and /etc/resolv.conf bound in); this sets the pod's hostname (own UTS namespace), mounts
a tmpfs over /run and writes the service-account token, `ca.crt` and `namespace` at
/var/run/secrets/kubernetes.io/serviceaccount — where in-cluster clients (Flink's fabric8) look, as a
kubelet's projected volume provides them. Nothing of this is visible on the host.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="podexec")
    parser.add_argument("--hostname", required=True)
    parser.add_argument("--secrets", type=Path, help="dir with token, ca.crt, namespace")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command after --")
    socket.sethostname(args.hostname)
    if args.secrets is not None:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=8m", "kube-local-run", "/run"], check=True)
        SA_DIR.mkdir(parents=True)
        for name in ("token", "ca.crt", "namespace"):
            shutil.copyfile(args.secrets / name, SA_DIR / name)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
