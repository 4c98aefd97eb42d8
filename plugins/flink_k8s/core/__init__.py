"""Pure decisions over plain data: no network, no subprocess, no Airflow imports."""
