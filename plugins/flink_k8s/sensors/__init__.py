"""Airflow sensors over Flink jobs; deferrable by default."""
