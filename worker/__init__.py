"""Celery app, training task, settings, job registry and artifact store."""
