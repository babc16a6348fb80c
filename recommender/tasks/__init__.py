"""Celery tasks: thin interfaces (ids in, one service call, failure bookkeeping).

Every task module is imported here so the worker registers them all.
"""
from . import embedding, maintenance, training  # noqa: F401
