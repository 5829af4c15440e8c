from __future__ import annotations

import datetime
import hmac

from django.db.models import QuerySet
from django.utils import timezone

from members.models import Member, Transaction
from tiers.models import TierChange
from tiers.selectors import member_history

from .models import ApiKey
from .services import KEY_START, key_digest

# last_used_at is written at most this often per key, not on every request.
LAST_USED_PRECISION = datetime.timedelta(minutes=1)


def api_key_list() -> QuerySet[ApiKey]:
    return ApiKey.objects.select_related("created_by", "revoked_by")


def api_key_for(raw_key: str) -> ApiKey | None:
    """The active key this text is, or None (unknown, malformed or revoked). The digest is
    compared in constant time; the prefix only finds the row."""
    if not raw_key.startswith(KEY_START) or "." not in raw_key or len(raw_key) > 200:
        return None
    prefix = raw_key[len(KEY_START) :].split(".", 1)[0]
    api_key = ApiKey.objects.select_related("user").filter(prefix=prefix).first()
    if api_key is None or not hmac.compare_digest(api_key.key_hash, key_digest(raw_key)):
        return None
    if api_key.revoked_at is not None:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_PRECISION:
        # Bookkeeping, not a domain change: no audit row for it.
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


def members_with_tiers() -> QuerySet[Member]:
    """Members with what tiers holds about them loaded (current tier, last evaluation)."""
    return Member.objects.select_related("tier_state__current_tier", "evaluation__qualified_tier")


def member_with_tier(member_no: str) -> Member:
    """Raises ``Member.DoesNotExist`` for an unknown number (or one no member could have)."""
    if not member_no or len(member_no) > 32 or "\x00" in member_no:
        raise Member.DoesNotExist
    return members_with_tiers().get(member_no=member_no)


def members_by_id(ids) -> dict[int, Member]:
    return {m.pk: m for m in members_with_tiers().filter(pk__in=set(ids))}


def transaction_by_external_id(external_id: str) -> Transaction:
    if not external_id or len(external_id) > 64 or "\x00" in external_id:
        raise Transaction.DoesNotExist
    return Transaction.objects.select_related("member", "refund_of").get(external_id=external_id)


def member_tier_history(member: Member) -> QuerySet[TierChange]:
    return member_history(member).order_by("-id")
