"""I/O clients, one protocol each: Flink CLI subprocess, Flink REST, Kubernetes API, Pushgateway HTTP."""
