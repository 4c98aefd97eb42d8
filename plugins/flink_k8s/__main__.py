import sys

from flink_k8s.cli import main

if __name__ == "__main__":
    sys.exit(main())
