"""Page numbers as every staff list reads them: ``?page=abc`` or ``0`` shows the first page
(Django's ``Paginator.get_page`` reads them so too); a page past the end is not found."""

from __future__ import annotations


def page_number(raw) -> int:
    """The page asked for; the first when the number is not one (``?page=abc``, ``0``)."""
    try:
        number = int(raw or 1)
    except (TypeError, ValueError):
        return 1
    return max(number, 1)


class FirstPageOnBadNumber:
    """For a ``ListView``: a page number that is not one shows the first page instead of
    Django's 404, as the member list does; a page past the end stays a 404."""

    def paginate_queryset(self, queryset, page_size):
        raw = self.kwargs.get(self.page_kwarg) or self.request.GET.get(self.page_kwarg)
        if raw is not None and raw != "last":
            self.kwargs = {**self.kwargs, self.page_kwarg: page_number(raw)}
        return super().paginate_queryset(queryset, page_size)
