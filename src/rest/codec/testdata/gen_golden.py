"""Regenerates golden_422.tsv: what FastAPI + pydantic answer for each body in cases.tsv.

Run with a Python that has fastapi and pydantic v2 installed:
    python3 gen_golden.py < cases.tsv > golden.tsv
mlflow_models.py restates MLflow 3.x's gateway request models (mlflow/types/chat.py and
mlflow/gateway/schemas/*), so the goldens can be regenerated without installing MLflow.
Each output line is: kind, body, status, response body (tab-separated).
"""
import asyncio
import sys

from fastapi import FastAPI

from mlflow_models import ChatPayload, CompletionsPayload, EmbeddingsPayload

app = FastAPI()


@app.post("/chat")
async def chat(payload: ChatPayload):
    return {}


@app.post("/completion")
async def completion(payload: CompletionsPayload):
    return {}


@app.post("/embed")
async def embed(payload: EmbeddingsPayload):
    return {}


async def call(path: str, body: bytes):
    scope = {
        "type": "http", "method": "POST", "path": path, "raw_path": path.encode(),
        "query_string": b"", "headers": [(b"content-type", b"application/json")],
        "http_version": "1.1", "scheme": "http", "server": ("t", 80), "client": ("c", 1),
        "root_path": "", "app": app,
    }
    done = False

    async def receive():
        nonlocal done
        if not done:
            done = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    out = {"status": None, "body": b""}

    async def send(msg):
        if msg["type"] == "http.response.start":
            out["status"] = msg["status"]
        elif msg["type"] == "http.response.body":
            out["body"] += msg.get("body", b"")

    await app(scope, receive, send)
    return out["status"], out["body"].decode()


for line in sys.stdin:
    line = line.rstrip("\n")
    if not line or line.startswith("#"):
        continue
    kind, body = line.split("\t", 1)
    status, resp = asyncio.run(call("/" + kind, body.encode()))
    print(f"{kind}\t{body}\t{status}\t{resp}")
