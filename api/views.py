"""The REST API (v1). Thin views: check the scope (permissions.HasScope), validate the JSON,
call one action of ``tiers.actions`` (which records the fact and re-evaluates the member in the
same transaction), answer with the member's tier after it."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from functools import partial

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty.error_pages import api_not_found
from loyalty.exceptions import ConflictError, DomainError
from loyalty.money import fen_to_yuan
from loyalty.words import listed
from members import services as member_services
from members.importers import (
    ValueRefused,
    column_name,
    external_id_value,
    member_no_value,
    member_type_outdated,
)
from members.models import Member, Transaction
from tiers import actions
from tiers.models import TierChange
from tiers.selectors import (
    last_evaluation,
    member_explanation,
    member_open_warning,
    member_progress,
    open_override,
    tier_state,
    warning_to_tier,
)

from . import docs
from .errors import BatchItemRefused
from .filters import MemberFilter
from .models import Scope
from .pagination import HistoryCursor, MemberCursor
from .selectors import (
    member_by_no,
    member_tier_history,
    member_tiers_by_id,
    member_with_tier,
    members_with_tiers,
    transaction_by_external_id,
)
from .serializers import (
    ActivityInSerializer,
    ActivitySerializer,
    MemberCreateSerializer,
    MemberSerializer,
    MemberTierDetailSerializer,
    MemberUpdateSerializer,
    ReferralInSerializer,
    ReferralSerializer,
    TierChangeSerializer,
    TransactionBatchSerializer,
    TransactionInSerializer,
    TransactionSerializer,
    member_type,
    shortfall_amount,
    status_of_type,
)
from .services import BatchItemError, transactions_record_batch


def member_or_404(member_no: str, lookup=member_with_tier) -> Member:
    """The member with this number as the import reads it (``Ｍ001`` is ``M001``); a number no
    member could have (a space, an invisible character) is unknown."""
    try:
        return lookup(member_no_value(member_no))
    except (ValueRefused, Member.DoesNotExist):
        raise NotFound(_("No member has number %(no)s.") % {"no": member_no}) from None


def _validated(serializer_class, data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _written(status_created: bool) -> int:
    return status.HTTP_201_CREATED if status_created else status.HTTP_200_OK


# --- Members ------------------------------------------------------------------------------

_COMPARED = ("name", "phone", "email", "joined_on", "member_type", "birthday")


def _differences(member: Member, data: dict) -> list[str]:
    stored = {
        "name": member.name,
        "phone": member.phone,
        "email": member.email,
        "joined_on": member.joined_on,
        "member_type": member_type(member),
        "birthday": member.birthday,
    }
    # As the import: not the member type of a member blacklisted or converted since.
    given_status = status_of_type(data["member_type"])
    outdated = member_type_outdated(member.pk, member.status, given_status)
    compared = [f for f in _COMPARED if not (f == "member_type" and outdated)]
    return [f for f in compared if stored[f] != data[f]]


class MemberListCreate(generics.GenericAPIView):
    read_scope = Scope.MEMBERS_READ
    write_scope = Scope.MEMBERS_WRITE
    pagination_class = MemberCursor
    filterset_class = MemberFilter
    serializer_class = MemberSerializer

    def get_queryset(self):
        return members_with_tiers()

    @extend_schema(**docs.MEMBER_LIST)
    def get(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(**docs.MEMBER_CREATE)
    def post(self, request):
        data = _validated(MemberCreateSerializer, request.data)
        try:
            member = actions.member_register(
                member_no=data["member_no"],
                name=data["name"],
                phone=data["phone"],
                email=data["email"],
                joined_on=data["joined_on"],
                birthday=data["birthday"],
                status=status_of_type(data["member_type"]),
                actor=request.user,
            )
            created = True
        except (DomainError, IntegrityError) as refused:
            # Taken (perhaps a moment ago by the same request sent twice): a repeat with the
            # same data is answered with the stored member, anything else is a conflict.
            try:
                member = member_with_tier(data["member_no"])
            except Member.DoesNotExist:
                raise refused from None  # refused for another reason
            if differences := _differences(member, data):
                raise ConflictError(
                    _("Member %(no)s already exists with different %(fields)s.")
                    % {
                        "no": member.member_no,
                        "fields": listed(column_name(field) for field in differences),
                    }
                ) from None
            created = False
        member = member_with_tier(member.member_no)
        return Response(
            MemberSerializer(member, context={"request": request}).data, status=_written(created)
        )


class MemberDetail(APIView):
    read_scope = Scope.MEMBERS_READ
    write_scope = Scope.MEMBERS_WRITE

    @extend_schema(**docs.MEMBER_READ)
    def get(self, request, member_no: str):
        member = member_or_404(member_no)
        return Response(MemberSerializer(member, context={"request": request}).data)

    @extend_schema(**docs.MEMBER_UPDATE)
    def patch(self, request, member_no: str):
        member = member_or_404(member_no)
        shown = MemberSerializer(member, context={"request": request}).data
        data = dict(_validated(MemberUpdateSerializer, request.data, context={"current": shown}))
        new_type = data.pop("member_type", None)
        with transaction.atomic():
            # Read again under the member's lock: the same request sent twice at once finds the
            # member converted by the first, and changes nothing.
            member = member_services.member_lock(member)
            if data:
                member = member_services.member_update(member=member, actor=request.user, **data)
            if new_type is not None and new_type != member_type(member):
                if new_type == "experience" or member.status != Member.Status.EXPERIENCE:
                    raise DomainError(
                        _("Only an experience member can become a regular member here."),
                        field="member_type",
                    )
                actions.member_convert(member=member, actor=request.user)
        member = member_with_tier(member.member_no)
        return Response(MemberSerializer(member, context={"request": request}).data)


# --- Tiers --------------------------------------------------------------------------------


PROGRESS_PLACES = Decimal("0.0001")


def _progress(value) -> float:
    """Rounded down, as the portal's bars: 1.0 only when the way is reached."""
    return float(Decimal(str(value)).quantize(PROGRESS_PLACES, rounding=ROUND_DOWN))


