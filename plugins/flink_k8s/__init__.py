"""flink_k8s: run Apache Flink on native Kubernetes application mode from Airflow 3.

Layers (imports only point down): Airflow glue (hooks, operators, sensors, triggers) -> clients (I/O, one
protocol each) -> core (pure decisions, no I/O, no Airflow). This module imports nothing heavy so that
DAG files parse fast.
"""

__version__ = "0.1.0"
