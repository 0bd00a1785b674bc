"""Schemathesis checks for what OpenAPI cannot say about OneBot, and the real IDs that let the
OneBot and Satori cases reach past "not found" (loaded by test/e2e/openapi_test.go through
SCHEMATHESIS_HOOKS).

Every OneBot v12 action is one POST /onebot/v12/, so OpenAPI can only describe the envelope of its
answer (V12Response). Each request schema in its oneOf names its action (x-onebot-action) and the
schema of its data (x-onebot-data); onebot_v12_data checks the data of every ok answer against
the x-onebot-data of the action that was asked for, with $refs resolved in the same document.
"""

import atexit
import collections
import json
import os
import sys
import zlib

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


# How many ok answers of each v12 action were checked, and how many 200 answers each Satori
# method gave (response_schema_conformance checks their bodies); printed at exit for the Go test.
_CHECKED = collections.Counter()
_SATORI_OK = collections.Counter()


@atexit.register
def _report():
    summary = ", ".join("%s=%d" % kv for kv in sorted(_CHECKED.items()))
    print("onebot_v12_data: checked the data of ok answers of %d actions: %s" % (len(_CHECKED), summary), file=sys.stderr)
    summary = ", ".join("%s=%d" % kv for kv in sorted(_SATORI_OK.items()))
    print("satori_ok: ok answers of %d methods: %s" % (len(_SATORI_OK), summary), file=sys.stderr)


@schemathesis.check
def satori_ok(ctx, response, case):
    if case.path.startswith("/satori/v1/") and response.status_code == 200:
        _SATORI_OK[case.path[len("/satori/v1/"):]] += 1
    return None


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
    if not isinstance(action, str) or action not in _DATA_BY_ACTION:
        raise AssertionError("action %r answered ok but the spec does not list it" % (action,))
    _CHECKED[action] += 1
    errors = sorted(_validator(action).iter_errors(answer.get("data")), key=lambda e: list(e.path))
    if errors:
        raise AssertionError(
            "%s: data does not match its x-onebot-data: %s at %s"
            % (action, errors[0].message, "/".join(map(str, errors[0].absolute_path)) or "data")
        )
    return None


# Random IDs only ever reach "not found". So that the answers of actions that succeed are checked
# too, half the cases of the actions below (chosen by a hash of the case, so a run repeats) get
# the IDs of a real room, user and message (ONEBOT_IDS, set by the test). Actions that would
# take the bot out of the room or the user out of it (leave, kick, ban, invites) keep random IDs.
_IDS = json.loads(os.environ.get("ONEBOT_IDS", "{}"))
_V12_REAL = {
    "send_message", "matrix.get_message", "delete_message", "get_user_info", "get_group_info",
    "get_group_member_info", "get_group_member_list", "set_group_name", "matrix.react",
    "matrix.set_typing", "matrix.mark_read", "matrix.get_room_state", "matrix.join_room",
}
_V11_REAL = {
    "send_msg", "send_group_msg", "get_msg", "delete_msg", "get_stranger_info", "get_group_info",
    "get_group_member_info", "get_group_member_list", "set_group_name",
}


# Satori methods that get the real room, user and message in half their cases; those that would
# take the bot or alice out of the room, mute it or answer invites keep random IDs.
_SATORI_REAL = {
    "user.get", "user.channel.create", "guild.get", "channel.get", "channel.list", "guild.member.get",
    "guild.member.list", "message.create", "message.get", "message.list", "message.update",
    "reaction.create", "reaction.list", "reaction.delete", "reaction.clear",
}


def _chosen(case):
    return zlib.crc32(json.dumps(case.body, sort_keys=True, default=str).encode()) % 2 == 0


@schemathesis.hook
def map_case(ctx, case):
    if not _IDS or not isinstance(case.body, dict) or not _chosen(case):
        return case
    if case.path == "/onebot/v12/":
        action, params = case.body.get("action"), case.body.get("params")
        if not isinstance(action, str) or action not in _V12_REAL or not isinstance(params, dict):
            return case
        ids = {"group_id": _IDS["room"], "user_id": _IDS["user"], "message_id": _IDS["event"], "room": _IDS["room"]}
        for key, value in ids.items():
            if key in params:
                params[key] = value
        if action == "send_message":
            params["detail_type"] = "group"
            params["group_id"] = _IDS["room"]
        return case
    action = case.path.rsplit("/", 1)[-1]
    if case.path.startswith("/satori/v1/") and action in _SATORI_REAL:
        ids = {"channel_id": _IDS["room"], "guild_id": _IDS["room"], "user_id": _IDS["user"], "message_id": _IDS["bot_event"]}
        for key, value in ids.items():
            if key in case.body:
                case.body[key] = value
        if case.headers and "Satori-User-ID" in case.headers:
            case.headers["Satori-User-ID"] = _IDS["bot"]
        return case
    if case.path.startswith("/onebot/v11/") and action in _V11_REAL:
        ids = {"group_id": _IDS["v11_group"], "user_id": _IDS["v11_user"], "message_id": _IDS["v11_message"]}
        for key, value in ids.items():
            if key in case.body:
                case.body[key] = value
        if action == "send_msg":
            case.body["message_type"] = "group"
            case.body["group_id"] = _IDS["v11_group"]
    return case