def _ways(ways) -> list[dict]:
    return [
        {
            "shortfalls": [
                {"metric": s.metric.value, "amount": shortfall_amount(s.metric.value, s.amount)}
                for s in way.shortfalls
            ],
            "progress": _progress(way.progress),
        }
        for way in ways
    ]


def tier_payload(member: Member) -> dict:
    state = tier_state(member)
    evaluation = last_evaluation(member)
    takes_part = member.takes_part
    counted = evaluation is not None and takes_part
    explanation = member_explanation(member)
    progress = member_progress(member)
    current = state.current_tier if takes_part else None
    floor = open_override(member) if current else None
    warning = member_open_warning(member) if current else None
    return {
        "member_no": member.member_no,
        "status": member.status,
        "current_tier": current.code if current else None,
        "qualified_tier": evaluation.qualified_tier.code if counted else None,
        "tier_year_starts_on": state.tier_year_start if current else None,
        "tier_year_ends_on": state.tier_year_end if current else None,
        "evaluated_on": evaluation.evaluated_on if counted else None,
        "policy_version": evaluation.policy.version if counted else None,
        "spend": str(fen_to_yuan(evaluation.spend_fen)) if counted else None,
        "frequency": evaluation.frequency if counted else None,
        "tenure_years": evaluation.tenure_years if counted else None,
        "contribution": evaluation.contribution if counted else None,
        "explanation": [
            {"tier": check.tier.code, "held": check.result.held, "rule": check.result}
            for check in (explanation.evaluation.checks if explanation else ())
        ],
        "progress": (
            {
                "next_tier": progress.next_tier.code if progress.next_tier else None,
                "to_next": _ways(progress.to_next),
                "keeps": progress.keeps,
                "to_keep": _ways(progress.to_keep),
            }
            if progress
            else None
        ),
        "floor": (
            {"kind": floor.kind, "tier": floor.tier.code, "ends_on": floor.ends_on}
            if floor
            else None
        ),
        "downgrade_warning": (
            {
                "warned_on": warning.warned_on,
                "tier": warning.tier.code,
                "to_tier": warning_to_tier(warning).code,
                "downgrade_not_before": warning.downgrade_not_before,
            }
            if warning
            else None
        ),
    }


class MemberTierView(APIView):
    read_scope = Scope.TIERS_READ

    @extend_schema(**docs.MEMBER_TIER)
    def get(self, request, member_no: str):
        member = member_or_404(member_no)
        return Response(MemberTierDetailSerializer(tier_payload(member)).data)


class MemberTierHistory(generics.GenericAPIView):
    read_scope = Scope.TIERS_READ
    pagination_class = HistoryCursor
    serializer_class = TierChangeSerializer
    queryset = TierChange.objects.none()  # the schema's model; get() reads the member's own

    @extend_schema(**docs.MEMBER_TIER_HISTORY)
    def get(self, request, member_no: str):
        member = member_or_404(member_no)
        page = self.paginate_queryset(member_tier_history(member))
        return self.get_paginated_response(TierChangeSerializer(page, many=True).data)


# --- Transactions -------------------------------------------------------------------------


def _record_transaction(data: dict, member: Member, actor, *, locked: bool = False):
    return actions.transaction_record(
        locked=locked,
        member=member,
        external_id=data["external_id"],
        kind=data["kind"],
        amount=fen_to_yuan(data["amount"]),
        occurred_at=data["occurred_at"],
        refund_of=data["refund_of"],
        actor=actor,
    )


def _transaction_data(transactions, member_ids) -> list[dict]:
    members = member_tiers_by_id(member_ids)
    return TransactionSerializer(transactions, many=True, context={"members": members}).data


class TransactionCreate(APIView):
    write_scope = Scope.TRANSACTIONS_WRITE

    @extend_schema(**docs.TRANSACTION_CREATE)
    def post(self, request):
        data = _validated(TransactionInSerializer, request.data)
        # Found and locked in one statement, in the transaction that records the purchase.
        with transaction.atomic():
            member = member_or_404(data["member_no"], lookup=partial(member_by_no, lock=True))
            txn, created = _record_transaction(data, member, request.user, locked=True)
        body = _transaction_data([txn], [member.pk])[0]
        return Response(body, status=_written(created))


