"""Shared test set-up. The same suite runs on SQLite and PostgreSQL (DATABASE_URL)."""

from __future__ import annotations

import signal

import pytest
from django.conf import settings
from django.db import connection
from django.utils import translation


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    # Browser tests are transactional: they end by flushing every table, including the tiers and
    # default policy that migrations created. Run them after everything else (pytest-django
    # runs tests that ask for the database on the fly after its own ordering, so this matters).
    # Other transactional tests (real worker processes, concurrent connections) flush the same
    # way: they run after the browser tests, each restoring the migrated data at its start
    # (the ``migrated_data`` fixture).
    def transactional(item) -> bool:
        marker = item.get_closest_marker("django_db")
        return "browser" not in item.keywords and bool(marker and marker.kwargs.get("transaction"))

    items.sort(key=lambda item: (transactional(item), "browser" in item.keywords))

    # PostgreSQL-only tests are skipped, visibly, on SQLite runs.
    if connection.vendor != "postgresql":
        skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
        for item in items:
            if "postgres_only" in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def migrated_data(transactional_db):
    """The rows data migrations create (tiers, the default policy, notification templates),
    again when a flush at the end of an earlier transactional test removed them. Roles come
    back by themselves: a flush ends with post_migrate."""
    import importlib

    from django.apps import apps

    if not apps.get_model("tiers", "Tier").objects.exists():
        tiers = importlib.import_module("tiers.migrations.0002_default_tiers_and_policy")
        tiers.create_defaults(apps, None)
        importlib.import_module("tiers.migrations.0017_regular_birthday_bonus").add(apps, None)
        service = importlib.import_module(
            "tiers.migrations.0018_regular_birthday_benefit_is_a_service"
        )
        service.to_service(apps, None)
    importlib.import_module("notifications.migrations.0002_default_templates").create(apps, None)


@pytest.fixture
def ctrl_c_raises():
    """Ctrl-C (SIGINT) raises KeyboardInterrupt in this test, as in a terminal. A shell starts
    a background job with SIGINT ignored, and Python then installs no handler of its own, so a
    test that sends itself Ctrl-C would see nothing happen."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(autouse=True)
def _migrated_data_in_transactional_tests(request):
    """Every transactional test (browser, worker processes, concurrent connections, crash
    tests) starts with the migrated data, whatever ran before it."""
    marker = request.node.get_closest_marker("django_db")
    if marker and marker.kwargs.get("transaction"):
        request.getfixturevalue("migrated_data")


@pytest.fixture(autouse=True)
def _configured_language():
    """Each test starts in the configured language (zh-hans). The active language is per thread
    and outlives a test (a request or ``translation.activate`` leaves it set), so without this
    a test could pass only because an earlier one switched to English."""
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def english():
    """For tests that read messages in English, the source language
    (``pytestmark = pytest.mark.usefixtures("english")`` for a whole module)."""
    with translation.override("en"):
        yield


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def browser():
    """Debian's chromium, headless, driven by Playwright (never a downloaded browser).

    Function-scoped on purpose: while Playwright's sync API runs, asyncio sees a running loop in
    this thread, so Django hands out another connection object, one without the serialized
    migration data. Starting the browser after the database fixture has set up keeps each
    browser test independent of those before it."""
    import os
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from django.db import connections
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        yield browser
        # The test's ORM calls ran on the connection of the browser's context: close it, or the
        # test database cannot be dropped at the end of the run.
        connections.close_all()
        browser.close()
