"""Airflow triggers: async waits that serialize only ids and plain values (never kubeconfigs or tokens)."""