def _transaction_read(external_id: str) -> Response:
    # The id as the import reads it (``ＴＸ１`` is ``TX1``), as for a member number.
    try:
        txn = transaction_by_external_id(external_id_value(external_id))
    except (ValueRefused, Transaction.DoesNotExist):
        raise NotFound(_("No transaction has external id %(id)s.") % {"id": external_id}) from None
    return Response(_transaction_data([txn], [txn.member_id])[0])


class TransactionDetail(APIView):
    read_scope = Scope.TRANSACTIONS_READ

    @extend_schema(**docs.TRANSACTION_READ)
    def get(self, request, external_id: str):
        return _transaction_read(external_id)


def _first_item_errors(errors) -> tuple[int, object] | None:
    """DRF reports a list's bad items as {index: errors}."""
    if isinstance(errors, dict) and errors:
        index = min(errors)
        return index, errors[index]
    return None


class TransactionBatch(APIView):
    # "batch" is a valid external id too: its address is this one, so reading it is here (the
    # schema documents it with the other transactions' reads).
    read_scope = Scope.TRANSACTIONS_READ
    write_scope = Scope.TRANSACTIONS_WRITE

    @extend_schema(exclude=True)
    def get(self, request):
        return _transaction_read("batch")

    @extend_schema(**docs.TRANSACTION_BATCH)
    def post(self, request):
        serializer = TransactionBatchSerializer(data=request.data)
        if not serializer.is_valid():
            item = _first_item_errors(serializer.errors.get("transactions"))
            if item is None:
                raise ValidationError(serializer.errors)
            raise BatchItemRefused(index=item[0], errors=item[1])
        items = serializer.validated_data["transactions"]
        members = {
            m.member_no: m
            for m in Member.objects.filter(member_no__in={i["member_no"] for i in items})
        }
        for index, item in enumerate(items):
            if item["member_no"] not in members:
                raise BatchItemRefused(
                    index=index,
                    errors={
                        "member_no": [_("No member has number %(no)s.") % {"no": item["member_no"]}]
                    },
                )
        try:
            recorded = transactions_record_batch(
                items=[{**item, "amount": fen_to_yuan(item["amount"])} for item in items],
                members=members,
                actor=request.user,
            )
        except BatchItemError as refused:
            error = refused.error
            raise BatchItemRefused(
                index=refused.index,
                errors={error.field: [str(error)]} if error.field else {"detail": str(error)},
                status_code=409 if isinstance(error, ConflictError) else 400,
            ) from None
        created_count = sum(created for _txn, created in recorded)
        transactions = [txn for txn, _created in recorded]
        body = {
            "created": created_count,
            "already_recorded": len(recorded) - created_count,
            "transactions": _transaction_data(transactions, [t.member_id for t in transactions]),
        }
        return Response(body, status=_written(created_count > 0))


# --- Referrals and activities -------------------------------------------------------------


class ReferralCreate(APIView):
    write_scope = Scope.REFERRALS_WRITE

    @extend_schema(**docs.REFERRAL_CREATE)
    def post(self, request):
        data = _validated(ReferralInSerializer, request.data)
        referrer = member_or_404(data["referrer_no"])
        referred = member_or_404(data["referred_no"])
        moment = data.get("occurred_at")
        occurred_on = timezone.localtime(moment).date() if moment else None
        for attempt in range(2):
            try:
                referral, created = actions.referral_record(
                    referrer=referrer,
                    referred=referred,
                    occurred_on=occurred_on,
                    actor=request.user,
                )
                break
            except DomainError as exc:
                if exc.field != "occurred_on":
                    raise
                # The services name the date as the staff form does; here it is occurred_at.
                raise DomainError(str(exc), field="occurred_at") from None
            except IntegrityError:
                # The same referral sent twice at once: the second attempt finds it stored.
                if attempt:
                    raise
        member = member_with_tier(referrer.member_no)
        return Response(
            ReferralSerializer(referral, context={"member": member}).data, status=_written(created)
        )


class ActivityCreate(APIView):
    write_scope = Scope.ACTIVITIES_WRITE

    @extend_schema(**docs.ACTIVITY_CREATE)
    def post(self, request):
        data = _validated(ActivityInSerializer, request.data)
        member = member_or_404(data["member_no"])
        participation, created = actions.activity_record(
            member=member,
            activity=data["activity"],
            occurred_at=data["occurred_at"],
            actor=request.user,
        )
        member = member_with_tier(member.member_no)
        return Response(
            ActivitySerializer(participation, context={"member": member}).data,
            status=_written(created),
        )


# --- Anything else under /api/v1/ -----------------------------------------------------------


@csrf_exempt  # clients send no CSRF token: their 404 must not become CSRF's 403 page
def not_found(request, *args, **kwargs):
    """The API's JSON 404 for an address no endpoint has (its URLs' last pattern)."""
    return api_not_found(request)
