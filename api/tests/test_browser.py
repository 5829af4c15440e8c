"""The API's reference pages in Debian's chromium: everything they load comes from our server."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# serialized_rollback: the flush after a live-server test would take the migrations' tiers away
# from the tests after it.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.mark.parametrize("path", ["/api/redoc/", "/api/docs/"])
def test_the_api_reference_pages_load_nothing_from_another_host(live_server, browser, path):
    page = browser.new_page()
    elsewhere: list[str] = []
    errors: list[str] = []
    page.on(
        "request",
        lambda request: (
            None
            if request.url.startswith((live_server.url, f"blob:{live_server.url}", "data:"))
            else elsewhere.append(request.url)
        ),
    )
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )

    page.goto(f"{live_server.url}{path}")
    page.get_by_text("Membership tiers API").first.wait_for()
    page.get_by_text("/api/v1/transactions/").first.wait_for()  # the operations are listed
    page.wait_for_load_state("networkidle")

    assert elsewhere == [] and errors == []
