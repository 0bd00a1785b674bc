"""Schemathesis checks for what OpenAPI cannot say about OneBot (loaded by test/e2e/openapi_test.go
through SCHEMATHESIS_HOOKS).

Every OneBot v12 action is one POST /onebot/v12/, so OpenAPI can only describe the envelope of its
answer (V12Response). Each request schema in its oneOf names its action (x-onebot-action) and the
schema of its data (x-onebot-data); onebot_v12_data checks the data of every ok answer against
the x-onebot-data of the action that was asked for, with $refs resolved in the same document.
"""

import json
import os

import jsonschema
import referencing
import referencing.jsonschema
import schemathesis
import yaml

with open(os.environ["ONEBOT_OPENAPI_SPEC"], encoding="utf-8") as f:
    _SPEC = yaml.safe_load(f)

_REGISTRY = referencing.Registry().with_resource(
    "urn:onebot-spec", referencing.jsonschema.DRAFT202012.create_resource(_SPEC)
)

_DATA_BY_ACTION = {}
for _name, _schema in _SPEC["components"]["schemas"].items():
    if "x-onebot-action" in _schema:
        _DATA_BY_ACTION[_schema["x-onebot-action"]] = _name


def _validator(action):
    ref = "urn:onebot-spec#/components/schemas/%s/x-onebot-data" % _DATA_BY_ACTION[action]
    return jsonschema.Draft202012Validator({"$ref": ref}, registry=_REGISTRY)


@schemathesis.check
def onebot_v12_data(ctx, response, case):
    if case.method.upper() != "POST" or case.path != "/onebot/v12/":
        return None
    if not isinstance(case.body, dict):
        return None
    try:
        answer = json.loads(response.content)
    except ValueError:
        return None  # response_schema_conformance reports a body that is not JSON
    if not isinstance(answer, dict) or answer.get("status") != "ok":
        return None
    action = case.body.get("action")
    if action not in _DATA_BY_ACTION:
        raise AssertionError("action %r answered ok but the spec does not list it" % (action,))
    errors = sorted(_validator(action).iter_errors(answer.get("data")), key=lambda e: list(e.path))
    if errors:
        raise AssertionError(
            "%s: data does not match its x-onebot-data: %s at %s"
            % (action, errors[0].message, "/".join(map(str, errors[0].absolute_path)) or "data")
        )
    return None
