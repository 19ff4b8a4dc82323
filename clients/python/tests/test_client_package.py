"""The installable `llm_gateway_client` package (clients/python) against live gateways.

scripts/test.sh installs the package into the test venv (editable, from this tree); these tests
check that install, that the checked-in stubs match a fresh `generate.py` run on proto/, that a
wheel ships the stubs and typing markers, and then call every method of `GatewayClient`
against the session gateway (plain-text gRPC), a second gateway with API keys and a slow model,
and a third serving TLS.
"""

from __future__ import annotations

import datetime
import filecmp
import importlib.metadata
import importlib.util
import ipaddress
import json
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import grpc
import pytest

import llm_gateway_client as lgc
from llm_gateway_client import GatewayClient, GatewayError
from llm_gateway_client.pb import chat_pb2

CLIENT_DIR = Path(__file__).resolve().parents[1]
PACKAGE_DIR = CLIENT_DIR / "src" / "llm_gateway_client"
RPC_TIMEOUT_S = 30
NO_PROXY = [("grpc.enable_http_proxy", 0)]
HI = [{"role": "user", "content": "hi"}]

# The API keys of the access-controlled gateway (literal keys, >= 16 characters).
FULL_KEY = "sk-gw-full-0123456789abcdef"
CHAT_ONLY_KEY = "sk-gw-chat-only-0123456789"


