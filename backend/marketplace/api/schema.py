"""Post-processing of the OpenAPI document (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"])."""

from __future__ import annotations

from typing import Any

# Polymorphic components without a discriminator. The role profiles are open objects that share
# most fields, so a mentor's profile also satisfies the entrepreneur's schema: "oneOf" (exactly
# one) is false for them, "anyOf" is what the API guarantees. Found by the API fuzz test.
ANY_OF_COMPONENTS = ("RoleProfile", "RoleProfileRequest")


def polymorphic_any_of(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    schemas = result.get("components", {}).get("schemas", {})
    for name in ANY_OF_COMPONENTS:
        component = schemas.get(name)
        if component is not None and "oneOf" in component:
            component["anyOf"] = component.pop("oneOf")
    return result
