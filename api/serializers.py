"""The API's JSON: field names are the CSV columns of ``import_csv`` (README), money is a
string with 2 decimals, tiers are codes. Input serializers check shape and format only; the
domain's rules stay in the services they call (members.services via tiers.actions)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from loyalty.dates import DateError, parse_date
from loyalty.masking import contacts_visible
from loyalty.money import fen_to_yuan
from members.importers import (
    MEMBER_STATUS_OF_TYPE,
    ValueRefused,
    activity_value,
    external_id_value,
    member_birthday_check,
    member_email_value,
    member_joined_on_check,
    member_name_value,
    member_no_value,
    member_phone_value,
    refund_of_value,
)
from members.models import Member, Transaction
from tiers.models import TierOverride

from .fields import (
    AmountField,
    ChoiceField,
    DayField,
    ImportedTextField,
    MomentField,
    moment_text,
)

MEMBER_TYPES = [("regular", _("regular member")), ("experience", _("experience member"))]
TIER_CODE = {"type": "string", "nullable": True, "example": "gold"}


def member_type(member: Member) -> str:
    return "experience" if member.status == Member.Status.EXPERIENCE else "regular"


def status_of_type(member_type: str) -> str:
    """The status a new member of ``member_type`` starts with (regular when not given)."""
    return MEMBER_STATUS_OF_TYPE.get(member_type, Member.Status.ACTIVE)


def tier_fields(*, status: str, current_tier, qualified_tier, tier_year_end) -> dict:
    """The tier part of a member in an answer, from the codes tiers keeps for them: members who
    take no part (experience, blacklisted) show none."""
    takes_part = status == Member.Status.ACTIVE
    current = current_tier if takes_part else None
    return {
        "current_tier": current,
        "qualified_tier": qualified_tier if takes_part else None,
        "tier_year_ends_on": tier_year_end.isoformat() if current and tier_year_end else None,
    }


def _tier_fields(member: Member) -> dict:
    """What the member holds after the write: read from the rows tiers keeps (loaded with
    ``selectors.members_with_tiers``)."""
    state = getattr(member, "tier_state", None)
    evaluation = getattr(member, "evaluation", None)
    return tier_fields(
        status=member.status,
        current_tier=state.current_tier.code if state is not None and state.current_tier else None,
        qualified_tier=evaluation.qualified_tier.code if evaluation is not None else None,
        tier_year_end=state.tier_year_end if state is not None else None,
    )


class MemberTierSerializer(serializers.Serializer):
    """The member's tier after a write."""

    member_no = serializers.CharField()
    status = serializers.ChoiceField(choices=Member.Status.choices)
    current_tier = serializers.CharField(allow_null=True)
    qualified_tier = serializers.CharField(allow_null=True)
    tier_year_ends_on = serializers.DateField(allow_null=True)

    def to_representation(self, member: Member) -> dict:
        return {"member_no": member.member_no, "status": member.status, **_tier_fields(member)}


# --- Members ------------------------------------------------------------------------------


class MemberSerializer(serializers.Serializer):
    member_no = serializers.CharField()
    name = serializers.CharField()
    phone = serializers.CharField(allow_null=True, help_text=_("Null when hidden from the reader."))
    email = serializers.CharField(allow_null=True, help_text=_("Null when hidden from the reader."))
    joined_on = serializers.DateField()
    member_type = serializers.ChoiceField(choices=MEMBER_TYPES)
    birthday = serializers.DateField(allow_null=True)
    status = serializers.ChoiceField(choices=Member.Status.choices)
    current_tier = serializers.CharField(allow_null=True)
    qualified_tier = serializers.CharField(allow_null=True)
    tier_year_ends_on = serializers.DateField(allow_null=True)

    def to_representation(self, member: Member) -> dict:
        request = self.context.get("request")
        # Staff in the browsable API see contact details only with the permission the back
        # office asks for; client systems sent them and see them. Without the request to tell,
        # they are hidden.
        hidden = request is None or (request.auth is None and not contacts_visible(request.user))
        return {
            "member_no": member.member_no,
            "name": member.name,
            "phone": None if hidden else member.phone,
            "email": None if hidden else member.email,
            "joined_on": member.joined_on.isoformat(),
            "member_type": member_type(member),
            "birthday": member.birthday.isoformat() if member.birthday else None,
            "status": member.status,
            **_tier_fields(member),
        }


