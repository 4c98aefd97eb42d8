"""Thin Airflow hooks: read a connection lazily, hand back a client from `flink_k8s.clients`."""
