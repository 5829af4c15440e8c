"""Every refusal is JSON with a message in the request's language: a domain rule's refusal is
400 (409 when the same identity was already recorded with different data), with the message
under the field at fault when the rule names one; bad fields are 400 with a message per field,
an unknown member is 404."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.views import exception_handler as drf_exception_handler

from loyalty.error_pages import body_too_large
from loyalty.exceptions import ConflictError, DomainError


class Refused(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = _("The request was refused.")
    default_code = "refused"


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("Already recorded with different data.")
    default_code = "conflict"


class BatchItemRefused(APIException):
    """One item of a batch is bad: nothing was written; the body names the item, counted from 1
    in the message, with its index (from 0) in the message and in ``index``."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "batch_item_refused"

    def __init__(self, *, index: int, errors, status_code: int = 400):
        super().__init__()
        self.status_code = status_code
        self.detail = {
            "detail": _("Item %(number)d (index %(index)d) was refused; nothing was recorded.")
            % {"number": index + 1, "index": index},
            "index": index,
            "errors": errors,
        }


class TooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        # Handled here too, so that the answer is JSON with DEBUG on (Django would show its
        # technical page; with DEBUG off, loyalty.error_pages.bad_request answers the same).
        exc = TooLarge(body_too_large())
    elif isinstance(exc, ConflictError):
        exc = Conflict(str(exc))
    elif isinstance(exc, DomainError) and exc.field:
        exc = ValidationError({exc.field: [str(exc)]})
    elif isinstance(exc, DomainError):
        exc = Refused(str(exc))
    return drf_exception_handler(exc, context)
