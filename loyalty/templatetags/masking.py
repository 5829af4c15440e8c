"""``{{ member.phone|mask_phone }}`` and ``{{ member.email|mask_email }}``."""

from __future__ import annotations

from django import template

from loyalty import masking

register = template.Library()

register.filter("mask_phone", masking.mask_phone)
register.filter("mask_email", masking.mask_email)
