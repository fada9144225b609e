"""``/healthz`` (process up) and ``/readyz`` (model loaded, Milvus reachable, collection loaded)."""

from __future__ import annotations

import os

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from api.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up (X-Worker-Pid: which worker answered)")
def healthz(response: Response) -> dict[str, str]:
    response.headers["X-Worker-Pid"] = str(os.getpid())
    return {"status": "ok"}


@router.get("/readyz", summary="Ready to serve searches (503 with the reason otherwise)")
def readyz(runtime: RuntimeDep) -> JSONResponse:
    ok, report = runtime.readiness()
    if ok:
        return JSONResponse({"status": "ready", **report})
    return JSONResponse(
        status_code=503,
        headers={"Retry-After": "5"},
        content={
            "error": {
                "code": "not_ready",
                "message": "not ready",
                "details": {**report, "retry_after_s": 5},
            }
        },
    )
