"""Airflow operators (thin glue over `flink_k8s.core` + `flink_k8s.clients`); import each module directly."""
