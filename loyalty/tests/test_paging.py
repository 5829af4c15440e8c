"""Every paged staff list reads a page number the same way: one that is not a number shows the
first page, a page past the end is not found."""

from __future__ import annotations

import pytest

from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

LISTS = ["/members/", "/audit/", "/policies/", "/reviews/", "/jobs/", "/api/keys/"]


@pytest.fixture
def admin(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="x-12345"))
    return client


@pytest.mark.parametrize("url", [*LISTS, "notifications"])
@pytest.mark.parametrize("page", ["abc", "0", "-2", "1.5"])
def test_a_page_number_that_is_not_one_shows_the_first_page(admin, url, page):
    if url == "notifications":
        url = f"/jobs/members/{MemberFactory().member_no}/notifications/"

    first = admin.get(url)
    response = admin.get(url, {"page": page})

    assert first.status_code == response.status_code == 200
    assert response.context["page_obj"].number == 1


@pytest.mark.parametrize("url", LISTS)
def test_a_page_past_the_end_is_not_found(admin, url):
    assert admin.get(url, {"page": "9999"}).status_code == 404
