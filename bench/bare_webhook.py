"""The yardstick for the webhook bench: a bare FastAPI endpoint doing only Shopify's HMAC check.

uvicorn bench.bare_webhook:app --workers 2
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

SECRET = os.environ.get("SHOPIFY_WEBHOOK_SECRETS", "bench-secret").split(",")[0].encode()
app = FastAPI(docs_url=None, redoc_url=None)


@app.post("/webhooks/shopify")
async def receive(request: Request) -> JSONResponse:
    body = await request.body()
    expected = base64.b64encode(hmac.new(SECRET, body, hashlib.sha256).digest())
    given = request.headers.get("x-shopify-hmac-sha256", "").encode()
    if not hmac.compare_digest(expected, given):
        return JSONResponse({"detail": "wrong signature"}, status_code=401)
    return JSONResponse({"id": None, "duplicate": False})
