"""The OpenAPI schema documents the error body the app really sends (found by the fault
suite's schemathesis run: every 422 was documented as FastAPI's `{"detail": [...]}`)."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from tests.apps import make_settings, running


async def test_a_422_is_documented_as_our_error_body_and_validates_against_it(
    data_dir: Path,
) -> None:
    async with running(make_settings(data_dir)) as (_, client):
        schema = (await client.get("/api/openapi.json")).json()
        documented = schema["paths"]["/api/users/register"]["post"]["responses"]["422"]
        ref = documented["content"]["application/json"]["schema"]["$ref"]
        body_schema = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert body_schema["required"] == ["error"]
        assert "ValidationError" not in schema["components"]["schemas"]

        refused = await client.post("/api/users/register", json={"username": 5})
        assert refused.status_code == 422
        jsonschema.validate(refused.json(), body_schema)
        assert refused.json()["error"]["details"]
        with pytest.raises(jsonschema.ValidationError):  # FastAPI's own shape is not ours
            jsonschema.validate({"detail": []}, body_schema)