def _load_generator():
    spec = importlib.util.spec_from_file_location("llm_gateway_generate", CLIENT_DIR / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _files(root: Path) -> set[str]:
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def client(gateway):
    with GatewayClient(gateway.grpc_target, timeout=RPC_TIMEOUT_S, options=NO_PROXY) as c:
        c.wait_for_ready(RPC_TIMEOUT_S)
        yield c


# ---- packaging ----


def test_installed_package_is_this_tree():
    assert importlib.metadata.version("llm-gateway-client") == lgc.__version__
    # scripts/test.sh installs it editable; a venv pointing at another checkout would test that.
    assert Path(lgc.__file__).resolve().is_relative_to(PACKAGE_DIR), lgc.__file__
    requires = importlib.metadata.requires("llm-gateway-client") or []
    assert any(r.startswith("grpcio") for r in requires), requires
    assert any(r.startswith("protobuf") for r in requires), requires


def test_checked_in_stubs_match_proto(tmp_path, proto_dir):
    generated = _load_generator().generate(tmp_path, proto_dir)
    checked_in = PACKAGE_DIR / "_pb"
    new, old = _files(generated), _files(checked_in)
    assert new == old, (
        f"stub files differ (only fresh: {sorted(new - old)}, only checked in: {sorted(old - new)}): "
        "run `python clients/python/generate.py`"
    )
    _, mismatch, errors = filecmp.cmpfiles(generated, checked_in, sorted(new), shallow=False)
    assert not mismatch and not errors, (
        f"stale stubs {mismatch + errors}: run `python clients/python/generate.py`"
    )
    for name in ("chat_pb2.py", "chat_pb2.pyi", "chat_pb2_grpc.py"):
        text = (checked_in / "llmgateway" / "v1" / name).read_text()
        assert "from llmgateway" not in text, f"{name} keeps an absolute import"


def test_wheel_ships_stubs_and_typing_markers(tmp_path):
    # Built from a copy, so setuptools leaves no build/ or egg-info in the work tree.
    src = tmp_path / "src-copy"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(CLIENT_DIR / name, src / name)
    shutil.copytree(
        CLIENT_DIR / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    out = tmp_path / "wheels"
    run = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--no-index", "-q", "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    (wheel,) = out.glob("llm_gateway_client-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "llm_gateway_client/py.typed",
        "llm_gateway_client/client.py",
        "llm_gateway_client/_pb/__init__.py",
        "llm_gateway_client/_pb/llmgateway/v1/__init__.py",
        "llm_gateway_client/_pb/llmgateway/v1/chat_pb2.py",
        "llm_gateway_client/_pb/llmgateway/v1/chat_pb2.pyi",
        "llm_gateway_client/_pb/llmgateway/v1/chat_pb2_grpc.py",
        "llm_gateway_client/_pb/llmgateway/v1/endpoints_pb2_grpc.py",
    ):
        assert expected in names, f"{expected} missing from {wheel.name}: {sorted(names)}"


# ---- every method ----


def test_chat(client, gateway):
    gateway.clear_mock_requests()
    resp = client.chat("chat", HI, temperature=0.2, max_tokens=20, stop="END")
    assert isinstance(resp, lgc.ChatResponse)
    assert (resp.provider, resp.model, resp.id) == ("openai", "gpt-4o-mini", "chatcmpl-mock")
    (choice,) = resp.choices
    assert (choice.message.role, choice.message.content, choice.finish_reason) == (
        "assistant", "Hello from mock", "stop"
    )
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (9, 3, 12)
    (sent,) = [r for r in gateway.mock_requests() if r["path_and_query"].startswith("/v1/chat")]
    body = sent["body"] if isinstance(sent["body"], dict) else json.loads(sent["body"])
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert (body["temperature"], body["max_tokens"], body["stop"]) == (0.2, 20, ["END"])


def test_chat_with_proto_messages_tools_and_extra_params(client, gateway):
    gateway.clear_mock_requests()
    resp = client.chat(
        "chat",
        [
            lgc.Message(role="system", content="be brief"),
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
        ],
        tools=[{
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }],
        tool_choice="auto",
        extra_params={"seed": 7},
    )
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city": "Paris"}')
    (sent,) = [r for r in gateway.mock_requests() if r["path_and_query"].startswith("/v1/chat")]
    body = sent["body"] if isinstance(sent["body"], dict) else json.loads(sent["body"])
    assert body["messages"][0] == {"role": "system", "content": "be brief"}
    assert body["tools"][0]["function"]["name"] == "get_weather"
    assert (body["tool_choice"], body["seed"]) == ("auto", 7)


def test_chat_on_mock_provider(client):
    resp = client.chat("limited", [{"role": "user", "content": "typed client"}])
    assert resp.choices[0].message.content == "You said: typed client"
    assert resp.provider == "mock"


def test_stream_chat(client):
    chunks = list(client.stream_chat("chat", HI, include_usage=True))
    assert len(chunks) >= 3, chunks
    assert all(isinstance(c, lgc.ChatChunk) for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.delta.content for chunk in chunks for c in chunk.choices)
    assert text == "Hello from mock"
    finishes = [c.finish_reason for chunk in chunks for c in chunk.choices if c.HasField("finish_reason")]
    assert finishes == ["stop"]
    last = chunks[-1]
    assert len(last.choices) == 0 and last.usage.total_tokens == 12
    assert not any(chunk.HasField("usage") for chunk in chunks[:-1])


def test_stream_chat_can_be_cancelled(client):
    with client.stream_chat("chat", HI) as stream:
        first = next(stream)
        assert first.choices[0].delta.role == "assistant"
    with pytest.raises(GatewayError) as exc:
        list(stream)
    assert exc.value.code == grpc.StatusCode.CANCELLED


def test_complete(client):
    resp = client.complete("completions", "Say this", max_tokens=7)
    assert isinstance(resp, lgc.CompletionResponse)
    assert resp.model == "gpt-3.5-turbo-instruct"
    assert [c.text for c in resp.choices] == ["This is a test"]
    assert resp.choices[0].finish_reason == "length"
    assert resp.usage.total_tokens == 12


def test_stream_complete(client):
    chunks = list(client.stream_complete("completions", "Say this", include_usage=True))
    assert len(chunks) >= 2, chunks
    assert all(isinstance(c, lgc.CompletionChunk) for c in chunks)
    assert "".join(c.text for chunk in chunks for c in chunk.choices) == "This is a test"
    finishes = [c.finish_reason for chunk in chunks for c in chunk.choices if c.HasField("finish_reason")]
    assert finishes == ["length"]
    assert chunks[-1].usage.total_tokens == 12


def test_embed(client, gateway):
    resp = client.embed("embeddings", ["alpha", "beta"])
    assert isinstance(resp, lgc.EmbedResponse)
    assert (resp.model, resp.provider) == ("text-embedding-3-small", "openai")
    assert [d.index for d in resp.data] == [0, 1]
    assert all(len(d.values) == 3 for d in resp.data)
    assert list(resp.data[0].values) != list(resp.data[1].values)

    gateway.clear_mock_requests()
    single = client.embed("embeddings", "alpha", dimensions=5)
    assert len(single.data) == 1 and len(single.data[0].values) == 5
    client.embed("embeddings", [[1, 2, 3], [4, 5]])
    bodies = [
        r["body"] if isinstance(r["body"], dict) else json.loads(r["body"])
        for r in gateway.mock_requests()
        if r["path_and_query"].startswith("/v1/embeddings")
    ]
    assert [b["input"] for b in bodies] == ["alpha", [[1, 2, 3], [4, 5]]]
    assert bodies[0]["dimensions"] == 5


def test_list_endpoints(client, expected_endpoints):
    endpoints = client.list_endpoints()
    assert all(isinstance(e, lgc.Endpoint) for e in endpoints)
    got = [(e.name, e.endpoint_type, e.model.provider, e.model.name) for e in endpoints]
    assert got == expected_endpoints


def test_list_endpoints_follows_page_tokens(client, expected_endpoints):
    first = client.list_endpoints_page(1)
    assert len(first.endpoints) == 1 and first.next_page_token
    names = [e.name for e in client.list_endpoints(page_size=1)]
    assert names == [name for name, *_ in expected_endpoints]


def test_get_endpoint(client):
    e = client.get_endpoint("limited")
    assert (e.name, e.endpoint_type, e.model.provider, e.model.name) == (
        "limited", "llm/v1/chat", "mock", "mock-model"
    )
    assert e.endpoint_url == "/gateway/limited/invocations"
    assert (e.limit.calls, e.limit.renewal_period) == (100, "minute")


# ---- errors ----

# Each method called on an endpoint that does not exist; streams fail on iteration.
CALLS_ON_UNKNOWN_ENDPOINT = {
    "chat": lambda c: c.chat("nope", HI),
    "stream_chat": lambda c: list(c.stream_chat("nope", HI)),
    "complete": lambda c: c.complete("nope", "hi"),
    "stream_complete": lambda c: list(c.stream_complete("nope", "hi")),
    "embed": lambda c: c.embed("nope", ["hi"]),
    "get_endpoint": lambda c: c.get_endpoint("nope"),
}


@pytest.mark.parametrize("method", sorted(CALLS_ON_UNKNOWN_ENDPOINT))
def test_unknown_endpoint_is_not_found(client, method):
    with pytest.raises(lgc.NotFound) as exc:
        CALLS_ON_UNKNOWN_ENDPOINT[method](client)
    err = exc.value
    assert isinstance(err, GatewayError)
    assert err.code == grpc.StatusCode.NOT_FOUND
    assert "'nope'" in err.message or "nope" in err.message, err.message
    assert str(err) == f"NOT_FOUND: {err.message}"


BAD_REQUESTS = {
    "chat temperature 5": (lambda c: c.chat("chat", HI, temperature=5.0), "temperature"),
    "stream_chat temperature 5": (
        lambda c: list(c.stream_chat("chat", HI, temperature=5.0)), "temperature"
    ),
    "chat without messages": (lambda c: c.chat("chat", []), "messages"),
    "complete top_p 3": (lambda c: c.complete("completions", "hi", top_p=3.0), "top_p"),
    "stream_complete top_p 3": (
        lambda c: list(c.stream_complete("completions", "hi", top_p=3.0)), "top_p"
    ),
    "embed nothing": (lambda c: c.embed("embeddings", []), "input"),
    "chat on an embeddings endpoint": (
        lambda c: c.chat("embeddings", HI), "is not a chat endpoint"
    ),
    "complete on a chat endpoint": (
        lambda c: c.complete("chat", "hi"), "is not a completions endpoint"
    ),
    "embed on a chat endpoint": (lambda c: c.embed("chat", ["hi"]), "is not an embeddings endpoint"),
    "upstream 400": (lambda c: c.chat("chat-bad", HI), "upstream bad request"),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_request_is_invalid_argument(client, case):
    call, fragment = BAD_REQUESTS[case]
    with pytest.raises(lgc.InvalidArgument) as exc:
        call(client)
    assert exc.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in exc.value.message, exc.value.message


def test_temperature_message_is_clear(client):
    with pytest.raises(lgc.InvalidArgument) as exc:
        client.chat("chat", HI, temperature=5.0)
    assert "temperature: Input should be less than or equal to 2" in exc.value.message


def test_local_mistakes_raise_before_any_call(client):
    with pytest.raises(TypeError, match="unexpected keyword argument 'temprature'"):
        client.chat("chat", HI, temprature=0.1)
    with pytest.raises(TypeError, match="list of messages"):
        client.chat("chat", {"role": "user", "content": "hi"})
    with pytest.raises(ValueError, match=r"messages\[0\]"):
        client.chat("chat", [{"role": "user", "text": "hi"}])
    with pytest.raises(TypeError, match="prompt must be a string"):
        client.complete("completions", ["hi"])


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_gateway_is_unavailable():
    with GatewayClient(f"127.0.0.1:{_closed_port()}", timeout=RPC_TIMEOUT_S, options=NO_PROXY) as c:
        with pytest.raises(lgc.Unavailable) as exc:
            c.list_endpoints()
        assert exc.value.code == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(lgc.Unavailable):
            list(c.stream_chat("chat", HI))


# ---- API keys and deadlines: a second gateway ----


@pytest.fixture(scope="module")
def keyed_gateway(start_gateway, gateway):
    base = f"{gateway.mock_url}/v1"

    def openai_model(name: str) -> str:
        return (
            f"{{provider: openai, name: {name}, "
            f'config: {{openai_api_key: sk-test, openai_api_base: "{base}"}}}}'
        )

    config = f"""\
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model: {openai_model("gpt-4o-mini")}
  - name: slow
    endpoint_type: llm/v1/chat
    model: {openai_model("slow")}
api_keys:
  - name: full
    key: {FULL_KEY}
  - name: chat-only
    key: {CHAT_ONLY_KEY}
    endpoints: [chat]
"""
    with start_gateway(config) as gw:
        yield gw


def _keyed(gw, api_key: str | None, **kwargs) -> GatewayClient:
    kwargs.setdefault("timeout", RPC_TIMEOUT_S)
    return GatewayClient(gw.grpc_target, api_key=api_key, options=NO_PROXY, **kwargs)


def test_api_key_is_sent(keyed_gateway):
    with _keyed(keyed_gateway, FULL_KEY) as c:
        assert c.chat("chat", HI).choices[0].message.content == "Hello from mock"
        assert [e.name for e in c.list_endpoints()] == ["chat", "slow"]
        assert "".join(
            ch.delta.content for chunk in c.stream_chat("chat", HI) for ch in chunk.choices
        ) == "Hello from mock"
    with _keyed(keyed_gateway, CHAT_ONLY_KEY) as c:
        assert [e.name for e in c.list_endpoints()] == ["chat"]


@pytest.mark.parametrize("api_key", [None, "sk-wrong-key-0123456789"])
def test_missing_or_wrong_key_is_unauthenticated(keyed_gateway, api_key):
    with _keyed(keyed_gateway, api_key) as c:
        with pytest.raises(lgc.Unauthenticated) as exc:
            c.chat("chat", HI)
        assert exc.value.code == grpc.StatusCode.UNAUTHENTICATED
        expected = "Missing API key" if api_key is None else "Invalid API key"
        assert expected in exc.value.message, exc.value.message
        with pytest.raises(lgc.Unauthenticated):
            list(c.stream_chat("chat", HI))
        with pytest.raises(lgc.Unauthenticated):
            c.list_endpoints()


def test_key_outside_its_grant_is_permission_denied(keyed_gateway):
    with _keyed(keyed_gateway, CHAT_ONLY_KEY) as c:
        with pytest.raises(lgc.PermissionDenied) as exc:
            c.chat("slow", HI)
        assert exc.value.code == grpc.StatusCode.PERMISSION_DENIED
        assert "'chat-only' is not allowed to use 'slow'" in exc.value.message, exc.value.message
        with pytest.raises(lgc.PermissionDenied):
            c.get_endpoint("slow")


def test_timeout_is_a_deadline(keyed_gateway):
    # The mock's `slow` model answers after 2 s; the deadlines here are far shorter.
    with _keyed(keyed_gateway, FULL_KEY) as c:
        with pytest.raises(lgc.DeadlineExceeded) as exc:
            c.chat("slow", HI, timeout=0.3)
        assert exc.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
        with pytest.raises(lgc.DeadlineExceeded):
            list(c.stream_chat("slow", HI, timeout=0.3))
    # The client-wide default applies when a call gives none.
    with _keyed(keyed_gateway, FULL_KEY, timeout=0.3) as c:
        with pytest.raises(lgc.DeadlineExceeded):
            c.chat("slow", HI)


# ---- TLS: a third gateway ----


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "llm-gateway test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "tls.crt", tmp / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_gateway(start_gateway, gateway, tmp_path_factory):
    cert, key = _self_signed(tmp_path_factory.mktemp("tls"))
    config = gateway.config_path.read_text()
    with start_gateway(config, tls=(cert, key)) as gw:
        yield gw, cert.read_bytes()


def test_tls_every_method(tls_gateway):
    gw, root = tls_gateway
    with GatewayClient(gw.grpc_target, root_certificates=root, timeout=RPC_TIMEOUT_S, options=NO_PROXY) as c:
        assert c.chat("chat", HI).choices[0].message.content == "Hello from mock"
        assert "".join(
            ch.delta.content for chunk in c.stream_chat("chat", HI) for ch in chunk.choices
        ) == "Hello from mock"
        assert c.complete("completions", "Say this").choices[0].text == "This is a test"
        assert "".join(
            ch.text for chunk in c.stream_complete("completions", "Say this") for ch in chunk.choices
        ) == "This is a test"
        assert len(c.embed("embeddings", ["alpha"]).data) == 1
        assert [e.name for e in c.list_endpoints(page_size=2)][:2] == ["chat", "completions"]
        assert c.get_endpoint("chat").endpoint_type == "llm/v1/chat"
        with pytest.raises(lgc.NotFound):
            c.get_endpoint("nope")


def test_tls_untrusted_certificate_is_unavailable(tls_gateway):
    gw, _ = tls_gateway
    with GatewayClient(gw.grpc_target, secure=True, timeout=RPC_TIMEOUT_S, options=NO_PROXY) as c:
        with pytest.raises(lgc.Unavailable):
            c.list_endpoints()


def test_plaintext_client_on_tls_gateway_fails(tls_gateway):
    gw, _ = tls_gateway
    with GatewayClient(gw.grpc_target, timeout=RPC_TIMEOUT_S, options=NO_PROXY) as c:
        with pytest.raises(GatewayError) as exc:
            c.list_endpoints()
        assert exc.value.code == grpc.StatusCode.UNAVAILABLE, exc.value


def test_proto_message_types_are_the_generated_ones():
    assert lgc.Message is chat_pb2.Message
    assert lgc.ChatResponse.DESCRIPTOR.full_name == "llmgateway.v1.ChatResponse"
    assert chat_pb2.DESCRIPTOR.name == "llmgateway/v1/chat.proto"
