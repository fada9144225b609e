"""``/healthz`` (the process is up, its store not given up on) and ``/readyz`` (ready to search).

``/healthz`` is for liveness: 200 while the process runs and its store is either usable or
being brought back (a Milvus Lite process that `reportrag serve` is restarting), with the
store's state in the body; 503 only when the Lite process will not come back without a
restart of the service (its supervisor failed or is gone). It makes no call to Milvus.
``/readyz`` is for load balancers: 200 only when the model is loaded and Milvus answers with
a loaded collection; 503 with the reason otherwise, and ``Retry-After`` set to the real
wait while the Lite process restarts.
"""

from __future__ import annotations

import os

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from reportrag.api.deps import RuntimeDep
from reportrag.api.errors import NOT_READY, UNHEALTHY, error_response, redactor
from reportrag.api.ops_schemas import HealthOut
from reportrag.api.schemas import ErrorOut

router = APIRouter(tags=["health"])
RETRY_AFTER_S = 5  # when the wait is not known


@router.get(
    "/healthz",
    response_model=HealthOut,
    responses={503: {"model": ErrorOut, "description": "the store will not come back by itself"}},
    summary="The process is up and its store is usable or being restarted "
    "(X-Worker-Pid: which worker answered)",
)
def healthz(
    runtime: RuntimeDep, request: Request, response: Response
) -> HealthOut | JSONResponse:
    pid = str(os.getpid())
    healthy, store = runtime.health()
    store = redactor(request).value(store)  # no server paths or addresses for clients
    if healthy:
        response.headers["X-Worker-Pid"] = pid
        return HealthOut(status="ok", store=store)
    return error_response(503, UNHEALTHY,
                          f"Milvus Lite process is down for good: {store['reason']}",
                          {"store": store}, headers={"X-Worker-Pid": pid})


@router.get(
    "/readyz",
    responses={503: {"model": ErrorOut, "description": "not ready: the reason, and when to retry"}},
    summary="Ready to serve searches (503 with the reason otherwise)",
)
def readyz(runtime: RuntimeDep, request: Request) -> JSONResponse:
    ok, report = runtime.readiness()
    report = redactor(request).value(report)  # no server paths or addresses for clients
    if ok:
        return JSONResponse({"status": "ready", **report})
    retry = report.pop("retry_after_s", RETRY_AFTER_S)
    return error_response(503, NOT_READY, f"not ready: {report.get('milvus') or report['model']}",
                          {**report, "retry_after_s": retry}, headers={"Retry-After": str(retry)})