def member_no_field(**kwargs) -> ImportedTextField:
    """A member number, read as the import reads one (``Ｍ001`` is ``M001``)."""
    return ImportedTextField(member_no_value, max_length=32, **kwargs)


# Fields of a member's answer that a client cannot write: a value other than the member's own is
# refused under its name, rather than ignored (the client would believe it had blacklisted the
# member, or set their tier); the member's own value, sent back as read, is let through.
_NOT_WRITTEN = {
    "status": _(
        "The status cannot be set here: staff blacklist members, and member_type makes an "
        "experience member a regular one."
    ),
    "current_tier": _("The tier is decided by the evaluation; it cannot be set here."),
    "qualified_tier": _("The tier is decided by the evaluation; it cannot be set here."),
    "tier_year_ends_on": _("The tier is decided by the evaluation; it cannot be set here."),
}


def _as_read(field: str, value):
    """A fixed field's value as the API reads its kind of value, so the member's own, sent
    in another form (``ＩＤＭ１``, ``2026/11/1``), is still their own."""
    if not isinstance(value, str):
        return value
    try:
        if field == "member_no":
            return member_no_value(value)
        if field == "joined_on":
            return parse_date(value.strip()).isoformat()
    except (ValueRefused, DateError):
        pass
    return value


class InputSerializer(serializers.Serializer):
    """A request body: a field the endpoint does not take is refused under its name, with the
    other fields' problems (ignored, a misspelt optional field such as ``emial`` would leave
    the client believing it was written)."""

    def refused_fields(self, data: Mapping) -> dict:
        return {
            name: [_("This field is not taken here.")] for name in data if name not in self.fields
        }

    def to_internal_value(self, data):
        refused = self.refused_fields(data) if isinstance(data, Mapping) else {}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if refused and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **refused}) from None
            raise
        if refused:
            raise serializers.ValidationError(refused)
        return value


class _RefusesFixedFields(InputSerializer):
    """Sending a field of ``FIXED`` is refused under its name, with its own message, unless it
    is the value ``current_values`` gives for it."""

    FIXED: dict = _NOT_WRITTEN

    def current_values(self, data: Mapping) -> dict:
        """The member's values of the fixed fields (the context's ``current``, as read)."""
        return self.context.get("current", {})

    def refused_fields(self, data: Mapping) -> dict:
        current = self.current_values(data)
        fixed = {
            f: [message]
            for f, message in self.FIXED.items()
            if f in data and (f not in current or _as_read(f, data[f]) != current[f])
        }
        unknown = {f: m for f, m in super().refused_fields(data).items() if f not in self.FIXED}
        return {**unknown, **fixed}


class MemberCreateSerializer(_RefusesFixedFields):
    def current_values(self, data: Mapping) -> dict:
        """What a new member of the given type starts with: active (or experience), no tier."""
        return {
            "status": status_of_type(data.get("member_type")),
            "current_tier": None,
            "qualified_tier": None,
            "tier_year_ends_on": None,
        }

    member_no = member_no_field(help_text=_("Given by the business."))
    name = ImportedTextField(member_name_value, max_length=128)
    phone = ImportedTextField(
        member_phone_value, max_length=32, required=False, default="", allow_blank=True
    )
    email = ImportedTextField(
        member_email_value, max_length=254, required=False, default="", allow_blank=True
    )
    joined_on = DayField(
        label=_("joined on"),
        help_text=_("入会日期: the start of tenure. YYYY-MM-DD."),
        check=member_joined_on_check,
    )
    member_type = ChoiceField(
        choices=MEMBER_TYPES,
        required=False,
        default="regular",
        help_text=_("regular (takes part in tier evaluation) or experience (体验会员)."),
    )
    birthday = DayField(
        label=_("birthday"),
        required=False,
        allow_null=True,
        default=None,
        check=member_birthday_check,
    )


