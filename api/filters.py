from __future__ import annotations

import unicodedata

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from members.models import Member
from tiers.models import Tier


class _NoEmptyValues(forms.Form):
    """``?status=`` is a mistake in the client (a variable left unset), not "any status": it is
    refused under its name rather than read as no filter."""

    def clean(self):
        cleaned = super().clean()
        for name in self.fields:
            # Every value a repeated parameter has (?status=&status=active), not the last only.
            if name in self.data and not all(v.strip() for v in self.data.getlist(name)):
                self.errors.pop(name, None)  # e.g. "Select a valid choice" for " "
                self.add_error(name, _("Give a value or leave the parameter out."))
        return cleaned


def _tier_codes() -> list[tuple[str, str]]:
    return [(code, code) for code in Tier.objects.order_by("rank").values_list("code", flat=True)]


class MemberFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Member.Status.choices, help_text=_("Status."))
    # A code no tier has is refused as a status no member has is, not read as "nobody".
    current_tier = django_filters.ChoiceFilter(
        field_name="tier_state__current_tier__code",
        choices=_tier_codes,
        help_text=_("Tier code: regular, silver, gold, platinum, diamond."),
    )
    joined_on_after = django_filters.DateFilter(
        field_name="joined_on", lookup_expr="gte", help_text=_("Joined on or after (YYYY-MM-DD).")
    )
    joined_on_before = django_filters.DateFilter(
        field_name="joined_on", lookup_expr="lte", help_text=_("Joined on or before (YYYY-MM-DD).")
    )
    member_no_prefix = django_filters.CharFilter(
        method="member_no_starting",
        max_length=32,
        help_text=_("Member numbers starting with this (full-width characters read as plain)."),
    )

    def member_no_starting(self, queryset, name, value):
        # As member numbers are read everywhere else: ``Ｍ００１`` is ``M001``.
        return queryset.filter(member_no__startswith=unicodedata.normalize("NFKC", value).strip())

    class Meta:
        model = Member
        form = _NoEmptyValues
        fields = ["status", "current_tier", "joined_on_after", "joined_on_before"]
