"""Masked contact details for staff who may not see them in full (without
``members.view_member_contact``): enough to recognise a number or an address on the phone with
the member, not enough to contact them."""

from __future__ import annotations

MASK = "****"

# Staff without it see phone numbers and e-mail addresses masked, in the admin as everywhere.
CONTACT_PERMISSION = "members.view_member_contact"


def contacts_visible(user) -> bool:
    """Whether ``user`` sees members' phones and e-mails in full (and may search by their
    start)."""
    return user.has_perm(CONTACT_PERMISSION)


def mask_phone(phone: str | None) -> str:
    """``13812348000`` → ``138****8000``: the first three and last four digits stay (the
    carrier prefix and the part people quote), another country's its "+" and three digits
    (``+852****4567``); a short number keeps at most its last two."""
    if not phone:
        return ""
    text = str(phone).strip()
    if text.startswith("+") and not text.startswith("+86") and len(text) >= 9:
        # Another country's number: "+" and the start of its code (+852, +1 415), not "+85".
        return f"{text[:4]}{MASK}{text[-4:]}"
    if len(text) >= 8:
        return f"{text[:3]}{MASK}{text[-4:]}"
    return f"{MASK}{text[-2:]}" if len(text) > 2 else MASK


def mask_email(email: str | None) -> str:
    """``alice@example.com`` → ``a****@example.com``: the first character of the local part
    and the domain stay."""
    if not email:
        return ""
    text = str(email).strip()
    local, at, domain = text.rpartition("@")
    if not at:
        return f"{text[:1]}{MASK}"
    return f"{local[:1]}{MASK}@{domain}"


def mask_contact(snapshot: object) -> object:
    """A snapshot (an audit entry's before or after) with its phone and email masked."""
    if not isinstance(snapshot, dict):
        return snapshot
    return {
        key: mask_phone(value) if key == "phone" else mask_email(value) if key == "email" else value
        for key, value in snapshot.items()
    }