class MemberUpdateSerializer(_RefusesFixedFields):
    """Contact details; ``member_type: regular`` converts an experience member to a full one.
    The member number and the joined date are identity and cannot change."""

    name = ImportedTextField(member_name_value, max_length=128, required=False)
    phone = ImportedTextField(member_phone_value, max_length=32, required=False, allow_blank=True)
    email = ImportedTextField(member_email_value, max_length=254, required=False, allow_blank=True)
    birthday = DayField(
        label=_("birthday"), required=False, allow_null=True, check=member_birthday_check
    )
    member_type = ChoiceField(choices=MEMBER_TYPES, required=False)

    FIXED = {
        "member_no": _("The member number cannot be changed."),
        "joined_on": _("The joined date cannot be changed."),
        **_NOT_WRITTEN,
    }


# --- Transactions -------------------------------------------------------------------------


class TransactionInSerializer(InputSerializer):
    """The external ids are read as the import reads them (``ＴＸ１`` is ``TX1``), so a
    purchase sent by CSV and by API is one, and a refund finds its purchase either way."""

    external_id = ImportedTextField(
        external_id_value,
        max_length=64,
        help_text=_("Unique across all transactions; sending it again is safe."),
    )
    member_no = member_no_field()
    kind = ChoiceField(choices=Transaction.Kind.choices)
    amount = AmountField()
    occurred_at = MomentField(label=_("occurred at"))
    refund_of = ImportedTextField(
        refund_of_value,
        max_length=64,
        required=False,
        allow_null=True,
        allow_blank=True,
        default="",
        help_text=_("For a refund: the external id of the purchase it refunds."),
    )

    def validate(self, data):
        refund_of = data.get("refund_of") or ""
        data["refund_of"] = refund_of
        if data["kind"] == Transaction.Kind.REFUND and not refund_of:
            raise serializers.ValidationError(
                {"refund_of": _("A refund must name the purchase it refunds.")}
            )
        if data["kind"] == Transaction.Kind.PURCHASE and refund_of:
            raise serializers.ValidationError({"refund_of": _("Only a refund names a purchase.")})
        return data


class TransactionSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    member_no = serializers.CharField()
    kind = serializers.ChoiceField(choices=Transaction.Kind.choices)
    amount = AmountField()
    occurred_at = serializers.DateTimeField()
    refund_of = serializers.CharField(allow_null=True)
    recorded_at = serializers.DateTimeField()
    member = MemberTierSerializer(help_text=_("The member's tier after this write."))

    def to_representation(self, txn: Transaction) -> dict:
        # The member's tier after the write, by member id (``selectors.member_tiers_by_id``).
        member = self.context["members"][txn.member_id]
        return {
            "external_id": txn.external_id,
            "member_no": member["member_no"],
            "kind": txn.kind,
            "amount": str(fen_to_yuan(txn.amount_fen)),
            "occurred_at": moment_text(txn.occurred_at),
            "refund_of": txn.refund_of.external_id if txn.refund_of_id else None,
            "recorded_at": moment_text(txn.created_at),
            "member": {
                "member_no": member["member_no"],
                "status": member["status"],
                **tier_fields(
                    status=member["status"],
                    current_tier=member["current_tier"],
                    qualified_tier=member["qualified_tier"],
                    tier_year_end=member["tier_year_end"],
                ),
            },
        }


class TransactionBatchSerializer(InputSerializer):
    transactions = serializers.ListField(
        child=TransactionInSerializer(), min_length=1, max_length=1000
    )


