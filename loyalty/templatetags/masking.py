"""``{% load masking %}``: ``{{ member.phone|mask_phone }}``, ``{{ member.email|mask_email }}``.

Pages decide whether to mask (the reader lacks ``members.view_member_contact``), e.g.
``{% if perms.members.view_member_contact %}{{ member.phone }}``
``{% else %}{{ member.phone|mask_phone }}{% endif %}``.
"""

from __future__ import annotations

from django import template

from loyalty import masking

register = template.Library()

register.filter("mask_phone", masking.mask_phone, is_safe=True)
register.filter("mask_email", masking.mask_email, is_safe=True)
