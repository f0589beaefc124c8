"""`python -m fly.sse_gateway` (PORT, default 8080)."""

import os

import uvicorn

if __name__ == "__main__":
    uvicorn.run("fly.sse_gateway.app:app", host=os.environ.get("HOST", "0.0.0.0"), port=int(os.environ.get("PORT", 8080)),
                log_level="warning", proxy_headers=False)
