"""The copy-paste examples of clients/README.md, run as they are against a quickstart gateway.

Every ```sh or ```python block of the README that follows a `<!-- test: NAME -->` line is run:
`localhost:5000` is replaced by the address of a gateway serving `examples/quickstart.yaml`
(the offline `mock` provider, which answers "You said: <text>"), sh blocks run in bash from the
repository root with the venv's `bin/` (buf, grpcurl) first on PATH, python blocks in this
interpreter. `CHECKS` holds, per block, what its output must show; a tagged block without a
check, a check without a block, and a runnable block with neither a test tag nor a
`<!-- not tested: reason -->` line all fail `test_every_runnable_block_is_checked`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
README = REPO_ROOT / "clients" / "README.md"
QUICKSTART = REPO_ROOT / "examples" / "quickstart.yaml"
VENV_BIN = Path(sys.executable).parent
RUN_TIMEOUT_S = 120
README_ADDRESS = "localhost:5000"

ANSWER = "You said: hello"  # the mock provider's answer to "hello"
NOT_FOUND = "The endpoint 'nope' is not present or active on the server."
# (name, endpoint_type, provider, model) of examples/quickstart.yaml, in order.
ENDPOINTS = [
    ("chat", "llm/v1/chat", "mock", "mock-chat"),
    ("completions", "llm/v1/completions", "mock", "mock-completions"),
    ("embeddings", "llm/v1/embeddings", "mock", "mock-embeddings"),
]
EMBEDDING_DIMENSIONS = 4
RPCS = [
    "llmgateway.v1.ChatService/Chat",
    "llmgateway.v1.ChatService/StreamChat",
    "llmgateway.v1.CompletionsService/Complete",
    "llmgateway.v1.CompletionsService/StreamComplete",
    "llmgateway.v1.EmbeddingsService/Embed",
    "llmgateway.v1.EndpointsService/ListEndpoints",
    "llmgateway.v1.EndpointsService/GetEndpoint",
]


# ---- the README's blocks ----

MARKER = re.compile(r"^<!-- (?:test: (?P<name>[a-z0-9-]+)|not tested: (?P<reason>.+?)) -->$")
FENCE_OPEN = re.compile(r"^```(?P<lang>\S*)\s*$")
RUNNABLE = {"sh", "bash", "shell", "console", "python", "py"}


@dataclass
class Block:
    name: str | None  # None: marked `not tested`
    lang: str
    code: str
    line: int  # 1-based line of the opening fence


def parse_readme(text: str) -> tuple[list[Block], list[str]]:
    """(the fenced blocks with their marker, problems with markers); `name` None if untested."""
    lines = text.splitlines()
    blocks: list[Block] = []
    problems: list[str] = []
    i = 0
    while i < len(lines):
        marker = MARKER.match(lines[i])
        fence = FENCE_OPEN.match(lines[i])
        if marker:
            if i + 1 >= len(lines) or not FENCE_OPEN.match(lines[i + 1]):
                problems.append(f"line {i + 1}: marker not directly followed by a code block")
            i += 1
            continue
        if fence:
            prev = MARKER.match(lines[i - 1]) if i > 0 else None
            end = i + 1
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            if end == len(lines):
                problems.append(f"line {i + 1}: unclosed code block")
            code = "\n".join(lines[i + 1:end]) + "\n"
            lang = fence["lang"]
            if prev is None and lang in RUNNABLE:
                problems.append(
                    f"line {i + 1}: ```{lang} block has neither <!-- test: NAME --> "
                    "nor <!-- not tested: reason -->"
                )
            if prev is not None and prev["name"] and lang not in RUNNABLE:
                problems.append(f"line {i + 1}: tagged block has language {lang!r}, not sh or python")
            if prev is not None:
                blocks.append(Block(prev["name"], lang, code, i + 1))
            i = end + 1
            continue
        i += 1
    return blocks, problems


def tagged_blocks() -> dict[str, Block]:
    blocks, _ = parse_readme(README.read_text())
    return {b.name: b for b in blocks if b.name}


# ---- output helpers ----


def json_values(text: str) -> list:
    """Every JSON value in `text`, one after the other (pretty-printed or not)."""
    decoder = json.JSONDecoder()
    values, pos = [], 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            return values
        value, pos = decoder.raw_decode(text, pos)
        values.append(value)


def snake(value):
    """Keys in snake_case (buf curl and grpcurl print lowerCamelCase proto3 JSON)."""
    if isinstance(value, dict):
        return {re.sub(r"(?<!^)([A-Z])", r"_\1", k).lower(): snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake(v) for v in value]
    return value


def check_chat(resp: dict) -> None:
    resp = snake(resp)
    assert resp["provider"] == "mock" and resp["model"] == "mock-chat", resp
    choice = resp["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": ANSWER}, resp
    assert choice["finish_reason"] == "stop", resp
    assert int(resp["usage"]["total_tokens"]) > 0, resp


def check_completion(resp: dict) -> None:
    resp = snake(resp)
    assert resp["provider"] == "mock" and resp["model"] == "mock-completions", resp
    assert resp["choices"][0]["text"] == ANSWER, resp
    assert resp["choices"][0]["finish_reason"] == "stop", resp


def check_embed(resp: dict, count: int) -> None:
    resp = snake(resp)
    assert resp["provider"] == "mock" and resp["model"] == "mock-embeddings", resp
    assert [e.get("index", 0) for e in resp["data"]] == list(range(count)), resp
    for e in resp["data"]:
        assert len(e["values"]) == EMBEDDING_DIMENSIONS and all(isinstance(v, float) for v in e["values"]), resp


def check_chat_stream(chunks: list[dict]) -> None:
    chunks = snake(chunks)
    assert chunks, "no chat chunk"
    assert {(c["model"], c["provider"]) for c in chunks} == {("mock-chat", "mock")}, chunks
    text = "".join(ch["delta"].get("content", "") for c in chunks for ch in c["choices"])
    assert text == ANSWER, chunks
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop", chunks


def check_completion_stream(chunks: list[dict]) -> None:
    chunks = snake(chunks)
    assert chunks, "no completion chunk"
    assert {(c["model"], c["provider"]) for c in chunks} == {("mock-completions", "mock")}, chunks
    assert "".join(ch.get("text", "") for c in chunks for ch in c["choices"]) == ANSWER, chunks


def endpoint_rows(endpoints: list[dict]) -> list[tuple[str, str, str, str]]:
    endpoints = snake(endpoints)
    return [(e["name"], e["endpoint_type"], e["model"]["provider"], e["model"]["name"]) for e in endpoints]


def check_endpoint(resp: dict, name: str) -> None:
    resp = snake(resp)
    assert endpoint_rows([resp]) == [e for e in ENDPOINTS if e[0] == name], resp
    assert resp["endpoint_url"] == f"/gateway/{name}/invocations", resp


def check_endpoint_list(resp: dict) -> None:
    resp = snake(resp)
    assert endpoint_rows(resp["endpoints"]) == ENDPOINTS, resp
    assert not resp.get("next_page_token"), resp


def check_first_page_of_two(resp: dict) -> None:
    resp = snake(resp)
    assert endpoint_rows(resp["endpoints"]) == ENDPOINTS[:2], resp
    assert resp["next_page_token"], resp


def take_while(values: list, start: int, pred: Callable[[dict], bool]) -> tuple[list, int]:
    end = start
    while end < len(values) and pred(snake(values[end])):
        end += 1
    return values[start:end], end


def is_chat_chunk(v: dict) -> bool:
    return v.get("model") == "mock-chat" and all("delta" in c for c in v.get("choices", []))


def is_completion_value(v: dict) -> bool:
    return v.get("model") == "mock-completions"


def check_every_rpc(values: list) -> None:
    """Chat, StreamChat, Complete, StreamComplete, Embed (2 texts), ListEndpoints, GetEndpoint(chat)."""
    check_chat(values[0])
    chat_chunks, i = take_while(values, 1, is_chat_chunk)
    check_chat_stream(chat_chunks)
    check_completion(values[i])
    completion_chunks, i = take_while(values, i + 1, is_completion_value)
    check_completion_stream(completion_chunks)
    check_embed(values[i], 2)
    check_endpoint_list(values[i + 1])
    check_endpoint(values[i + 2], "chat")
    assert len(values) == i + 3, values[i + 3:]


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def connect_error(value: dict, code: str, message: str) -> None:
    assert value["code"] == code, value
    assert message in value["message"], value


def google_error(value: dict, http: int, status: str, message: str) -> None:
    assert set(value) == {"error"}, value
    err = value["error"]
    assert (err["code"], err["status"]) == (http, status), value
    assert message in err["message"], value


# ---- one check per tagged block: (stdout, stderr) ----


def connect_unary(out: str, err: str) -> None:
    chat, completion, embed = json_values(out)
    check_chat(chat)
    check_completion(completion)
    check_embed(embed, 2)


def connect_endpoints(out: str, err: str) -> None:
    listed, got, got_with_get, page = json_values(out)
    check_endpoint_list(listed)
    check_endpoint(got, "chat")
    check_endpoint(got_with_get, "chat")
    check_first_page_of_two(page)


def connect_stream(out: str, err: str) -> None:
    messages = [json.loads(line) for line in lines(out)]
    # Three streams, each closed by its end-of-stream message: {} twice, then an error.
    ends = [i for i, m in enumerate(messages) if m == {} or set(m) == {"error"}]
    assert len(ends) == 3 and ends[2] == len(messages) - 1, messages
    assert messages[ends[0]] == messages[ends[1]] == {}, messages
    check_chat_stream(messages[:ends[0]])
    check_completion_stream(messages[ends[0] + 1:ends[1]])
    assert ends[2] == ends[1] + 1, "the failed stream sent chunks"
    connect_error(messages[ends[2]]["error"], "not_found", NOT_FOUND)


def connect_errors(out: str, err: str) -> None:
    not_found, s1, bad, s2, wrong_type, s3 = json_values(out)
    assert (s1, s2, s3) == (404, 400, 400)
    connect_error(not_found, "not_found", NOT_FOUND)
    connect_error(bad, "invalid_argument", "temperature")
    connect_error(wrong_type, "invalid_argument", "Endpoint 'chat' is not an embeddings endpoint")


def rest_unary(out: str, err: str) -> None:
    connect_unary(out, err)


def rest_stream(out: str, err: str) -> None:
    assert not [line for line in out.splitlines() if line.startswith("event:")], out  # no error event
    events = [line[len("data:"):].strip() for line in out.splitlines() if line.startswith("data:")]
    chunks = [json.loads(e) for e in events if e.startswith("{")]
    assert len(chunks) == len(events), f"non-JSON events: {events}"
    chat, i = take_while(chunks, 0, is_chat_chunk)
    check_chat_stream(chat)
    check_completion_stream(chunks[i:])


def rest_endpoints(out: str, err: str) -> None:
    listed, page, got = json_values(out)
    check_endpoint_list(listed)
    check_first_page_of_two(page)
    check_endpoint(got, "chat")


def rest_errors(out: str, err: str) -> None:
    values = json_values(out)
    assert values[1::2] == [404, 404, 404, 400], out
    chat_not_found, get_not_found, stream_not_found, bad = values[0::2]
    google_error(chat_not_found, 404, "NOT_FOUND", NOT_FOUND)
    google_error(get_not_found, 404, "NOT_FOUND", NOT_FOUND)
    google_error(stream_not_found, 404, "NOT_FOUND", NOT_FOUND)
    google_error(bad, 400, "INVALID_ARGUMENT", "temperature")


def buf_list(out: str, err: str) -> None:
    names = lines(out)
    services = [n for n in names if "/" not in n]
    methods = [n for n in names if "/" in n]
    assert {s.split("/")[0] for s in RPCS} | {"grpc.health.v1.Health"} <= set(services), names
    assert any(s.startswith("grpc.reflection.") for s in services), names
    assert set(RPCS) | {"grpc.health.v1.Health/Check"} <= set(methods), names


def buf_grpc(out: str, err: str) -> None:
    check_every_rpc(json_values(out))


def buf_grpcweb(out: str, err: str) -> None:
    values = json_values(out)
    check_chat(values[0])
    check_completion_stream(values[1:])


def buf_connect(out: str, err: str) -> None:
    values = json_values(out)
    chunks, i = take_while(values, 0, is_chat_chunk)
    check_chat_stream(chunks)
    embed, endpoint = values[i:]
    check_embed(embed, 1)
    check_endpoint(endpoint, "completions")


def buf_errors(out: str, err: str) -> None:
    assert lines(out) == ["exit code 40", "exit code 24"], out
    not_found, bad = json_values(err)
    connect_error(not_found, "not_found", NOT_FOUND)
    connect_error(bad, "invalid_argument", "messages")


def grpcurl(out: str, err: str) -> None:
    text = out.splitlines()
    describe = text.index("llmgateway.v1.ChatService is a service:")
    services = text[:describe]
    assert {s.split("/")[0] for s in RPCS} | {"grpc.health.v1.Health"} <= set(services), services
    assert any(s.startswith("grpc.reflection.") for s in services), services
    first_json = text.index("{")  # grpcurl pretty-prints each message, "{" alone on a line
    description = "\n".join(text[describe:first_json])
    assert "rpc Chat (" in description and "rpc StreamChat (" in description, description
    check_every_rpc(json_values("\n".join(text[first_json:])))


def grpcurl_errors(out: str, err: str) -> None:
    assert lines(out) == ["exit code 69", "exit code 67"], out
    assert "Code: NotFound" in err and f"Message: {NOT_FOUND}" in err, err
    formatted = json_values(err[err.index("\n{") :])
    assert len(formatted) == 1, err
    assert formatted[0]["code"] == 3 and "messages" in formatted[0]["message"], err


def openai_sdk(out: str, err: str) -> None:
    assert lines(out) == [ANSWER, "mock", ANSWER, ANSWER, f"2 {EMBEDDING_DIMENSIONS}"], out


def openai_errors(out: str, err: str) -> None:
    not_found, bad, wrong_type = lines(out)
    assert not_found.startswith(f"404 {NOT_FOUND}"), out
    assert bad == "422 Input should be less than or equal to 2", out
    assert wrong_type == "400 Endpoint 'chat' is not an embeddings endpoint.", out


def mlflow_deployments(out: str, err: str) -> None:
    got = lines(out)
    # The client makes endpoint_url absolute: http://<the gateway>/gateway/chat/invocations.
    assert re.fullmatch(r"http://[^/]+/gateway/chat/invocations", got[3]), out
    assert got[:3] + got[4:] == [
        *(" ".join(e) for e in ENDPOINTS),
        f"{ANSWER} mock",
        ANSWER,
        f"[{EMBEDDING_DIMENSIONS}, {EMBEDDING_DIMENSIONS}]",
    ], out


def mlflow_errors(out: str, err: str) -> None:
    answers = []
    for line in lines(out):
        status, body = line.split(" ", 1)
        answers.append((int(status), json.loads(body)))
    (s1, get_missing), (s2, predict_missing), (s3, bad) = answers
    assert s1 == 404 and get_missing["detail"].startswith(NOT_FOUND), out
    assert (s2, predict_missing) == (404, {"detail": "Not Found"}), out
    assert s3 == 422 and bad["detail"][0]["loc"] == ["body", "messages"], out


def python_client(out: str, err: str) -> None:
    got = lines(out)
    assert got[:3] == [ANSWER, ANSWER, str([e[0] for e in ENDPOINTS])], out
    assert got[3].startswith(f"NOT_FOUND {NOT_FOUND}"), out
    assert got[4].startswith("INVALID_ARGUMENT ") and "temperature" in got[4], out
    assert len(got) == 5, out


CHECKS: dict[str, Callable[[str, str], None]] = {
    "connect-unary": connect_unary,
    "connect-endpoints": connect_endpoints,
    "connect-stream": connect_stream,
    "connect-errors": connect_errors,
    "rest-unary": rest_unary,
    "rest-stream": rest_stream,
    "rest-endpoints": rest_endpoints,
    "rest-errors": rest_errors,
    "buf-list": buf_list,
    "buf-grpc": buf_grpc,
    "buf-grpcweb": buf_grpcweb,
    "buf-connect": buf_connect,
    "buf-errors": buf_errors,
    "grpcurl": grpcurl,
    "grpcurl-errors": grpcurl_errors,
    "openai": openai_sdk,
    "openai-errors": openai_errors,
    "mlflow": mlflow_deployments,
    "mlflow-errors": mlflow_errors,
    "python-client": python_client,
}


# ---- tests ----


def test_every_runnable_block_is_checked():
    blocks, problems = parse_readme(README.read_text())
    assert not problems, problems
    names = [b.name for b in blocks if b.name]
    assert len(names) == len(set(names)), f"duplicate test names: {names}"
    assert set(names) == set(CHECKS), (
        f"tagged but not checked: {sorted(set(names) - set(CHECKS))}; "
        f"checked but not in the README: {sorted(set(CHECKS) - set(names))}"
    )


def test_parse_readme_rejects_unmarked_and_dangling():
    _, problems = parse_readme("```sh\necho hi\n```\n<!-- test: x -->\ntext\n```json\n{}\n```\n")
    assert len(problems) == 2, problems
    blocks, problems = parse_readme("<!-- test: a -->\n```python\nprint(1)\n```\n")
    assert not problems and [(b.name, b.lang, b.code) for b in blocks] == [("a", "python", "print(1)\n")]


@pytest.fixture(scope="module")
def quickstart(start_gateway):
    """A gateway serving examples/quickstart.yaml, as the README's readers run it."""
    with start_gateway(QUICKSTART.read_text()) as gw:
        yield gw


def run_block(block: Block, address: str) -> subprocess.CompletedProcess:
    assert README_ADDRESS in block.code, f"block {block.name} does not call {README_ADDRESS}"
    code = block.code.replace(README_ADDRESS, address)
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if block.lang == "python":
        argv = [sys.executable, "-c", code]
    else:
        for tool in ("buf", "grpcurl"):
            if re.search(rf"^\s*{tool} ", code, re.M) and not shutil.which(tool, path=str(VENV_BIN)):
                pytest.fail(f"{tool} missing from {VENV_BIN}: install requirements-test.txt", pytrace=False)
        argv = ["bash", "-e", "-o", "pipefail", "-c", code]
    return subprocess.run(
        argv, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=RUN_TIMEOUT_S,
    )


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_readme_example(name, quickstart):
    block = tagged_blocks().get(name)
    assert block is not None, f"no block <!-- test: {name} --> in {README}"
    address = quickstart.url.removeprefix("http://")
    result = run_block(block, address)
    context = (
        f"README block {name!r} (line {block.line}) exited {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    assert result.returncode == 0, context
    try:
        CHECKS[name](result.stdout, result.stderr)
    except Exception as e:
        raise AssertionError(f"{type(e).__name__}: {e}\n{context}") from e
