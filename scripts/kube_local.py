"""`make kube-up` / `make kube-down` / `make kube-status`: the local Kubernetes control plane.

Real etcd, kube-apiserver, kube-controller-manager and kube-scheduler (built from the Kubernetes Go
modules by tools/kube-local) plus the project's local kubelet; see tests/kube/controlplane.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "plugins")]

from tests.kube import controlplane  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(prog="kube_local")
    parser.add_argument("action", choices=["up", "down", "status", "build"])
    args = parser.parse_args()
    try:
        if args.action == "build":
            print(controlplane.ensure_binary())
        elif args.action == "up":
            cluster = controlplane.up()
            print(controlplane.describe(cluster))
        elif args.action == "down":
            controlplane.down()
        else:
            if not controlplane.running():
                print("kube-local is not running (make kube-up)")
                return 1
            print(controlplane.describe(controlplane.cluster()))
    except controlplane.ControlPlaneError as exc:
        print(f"kube-local: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
