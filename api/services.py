"""The writers of the API: API keys (created with the key returned once, never stored; revoked;
both audited) and batches of transactions. Reading a key back from a request is
``selectors.api_key_for``; single writes call ``tiers.actions`` directly."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.audit import audit_record
from loyalty.exceptions import DomainError
from members import services as facts
from members.models import Member, Transaction
from tiers.services import member_evaluate

from .models import ApiKey, Scope

KEY_START = "lk_"
PREFIX_BYTES = 4  # 8 hex characters: a lookup handle, not a secret
SECRET_BYTES = 32  # 256 bits of randomness: a digest without a salt is safe at this entropy


def key_digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def parse_scopes(names: list[str] | str) -> list[str]:
    """Scope names (or ``all``) as a sorted list; an unknown name is refused with its name."""
    if isinstance(names, str):
        names = [n for n in names.replace(",", " ").split() if n]
    wanted: set[str] = set()
    for name in names:
        if name == "all":
            wanted.update(Scope.values)
        elif name in Scope.values:
            wanted.add(name)
        else:
            raise DomainError(
                _("Unknown scope %(name)s; the scopes are: %(all)s, or all.")
                % {"name": name, "all": ", ".join(Scope.values)}
            )
    if not wanted:
        raise DomainError(_("Choose at least one scope."))
    return sorted(wanted)


@transaction.atomic
def api_key_create(
    *,
    name: str,
    scopes: list[str] | str,
    requests_per_minute: int | None = None,
    actor=None,
) -> tuple[ApiKey, str]:
    """A new key for a client system; returns (the row, the key). The key is shown once: only
    its SHA-256 digest is kept, so it cannot be shown again, only revoked and replaced."""
    name = name.strip()
    if not name:
        raise DomainError(_("A name is required."))
    scopes = parse_scopes(scopes)
    rate = requests_per_minute or settings.API_KEY_DEFAULT_RATE
    if rate < 1:
        raise DomainError(_("The rate must be at least one request per minute."))
    prefix = secrets.token_hex(PREFIX_BYTES)
    while ApiKey.objects.filter(prefix=prefix).exists():
        prefix = secrets.token_hex(PREFIX_BYTES)
    raw_key = f"{KEY_START}{prefix}.{secrets.token_urlsafe(SECRET_BYTES)}"
    account = get_user_model().objects.create_user(username=f"api-{prefix}", first_name=name[:150])
    account.set_unusable_password()
    account.save(update_fields=["password"])
    api_key = ApiKey.objects.create(
        name=name,
        prefix=prefix,
        key_hash=key_digest(raw_key),
        scopes=scopes,
        requests_per_minute=rate,
        user=account,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    audit_record(
        actor=actor,
        action="api_key.create",
        target=api_key,
        after={"name": name, "prefix": prefix, "scopes": scopes, "requests_per_minute": rate},
    )
    return api_key, raw_key


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, reason: str, actor) -> ApiKey:
    """Refuse the key from now on (at once, on every worker: each request reads the row)."""
    api_key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    reason = reason.strip()
    if not reason:
        raise DomainError(_("A reason is required."))
    if api_key.revoked_at is not None:
        raise DomainError(_("This API key is already revoked."))
    api_key.revoked_at = timezone.now()
    api_key.revoked_by = actor if getattr(actor, "pk", None) else None
    api_key.revoke_reason = reason
    api_key.save(update_fields=["revoked_at", "revoked_by", "revoke_reason"])
    audit_record(
        actor=actor,
        action="api_key.revoke",
        target=api_key,
        before={"revoked_at": None},
        after={"revoked_at": api_key.revoked_at.isoformat(), "reason": reason},
    )
    return api_key


class BatchItemError(Exception):
    """Item ``index`` of a batch was refused by ``error``; nothing of the batch was written."""

    def __init__(self, index: int, error: DomainError):
        super().__init__(str(error))
        self.index = index
        self.error = error


_SAME_TRANSACTION = ("member_no", "kind", "amount", "occurred_at", "refund_of")


def _repeated_with_other_data(items: list[dict]) -> None:
    """An external id given twice in one batch must carry the same data both times (then the
    second is a repeat); otherwise the batch contradicts itself, which is a bad request, not a
    conflict with anything recorded."""
    first_seen: dict[str, int] = {}
    for index, item in enumerate(items):
        external_id = item["external_id"].strip()
        earlier = first_seen.setdefault(external_id, index)
        if earlier != index and any(items[earlier][key] != item[key] for key in _SAME_TRANSACTION):
            raise BatchItemError(
                index,
                DomainError(
                    _(
                        "External id %(id)s was already given to item %(number)d (index "
                        "%(index)d) of this batch, with different data."
                    )
                    % {"id": external_id, "number": earlier + 1, "index": earlier},
                    field="external_id",
                ),
            )


@transaction.atomic
def transactions_record_batch(
    *, items: list[dict], members: dict[str, Member], actor=None
) -> list[tuple[Transaction, bool]]:
    """Record transactions, purchases before refunds (a refund may name a purchase anywhere in
    the batch, as in an import file), all or nothing, then evaluate each member with something
    new once, in the same transaction: the same end state as recording them one by one with
    ``tiers.actions.transaction_record``, at a third of the queries. Items are dicts of
    ``transaction_create``'s arguments plus ``member_no``; ``members`` maps every item's
    member number to its member. An external id repeated within the batch with other data
    refuses the batch before anything is done."""
    _repeated_with_other_data(items)
    # Every member of the batch locked up front (in one order).
    facts.member_lock_many(m.pk for m in members.values())
    recorded: list = [None] * len(items)  # in the items' order
    changed: dict[int, Member] = {}
    purchases_first = sorted(
        range(len(items)), key=lambda i: items[i]["kind"] == Transaction.Kind.REFUND
    )
    for index in purchases_first:
        item = items[index]
        member = members[item["member_no"]]
        try:
            txn, created = facts.transaction_create(
                locked=True,  # the whole batch's members, above
                member=member,
                external_id=item["external_id"],
                kind=item["kind"],
                amount=item["amount"],
                occurred_at=item["occurred_at"],
                refund_of=item["refund_of"],
                actor=actor,
            )
        except DomainError as exc:
            raise BatchItemError(index, exc) from None
        recorded[index] = (txn, created)
        if created:
            changed[member.pk] = member
    today = timezone.localdate()
    for member in changed.values():
        member_evaluate(member=member, as_of=today, actor=actor)
    return recorded