class TransactionBatchResultSerializer(serializers.Serializer):
    created = serializers.IntegerField(help_text=_("Transactions recorded by this request."))
    already_recorded = serializers.IntegerField(
        help_text=_("Transactions that were stored before with the same data (unchanged).")
    )
    transactions = TransactionSerializer(many=True)


# --- Referrals and activities -------------------------------------------------------------


class ReferralInSerializer(InputSerializer):
    referrer_no = member_no_field()
    referred_no = member_no_field()
    occurred_at = MomentField(
        label=_("occurred at"),
        required=False,
        help_text=_(
            "The day the referred member registered (default: the referred member's "
            "joined date); a date and time counts by its local date."
        ),
    )


class ReferralSerializer(serializers.Serializer):
    referrer_no = serializers.CharField()
    referred_no = serializers.CharField()
    occurred_at = serializers.DateField(help_text=_("The referral's date (a local date)."))
    recorded_at = serializers.DateTimeField()
    member = MemberTierSerializer(help_text=_("The referrer's tier after this write."))

    def to_representation(self, referral) -> dict:
        return {
            "referrer_no": referral.referrer.member_no,
            "referred_no": referral.referred.member_no,
            "occurred_at": referral.occurred_on.isoformat(),
            "recorded_at": moment_text(referral.created_at),
            "member": MemberTierSerializer(self.context["member"]).data,
        }


class ActivityInSerializer(InputSerializer):
    member_no = member_no_field()
    activity = ImportedTextField(
        activity_value, max_length=128, help_text=_("e.g. 直播互动, 商品评价")
    )
    occurred_at = MomentField(label=_("occurred at"))


class ActivitySerializer(serializers.Serializer):
    member_no = serializers.CharField()
    activity = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    recorded_at = serializers.DateTimeField()
    member = MemberTierSerializer(help_text=_("The member's tier after this write."))

    def to_representation(self, participation) -> dict:
        return {
            "member_no": self.context["member"].member_no,
            "activity": participation.activity,
            "occurred_at": moment_text(participation.occurred_at),
            "recorded_at": moment_text(participation.created_at),
            "member": MemberTierSerializer(self.context["member"]).data,
        }


# --- Tiers --------------------------------------------------------------------------------


RULE_NODE = {
    "type": "object",
    "description": (
        "A rule checked against the member's figures: kind threshold (metric, minimum, "
        "value, shortfall when not held), all, any or at_least (count, children)."
    ),
    "properties": {
        "kind": {"type": "string", "enum": ["threshold", "all", "any", "at_least"]},
        "held": {"type": "boolean"},
        "metric": {
            "type": "string",
            "enum": ["spend", "frequency", "tenure_years", "contribution"],
        },
        "minimum": {"type": "string"},
        "value": {"type": "string"},
        "shortfall": {"type": "string"},
        "count": {"type": "integer"},
        "children": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["kind", "held"],
}


@extend_schema_field(RULE_NODE)
class RuleField(serializers.Field):
    def to_representation(self, value):
        return value.as_data()


class TierCheckSerializer(serializers.Serializer):
    tier = serializers.CharField()
    held = serializers.BooleanField()
    rule = RuleField()


class ShortfallSerializer(serializers.Serializer):
    metric = serializers.ChoiceField(choices=["spend", "frequency", "tenure_years", "contribution"])
    amount = serializers.CharField(help_text=_("How much more: yuan for spend, else a count."))


class WaySerializer(serializers.Serializer):
    shortfalls = ShortfallSerializer(many=True)
    progress = serializers.FloatField(help_text=_("0 to 1: how far along the hardest part."))


class ProgressSerializer(serializers.Serializer):
    next_tier = serializers.CharField(allow_null=True)
    to_next = WaySerializer(many=True, help_text=_("The cheapest ways to the next tier."))
    keeps = serializers.BooleanField(help_text=_("Whether the held tier's rule holds now."))
    to_keep = WaySerializer(
        many=True,
        help_text=_(
            "The cheapest ways to keep the held tier that can be met by the tier-year end (or "
            "the end of the notice period); empty when none can."
        ),
    )


class FloorSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=TierOverride.Kind.choices,
        help_text=_("manual: a staff override; committee: an exceptional upgrade."),
    )
    tier = serializers.CharField(help_text=_("The member holds at least this tier meanwhile."))
    ends_on = serializers.DateField(allow_null=True, help_text=_("Null: until staff end it."))


