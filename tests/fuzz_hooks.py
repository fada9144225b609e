"""Schemathesis hooks for the API fuzz run (loaded via SCHEMATHESIS_HOOKS=tests.fuzz_hooks).

- ``error_shape``: every 4xx/5xx body is ``{"error": {"code", "message", "details"}}``.
- ``filter_failure``: "schema-valid request rejected" is accepted only for the rules that a
  JSON schema cannot state and that docs/operations.md documents, each matched exactly:
  a query over the model's token limit (422 ``token_limit``), ``date_from`` after
  ``date_to`` (422 ``bad_filter``) and a body over REPORTRAG_MAX_BODY_BYTES (413). Every
  other check keeps its full strength.
"""

from __future__ import annotations

import json
import os

import schemathesis
from schemathesis.core.failures import Failure

MAX_BODY_BYTES = int(os.environ.get("FUZZ_MAX_BODY_BYTES", str(64 * 1024)))
ERROR_CODE_CHARS = set("abcdefghijklmnopqrstuvwxyz_")


def _error(response) -> dict | None:  # noqa: ANN001
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    err = body.get("error") if isinstance(body, dict) else None
    return err if isinstance(err, dict) else None


@schemathesis.check
def error_shape(ctx, response, case) -> bool | None:  # noqa: ANN001
    """A 4xx/5xx answers in the one documented error shape."""
    if response.status_code < 400:
        return None
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise AssertionError(f"{response.status_code} body is not JSON") from exc
    assert isinstance(body, dict) and set(body) == {"error"}, f"not the error shape: {body!r}"
    err = body["error"]
    assert isinstance(err, dict) and set(err) == {"code", "message", "details", "request_id"}, err
    assert err["request_id"] == response.headers.get("x-request-id"), err
    assert isinstance(err["code"], str) and err["code"] and set(err["code"]) <= ERROR_CODE_CHARS
    assert isinstance(err["message"], str) and err["message"], err
    assert isinstance(err["details"], dict), err
    assert "Traceback" not in response.text
    return True


def _documented_rejection(case, response) -> bool:  # noqa: ANN001
    err = _error(response)
    if response.status_code == 413:
        sent = response.request.body or b""
        return len(sent.encode() if isinstance(sent, str) else sent) > MAX_BODY_BYTES
    if response.status_code != 422 or err is None:
        return False
    if err.get("code") == "token_limit":
        return True
    return err.get("code") == "bad_filter" and err.get("message") == "date_from is after date_to"


@schemathesis.hook
def filter_failure(context, failure: Failure, case, response) -> bool:  # noqa: ANN001
    """Keep every failure except a positive-data rejection the docs list as intended."""
    if type(failure).__name__ == "RejectedPositiveData":
        return not _documented_rejection(case, response)
    return True
