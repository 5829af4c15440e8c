from __future__ import annotations

import datetime
import hmac

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from loyalty import rows
from members.models import Member, Transaction
from tiers.models import MemberEvaluation, MemberTier, Tier, TierChange
from tiers.selectors import member_history

from .models import ApiKey
from .services import KEY_START, key_digest

# last_used_at is written at most this often per key, not on every request.
LAST_USED_PRECISION = datetime.timedelta(minutes=1)


def api_key_list() -> QuerySet[ApiKey]:
    return ApiKey.objects.select_related("created_by", "revoked_by")


def api_key_for(raw_key: str) -> ApiKey | None:
    """The active key this text is, or None (unknown, malformed or revoked). The digest is
    compared in constant time; the prefix only finds the row. The key and its account are read
    in one plain statement: it runs before every request of a client system."""
    if not raw_key.startswith(KEY_START) or "." not in raw_key or len(raw_key) > 200:
        return None
    prefix = raw_key[len(KEY_START) :].split(".", 1)[0]
    user_model = get_user_model()
    qn = connection.ops.quote_name
    with rows.hot_cursor() as cursor:
        cursor.execute(
            f"SELECT {rows.columns(ApiKey, 'k')}, {rows.columns(user_model, 'u')} "
            f"FROM {qn(ApiKey._meta.db_table)} k JOIN {qn(user_model._meta.db_table)} u "
            f"ON u.{qn(user_model._meta.pk.column)} = k.user_id WHERE k.prefix = %s",
            [prefix],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    api_key = rows.instance(ApiKey, row[: rows.width(ApiKey)])
    if not hmac.compare_digest(api_key.key_hash, key_digest(raw_key)):
        return None
    if api_key.revoked_at is not None:
        return None
    api_key.user = rows.instance(user_model, row[rows.width(ApiKey) :])
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_PRECISION:
        # Bookkeeping, not a domain change: no audit row for it.
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


def members_with_tiers() -> QuerySet[Member]:
    """Members with what tiers holds about them loaded (current tier, last evaluation)."""
    return Member.objects.select_related("tier_state__current_tier", "evaluation__qualified_tier")


def _plausible_member_no(member_no: str) -> bool:
    return bool(member_no) and len(member_no) <= 32 and "\x00" not in member_no


def member_with_tier(member_no: str) -> Member:
    """Raises ``Member.DoesNotExist`` for an unknown number (or one no member could have)."""
    if not _plausible_member_no(member_no):
        raise Member.DoesNotExist
    return members_with_tiers().get(member_no=member_no)


def member_by_no(member_no: str, *, lock: bool = False) -> Member:
    """The member alone, without what tiers holds (a write answers from a read after it), in
    one plain statement. Raises ``Member.DoesNotExist`` for an unknown number. ``lock``: the
    same statement takes the member's row lock (inside the writer's transaction), the one
    every writer of the member's facts and tier takes first."""
    if not _plausible_member_no(member_no):
        raise Member.DoesNotExist
    for_update = " FOR UPDATE" if lock and connection.features.has_select_for_update else ""
    with rows.hot_cursor() as cursor:
        cursor.execute(
            f"SELECT {rows.columns(Member, 'm')} "
            f"FROM {connection.ops.quote_name(Member._meta.db_table)} m "
            f"WHERE m.member_no = %s{for_update}",
            [member_no],
        )
        row = cursor.fetchone()
    if row is None:
        raise Member.DoesNotExist
    return rows.instance(Member, row)


def member_tiers_by_id(ids) -> dict[int, dict]:
    """For each member id: the member's number, status, current tier code, tier-year end and
    qualified tier code (None where tiers holds nothing), in one plain statement: what a
    write's answer shows of the member after it."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    qn = connection.ops.quote_name
    with rows.hot_cursor() as cursor:
        cursor.execute(
            "SELECT m.id, m.member_no, m.status, c.code, t.tier_year_end, q.code "
            f"FROM {qn(Member._meta.db_table)} m "
            f"LEFT JOIN {qn(MemberTier._meta.db_table)} t ON t.member_id = m.id "
            f"LEFT JOIN {qn(Tier._meta.db_table)} c ON c.id = t.current_tier_id "
            f"LEFT JOIN {qn(MemberEvaluation._meta.db_table)} e ON e.member_id = m.id "
            f"LEFT JOIN {qn(Tier._meta.db_table)} q ON q.id = e.qualified_tier_id "
            f"WHERE m.id IN ({', '.join(['%s'] * len(ids))})",
            ids,
        )
        return {
            member_id: {
                "member_no": member_no,
                "status": status,
                "current_tier": current,
                "tier_year_end": year_end,
                "qualified_tier": qualified,
            }
            for member_id, member_no, status, current, year_end, qualified in cursor.fetchall()
        }


def transaction_by_external_id(external_id: str) -> Transaction:
    if not external_id or len(external_id) > 64 or "\x00" in external_id:
        raise Transaction.DoesNotExist
    return Transaction.objects.select_related("member", "refund_of").get(external_id=external_id)


def member_tier_history(member: Member) -> QuerySet[TierChange]:
    return member_history(member).order_by("-id")
