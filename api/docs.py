"""The OpenAPI description of each operation: responses, errors and examples
(drf-spectacular ``extend_schema`` arguments, kept apart so the views stay short)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse

from .serializers import (
    ActivityInSerializer,
    ActivitySerializer,
    BatchErrorSerializer,
    ErrorSerializer,
    MemberCreateSerializer,
    MemberSerializer,
    MemberTierDetailSerializer,
    MemberUpdateSerializer,
    ReferralInSerializer,
    ReferralSerializer,
    TierChangeSerializer,
    TransactionBatchResultSerializer,
    TransactionBatchSerializer,
    TransactionInSerializer,
    TransactionSerializer,
)

TIER_AFTER = {
    "member_no": "M0001234",
    "status": "active",
    "current_tier": "gold",
    "qualified_tier": "gold",
    "tier_year_ends_on": "2027-06-30",
}
MEMBER = {
    "member_no": "M0001234",
    "name": "王芳",
    "phone": "13912345678",
    "email": "wang.fang@example.com",
    "joined_on": "2019-03-15",
    "member_type": "regular",
    "birthday": "1988-08-08",
    "status": "active",
    "current_tier": "gold",
    "qualified_tier": "gold",
    "tier_year_ends_on": "2027-06-30",
}
PURCHASE_IN = {
    "external_id": "POS-20260630-000123",
    "member_no": "M0001234",
    "kind": "purchase",
    "amount": "1280.00",
    "occurred_at": "2026-06-30T14:05:00+08:00",
}
REFUND_IN = {
    "external_id": "POS-20260702-000045",
    "member_no": "M0001234",
    "kind": "refund",
    "amount": "280.00",
    "occurred_at": "2026-07-02T10:00:00+08:00",
    "refund_of": "POS-20260630-000123",
}
PURCHASE_OUT = {
    **PURCHASE_IN,
    "refund_of": None,
    "recorded_at": "2026-06-30T14:05:02.318000+08:00",
    "member": TIER_AFTER,
}

# Every refusal is JSON; 400 bodies carry a message per field, or ``detail``.
FIELD_ERRORS = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description=(
        "Bad input: a message per field (in the request's language, Accept-Language), or "
        "`detail` when a domain rule refused it. Nothing was written."
    ),
    examples=[
        OpenApiExample(
            "A field is bad",
            value={"amount": ['amount "12.345" has more than 2 decimal places']},
            status_codes=["400"],
        ),
        OpenApiExample(
            "A rule refused it",
            value={"detail": "Refunds of P1 would total ¥120.00, more than its amount ¥100.00."},
            status_codes=["400"],
        ),
    ],
)


def _error(description: str, example: str, status: str) -> OpenApiResponse:
    return OpenApiResponse(
        ErrorSerializer,
        description=description,
        examples=[OpenApiExample(description, value={"detail": example}, status_codes=[status])],
    )


UNAUTHENTICATED = _error(
    "No key, or an unknown or revoked key.", "Unknown or revoked API key.", "401"
)
FORBIDDEN = _error(
    "The key lacks the scope (or the staff user the permission) for this operation.",
    "This key lacks the scope members:read.",
    "403",
)
THROTTLED = _error(
    "Too many requests for this key this minute; retry after `Retry-After` seconds.",
    "Request was throttled. Expected available in 12 seconds.",
    "429",
)
MEMBER_NOT_FOUND = _error("No member has this number.", "No member has number M404.", "404")
CONFLICT = _error(
    "Already recorded under the same identity with different data; nothing changed.",
    "External id POS-20260630-000123 was already recorded with different data.",
    "409",
)
UNSUPPORTED = _error(
    "The body is not JSON (send Content-Type: application/json).",
    'Unsupported media type "text/plain" in request.',
    "415",
)
TOO_LARGE = _error(
    "The body is over the server's limit (DATA_UPLOAD_MAX_MEMORY_SIZE); nothing was written.",
    "The body is too large: at most 2,621,440 bytes.",
    "413",
)
SERVER_FAILED = _error(
    "A failure on the server's side, never the input; the request's own writes were rolled "
    "back, so sending it again is safe.",
    "The server failed to answer this request. Sending it again is safe.",
    "500",
)
COMMON = {401: UNAUTHENTICATED, 403: FORBIDDEN, 429: THROTTLED, 500: SERVER_FAILED}
WRITE = {**COMMON, 413: TOO_LARGE, 415: UNSUPPORTED}

MEMBER_NO = OpenApiParameter(
    "member_no", OpenApiTypes.STR, OpenApiParameter.PATH, description="The member number."
)

MEMBER_LIST = {
    "summary": "List members",
    "description": "Members in member-number order, 50 a page (`page_size` up to 500), "
    "with cursor pagination: follow `next` until it is null.",
    "responses": {
        200: MemberSerializer(many=True),
        400: FIELD_ERRORS,
        404: _error("The cursor is not valid.", "Invalid cursor", "404"),
        **COMMON,
    },
    "tags": ["members"],
}
MEMBER_CREATE = {
    "summary": "Register a member",
    "description": "Registers a member and evaluates them at once. Sending the same member "
    "again with the same data answers 200 with the stored member and changes nothing; the same "
    "number with different data is a 409.",
    "request": MemberCreateSerializer,
    "responses": {
        201: OpenApiResponse(MemberSerializer, description="Registered."),
        200: OpenApiResponse(MemberSerializer, description="Already registered, same data."),
        400: FIELD_ERRORS,
        409: CONFLICT,
        **WRITE,
    },
    "examples": [
        OpenApiExample(
            "A new member",
            value={k: MEMBER[k] for k in MemberCreateSerializer().fields},
            request_only=True,
        ),
        OpenApiExample("Registered", value=MEMBER, response_only=True, status_codes=["201"]),
    ],
    "tags": ["members"],
}
MEMBER_READ = {
    "summary": "Read a member",
    "parameters": [MEMBER_NO],
    "responses": {200: MemberSerializer, 404: MEMBER_NOT_FOUND, **COMMON},
    "examples": [OpenApiExample("A member", value=MEMBER, response_only=True)],
    "tags": ["members"],
}
MEMBER_UPDATE = {
    "summary": "Update a member",
    "description": "Changes contact details (name, phone, email, birthday); `member_type: "
    "regular` converts an experience member into a full member (evaluated at once). The member "
    "number and the joined date cannot change: sending either is a 400 under its name.",
    "parameters": [MEMBER_NO],
    "request": MemberUpdateSerializer,
    "responses": {
        200: MemberSerializer,
        400: FIELD_ERRORS,
        404: MEMBER_NOT_FOUND,
        **WRITE,
    },
    "examples": [
        OpenApiExample("New phone", value={"phone": "13800000000"}, request_only=True),
    ],
    "tags": ["members"],
}
MEMBER_TIER = {
    "summary": "A member's tier, figures, explanation and progress",
    "description": "The tier held and the tier qualified for at the last evaluation, the "
    "tier year, the four figures (spend in yuan, frequency, tenure in years, contribution "
    "points), every tier's rule checked against them, and what is missing for the next tier "
    "and to keep the held one. Figures, explanation and progress are null or empty for "
    "members not evaluated yet and for experience and blacklisted members.",
    "parameters": [MEMBER_NO],
    "responses": {200: MemberTierDetailSerializer, 404: MEMBER_NOT_FOUND, **COMMON},
    "examples": [
        OpenApiExample(
            "A silver member",
            response_only=True,
            value={
                "member_no": "M0001234",
                "status": "active",
                "current_tier": "silver",
                "qualified_tier": "silver",
                "tier_year_starts_on": "2026-03-01",
                "tier_year_ends_on": "2027-03-01",
                "evaluated_on": "2026-06-30",
                "policy_version": 1,
                "spend": "16799.50",
                "frequency": 7,
                "tenure_years": 2,
                "contribution": 300,
                "explanation": [
                    {
                        "tier": "gold",
                        "held": False,
                        "rule": {
                            "kind": "any",
                            "held": False,
                            "children": [
                                {
                                    "kind": "threshold",
                                    "held": False,
                                    "metric": "spend",
                                    "minimum": "20000.00",
                                    "value": "16799.50",
                                    "shortfall": "3200.50",
                                }
                            ],
                        },
                    }
                ],
                "progress": {
                    "next_tier": "gold",
                    "to_next": [
                        {
                            "shortfalls": [{"metric": "spend", "amount": "3200.50"}],
                            "progress": 0.84,
                        }
                    ],
                    "keeps": True,
                    "to_keep": [{"shortfalls": [], "progress": 1.0}],
                },
            },
        )
    ],
    "tags": ["tiers"],
}
MEMBER_TIER_HISTORY = {
    "summary": "A member's tier history",
    "description": "Every change of the member's current tier, newest first, with its cause "
    "and the figures evaluated; cursor pagination.",
    "parameters": [MEMBER_NO],
    "responses": {
        200: TierChangeSerializer(many=True),
        400: FIELD_ERRORS,
        404: MEMBER_NOT_FOUND,
        **COMMON,
    },
    "tags": ["tiers"],
}
TRANSACTION_CREATE = {
    "summary": "Record a purchase or a refund",
    "description": "Records one transaction and re-evaluates its member at once. Idempotent by "
    "`external_id`: the same id with the same data answers 200 with the stored transaction and "
    "changes nothing; with different data it is a 409. A refund names its purchase's external "
    "id in `refund_of` (a refund cannot be refunded), belongs to the same member, is not "
    "dated before it, and refunds total at most the purchase's amount. External ids are read "
    "as the CSV import reads them (`ＴＸ１` is `TX1`; a space inside or an invisible character "
    "is a 400 under the field).",
    "request": TransactionInSerializer,
    "responses": {
        201: OpenApiResponse(TransactionSerializer, description="Recorded."),
        200: OpenApiResponse(
            TransactionSerializer, description="Already recorded with the same data."
        ),
        400: FIELD_ERRORS,
        404: MEMBER_NOT_FOUND,
        409: CONFLICT,
        **WRITE,
    },
    "examples": [
        OpenApiExample("A purchase", value=PURCHASE_IN, request_only=True),
        OpenApiExample("A refund of part of it", value=REFUND_IN, request_only=True),
        OpenApiExample(
            "Recorded", value=PURCHASE_OUT, response_only=True, status_codes=["201", "200"]
        ),
    ],
    "tags": ["transactions"],
}
TRANSACTION_READ = {
    "summary": "Read a transaction",
    "parameters": [
        OpenApiParameter("external_id", OpenApiTypes.STR, OpenApiParameter.PATH),
    ],
    "responses": {
        200: TransactionSerializer,
        404: _error(
            "No transaction has this external id.", "No transaction has external id T9.", "404"
        ),
        **COMMON,
    },
    "examples": [OpenApiExample("A purchase", value=PURCHASE_OUT, response_only=True)],
    "tags": ["transactions"],
}
BATCH_REFUSED = OpenApiResponse(
    BatchErrorSerializer,
    description="An item was refused (its index, from 0, and why); nothing was written.",
    examples=[
        OpenApiExample(
            "A bad item",
            value={
                "detail": "Item 4 (index 3) was refused; nothing was recorded.",
                "index": 3,
                "errors": {"amount": ['amount "-5" is not positive']},
            },
            status_codes=["400"],
        ),
        OpenApiExample(
            "A conflicting item",
            value={
                "detail": "Item 1 (index 0) was refused; nothing was recorded.",
                "index": 0,
                "errors": {"detail": "External id T1 was already recorded with different data."},
            },
            status_codes=["409"],
        ),
    ],
)
TRANSACTION_BATCH = {
    "summary": "Record up to 1,000 transactions at once",
    "description": "All or nothing: every item is recorded in order (a refund may name a "
    "purchase earlier in the batch), and each member is re-evaluated; if any item is refused, "
    "nothing is written and the answer names the item's index and why. Items already recorded "
    "with the same data count as `already_recorded`. 201 when anything new was recorded, 200 "
    "when everything was already recorded.",
    "request": TransactionBatchSerializer,
    "responses": {
        201: OpenApiResponse(TransactionBatchResultSerializer, description="Recorded."),
        200: OpenApiResponse(
            TransactionBatchResultSerializer, description="Everything was already recorded."
        ),
        400: OpenApiResponse(
            OpenApiTypes.OBJECT,
            description="An item was refused (`index`, `errors`), or the list itself is bad "
            "(empty, more than 1,000, not a list). Nothing was written.",
            examples=BATCH_REFUSED.examples[:1],
        ),
        409: BATCH_REFUSED,
        **WRITE,
    },
    "examples": [
        OpenApiExample(
            "Two transactions", value={"transactions": [PURCHASE_IN, REFUND_IN]}, request_only=True
        ),
    ],
    "tags": ["transactions"],
}
REFERRAL_CREATE = {
    "summary": "Record a referral (老带新)",
    "description": "Member `referrer_no` brought member `referred_no`; dated the day the "
    "referred member registered. A member is referred once; nobody refers themselves; the "
    "referred member joined on or after the referrer; referrals never go round in a circle "
    "(A refers B, B refers A): these refusals are a 400 naming `referred_no`. A referral "
    "dated before the referred member joined, or later than tomorrow, is a 400 naming "
    "`occurred_at`. The same referral again answers 200; another referrer for the same member "
    "is a 409. The referrer is re-evaluated at once.",
    "request": ReferralInSerializer,
    "responses": {
        201: OpenApiResponse(ReferralSerializer, description="Recorded."),
        200: OpenApiResponse(ReferralSerializer, description="Already recorded."),
        400: FIELD_ERRORS,
        404: MEMBER_NOT_FOUND,
        409: CONFLICT,
        **WRITE,
    },
    "examples": [
        OpenApiExample(
            "A referral",
            value={
                "referrer_no": "M0001234",
                "referred_no": "M0009876",
                "occurred_at": "2026-06-30",
            },
            request_only=True,
        ),
    ],
    "tags": ["referrals"],
}
ACTIVITY_CREATE = {
    "summary": "Record an activity participation",
    "description": "Livestream interaction, product review, event attendance ...; the same "
    "(member, activity, moment) again answers 200 and changes nothing. The member is "
    "re-evaluated at once. The activity's name is read as the CSV import reads it "
    "(`（第１场）` is `(第1场)`; an invisible character is a 400 under the field).",
    "request": ActivityInSerializer,
    "responses": {
        201: OpenApiResponse(ActivitySerializer, description="Recorded."),
        200: OpenApiResponse(ActivitySerializer, description="Already recorded."),
        400: FIELD_ERRORS,
        404: MEMBER_NOT_FOUND,
        **WRITE,
    },
    "examples": [
        OpenApiExample(
            "A livestream",
            value={
                "member_no": "M0001234",
                "activity": "直播互动",
                "occurred_at": "2026-06-30T20:00:00+08:00",
            },
            request_only=True,
        ),
    ],
    "tags": ["activities"],
}
