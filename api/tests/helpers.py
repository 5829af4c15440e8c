"""Requests sent from several threads at the same moment, each on its own real connection (for
transactional tests on PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection
from rest_framework.test import APIClient


def sent_at_once(raw_key: str, times: int, request: Callable[[APIClient], object]) -> list:
    """``request(client)`` from ``times`` threads released together; their answers, in the
    order they came."""
    barrier = threading.Barrier(times)
    answers = []

    def send():
        try:
            client = APIClient(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
            barrier.wait()
            answers.append(request(client))
        finally:
            connection.close()  # each thread has its own real connection

    threads = [threading.Thread(target=send) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers
