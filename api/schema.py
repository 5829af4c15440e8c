"""The OpenAPI description of the API key header (drf-spectacular extension)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "`Authorization: Api-Key <key>`. Keys are created by staff (back office, API "
                "keys) or with `manage.py create_api_key`, shown once, and carry scopes."
            ),
        }


# The request bodies' components the API refuses other fields in (``InputSerializer``).
_CLOSED_SUFFIX = "Request"


def request_bodies_closed(result, generator, request, public):
    """drf-spectacular post-processing: say what the serializers enforce and the generated
    components do not. A request body takes no other fields (``additionalProperties: false``),
    and a transaction's ``refund_of`` is required for a refund and empty for a purchase
    (``TransactionInSerializer.validate``)."""
    schemas = result.get("components", {}).get("schemas", {})
    for name, component in schemas.items():
        if name.endswith(_CLOSED_SUFFIX) and component.get("type") == "object":
            component["additionalProperties"] = False
    transaction = schemas.get("TransactionInRequest")
    if transaction is not None:
        transaction["oneOf"] = [
            {
                "properties": {
                    "kind": {"enum": ["purchase"]},
                    "refund_of": {"type": "string", "maxLength": 0, "nullable": True},
                }
            },
            {
                "properties": {
                    "kind": {"enum": ["refund"]},
                    "refund_of": {"type": "string", "minLength": 1},
                },
                "required": ["refund_of"],
            },
        ]
    return result
