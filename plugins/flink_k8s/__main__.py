import sys

from flink_k8s.cli import main

sys.exit(main())
