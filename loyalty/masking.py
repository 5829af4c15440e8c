"""Masking of members' contact details for staff who do not need them (PIPL: the least
personal data each role needs). Pages and exports show ``mask_phone`` / ``mask_email`` unless the
user has ``members.view_member_contact``."""

from __future__ import annotations

MASK = "****"


def mask_phone(phone: str | None) -> str:
    """``13812348000`` → ``138****8000``: the carrier prefix and the last four digits stay, so
    staff can still match a caller; a number too short to mask keeps only its last digit."""
    if not phone:
        return ""
    phone = str(phone)
    if len(phone) >= 8:
        return f"{phone[:3]}{MASK}{phone[-4:]}"
    return f"{MASK}{phone[-1:]}"


def mask_email(email: str | None) -> str:
    """``chen.jing@example.com`` → ``c****@example.com``: the domain stays (it says which
    provider), the mailbox keeps its first character."""
    if not email:
        return ""
    email = str(email)
    local, at, domain = email.rpartition("@")
    if not at:
        return f"{email[:1]}{MASK}"
    return f"{local[:1]}{MASK}@{domain}"