class DowngradeWarningSerializer(serializers.Serializer):
    warned_on = serializers.DateField()
    tier = serializers.CharField(help_text=_("The tier at risk."))
    to_tier = serializers.CharField(help_text=_("The tier a downgrade would give."))
    downgrade_not_before = serializers.DateField(
        help_text=_("No downgrade before this day, and none if the member meets the rule again.")
    )


class MemberTierDetailSerializer(serializers.Serializer):
    """Output only; built by ``views.tier_payload``."""

    member_no = serializers.CharField()
    status = serializers.ChoiceField(choices=Member.Status.choices)
    current_tier = serializers.CharField(allow_null=True)
    qualified_tier = serializers.CharField(allow_null=True)
    tier_year_starts_on = serializers.DateField(allow_null=True)
    tier_year_ends_on = serializers.DateField(allow_null=True)
    evaluated_on = serializers.DateField(allow_null=True)
    policy_version = serializers.IntegerField(allow_null=True)
    spend = serializers.CharField(allow_null=True, help_text=_("Yuan in the window, net."))
    frequency = serializers.IntegerField(allow_null=True)
    tenure_years = serializers.IntegerField(allow_null=True)
    contribution = serializers.IntegerField(allow_null=True)
    explanation = TierCheckSerializer(many=True, help_text=_("Every tier's rule, highest first."))
    progress = ProgressSerializer(allow_null=True)
    floor = FloorSerializer(
        allow_null=True,
        help_text=_(
            "The override or exceptional upgrade in force, which keeps the member at least at its "
            "tier whatever the rules give; null when there is none."
        ),
    )
    downgrade_warning = DowngradeWarningSerializer(
        allow_null=True,
        help_text=_("The downgrade warning of the present tier year, while it stands."),
    )


def shortfall_amount(metric: str, amount) -> str:
    return str(Decimal(amount).quantize(Decimal("0.01"))) if metric == "spend" else str(amount)


class TierChangeSerializer(serializers.Serializer):
    effective_on = serializers.DateField()
    from_tier = serializers.CharField(allow_null=True)
    to_tier = serializers.CharField(allow_null=True)
    cause = serializers.CharField()
    policy_version = serializers.IntegerField(allow_null=True)
    spend = serializers.CharField(allow_null=True)
    frequency = serializers.IntegerField(allow_null=True)
    tenure_years = serializers.IntegerField(allow_null=True)
    contribution = serializers.IntegerField(allow_null=True)
    note = serializers.CharField()
    recorded_at = serializers.DateTimeField()

    def to_representation(self, change) -> dict:
        return {
            "effective_on": change.effective_on.isoformat(),
            "from_tier": change.from_tier.code if change.from_tier else None,
            "to_tier": change.to_tier.code if change.to_tier else None,
            "cause": change.cause,
            "policy_version": change.policy.version if change.policy else None,
            "spend": str(fen_to_yuan(change.spend_fen)) if change.spend_fen is not None else None,
            "frequency": change.frequency,
            "tenure_years": change.tenure_years,
            "contribution": change.contribution,
            "note": change.note_display,
            "recorded_at": moment_text(change.created_at),
        }


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class BatchErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    index = serializers.IntegerField(help_text=_("The refused item's position, from 0."))
    errors = serializers.JSONField(help_text=_("Why: a message per field, or detail."))
