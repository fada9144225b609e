"""Schemathesis hooks for the API fuzz run (loaded via SCHEMATHESIS_HOOKS=tests.fuzz_hooks).

- ``error_shape``: every 4xx/5xx body is ``{"error": {"code", "message", "details"}}``.
- ``filter_failure``: "schema-valid request rejected" is accepted only for the rules that a
  JSON schema cannot state and that docs/operations.md documents, each matched exactly:
  a query over the model's token limit (422 ``token_limit``), ``date_from`` after
  ``date_to`` (422 ``bad_filter``), a body over REPORTRAG_MAX_BODY_BYTES (413), a metadata
  filter or facet naming a key the collection's documents do not declare, or the wrong type
  for it (422 ``bad_filter`` with ``details.field`` ``metadata`` / ``facets``), and an upload
  whose file is not a readable document of a supported type (415, 413 ``too_large``, 422
  ``invalid_input`` / ``bad_document`` / ``no_text_layer``, 409 ``conflict`` for a taken id),
  which depends on the file's name and bytes. Every other check keeps its full strength.
"""

from __future__ import annotations

import json
import os

import schemathesis
from schemathesis.core.failures import Failure

MAX_BODY_BYTES = int(os.environ.get("FUZZ_MAX_BODY_BYTES", str(64 * 1024)))
ERROR_CODE_CHARS = set("abcdefghijklmnopqrstuvwxyz_")


def _error(response) -> dict | None:
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    err = body.get("error") if isinstance(body, dict) else None
    return err if isinstance(err, dict) else None


@schemathesis.check
def error_shape(ctx, response, case) -> bool | None:
    """A 4xx/5xx answers in the one documented error shape."""
    if response.status_code < 400:
        return None
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise AssertionError(f"{response.status_code} body is not JSON") from exc
    path = case.operation.path
    if response.status_code in (405, 413):  # answered before any route: our form
        path = ""
    if path == "/retrieval":  # Dify's external knowledge API has its own form
        assert isinstance(body, dict) and set(body) == {"error_code", "error_msg"}, body
        assert isinstance(body["error_code"], int) and body["error_msg"], body
        return True
    if path.startswith("/v1/vector_stores"):  # OpenAI's form
        assert isinstance(body, dict) and set(body) == {"error"}, body
        assert set(body["error"]) == {"message", "type", "param", "code"}, body
        assert body["error"]["message"] and body["error"]["type"], body
        return True
    assert isinstance(body, dict) and set(body) == {"error"}, f"not the error shape: {body!r}"
    err = body["error"]
    assert isinstance(err, dict) and set(err) == {"code", "message", "details", "request_id"}, err
    header = response.headers.get("x-request-id")  # schemathesis: a list of values
    assert [err["request_id"]] == (header if isinstance(header, list) else [header]), err
    assert isinstance(err["code"], str) and err["code"] and set(err["code"]) <= ERROR_CODE_CHARS
    assert isinstance(err["message"], str) and err["message"], err
    assert isinstance(err["details"], dict), err
    assert "Traceback" not in response.text
    return True


# What a schema cannot say about the integrations' filters and queries (docs/integrations.md):
# an `or` across attributes, a query over the model's token limit.
_INTEGRATION_REJECTIONS = ("'or' can only join", "query is ")


def _integration_rejection(case, response) -> bool | None:
    """None for our own routes; whether a Dify / OpenAI route's rejection is documented."""
    path = case.operation.path
    if path != "/retrieval" and not path.startswith("/v1/vector_stores"):
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        return False
    if path == "/retrieval":
        message = body.get("error_msg", "")
        token = "tokens; the model takes at most" in message
    else:
        err = body.get("error") or {}
        message, token = err.get("message", ""), err.get("code") == "token_limit"
    if response.status_code == 404:  # an unknown knowledge id / store id
        return True
    return response.status_code in (400, 422) and (
        token or message.startswith(_INTEGRATION_REJECTIONS))


_UPLOAD_REJECTIONS = {
    409: {"conflict"},
    413: {"too_large", "payload_too_large"},
    415: {"unsupported_media_type"},
    422: {"invalid_input", "bad_document", "no_text_layer"},
}


def _documented_rejection(case, response) -> bool:
    integration = _integration_rejection(case, response)
    if integration is not None:
        return integration
    err = _error(response)
    if case.operation.path.startswith("/v1/documents") and case.method.upper() in ("POST", "PUT"):
        return err is not None and err.get("code") in _UPLOAD_REJECTIONS.get(
            response.status_code, set())
    if (response.status_code == 422 and err is not None and err.get("code") == "bad_filter"
            and (err.get("details") or {}).get("field") in ("metadata", "facets")):
        return True
    if response.status_code == 413:
        sent = response.request.body or b""
        return len(sent.encode() if isinstance(sent, str) else sent) > MAX_BODY_BYTES
    if response.status_code != 422 or err is None:
        return False
    if err.get("code") == "token_limit":
        return True
    return err.get("code") == "bad_filter" and err.get("message") == "date_from is after date_to"


@schemathesis.hook
def filter_failure(context, failure: Failure, case, response) -> bool:
    """Keep every failure except a positive-data rejection the docs list as intended."""
    if type(failure).__name__ == "RejectedPositiveData":
        return not _documented_rejection(case, response)
    return True
