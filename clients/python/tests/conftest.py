"""A live llm-gateway in front of the mock upstream, shared by every client test of the session.

The binaries come from `LLM_GATEWAY_BIN` / `MOCK_UPSTREAM_BIN`, else from
`$CARGO_TARGET_DIR/debug/` (default `~/.cache/llm-gateway/target/debug/`); `scripts/test.sh`
builds them first. Everything listens on 127.0.0.1 only.

Fixtures:
- `gateway`: a `Gateway` with `url` (`http://127.0.0.1:PORT`), `grpc_target` (`127.0.0.1:PORT`),
  `mock_url` and `mock_requests()` / `clear_mock_requests()` (the mock's request log, so a test
  can assert what the gateway sent upstream).
- `start_gateway`: starts further gateways (another config, API keys, TLS) in front of the same
  mock upstream, as context managers.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
PROTO_DIR = REPO_ROOT / "proto"

# Health polling: 200 x 50 ms = 10 s at most before the gateway counts as broken.
HEALTH_POLLS = 200
HEALTH_INTERVAL_S = 0.05
MOCK_BANNER_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0

# The clients must never go through a proxy to reach the loopback gateway.
for _var in ("NO_PROXY", "no_proxy"):
    _hosts = [h for h in os.environ.get(_var, "").split(",") if h]
    os.environ[_var] = ",".join(_hosts + ["127.0.0.1", "localhost"])


def _target_dir() -> Path:
    default = Path.home() / ".cache" / "llm-gateway" / "target"
    return Path(os.environ.get("CARGO_TARGET_DIR") or default)


def _binary(env_var: str, name: str) -> Path:
    path = Path(os.environ.get(env_var) or _target_dir() / "debug" / name)
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"{name} binary not found at {path}: run `cargo build --bins` "
            f"(or set {env_var})",
            pytrace=False,
        )
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read_first_line(proc: subprocess.Popen, timeout: float) -> str:
    """The first stdout line of `proc`, or "" if it exits or stays silent for `timeout`."""
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return box[0] if box else ""


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT_S)


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no output)"
    return text[-limit:] if text else "(empty)"


def gateway_config(mock_url: str) -> str:
    """The gateway config every client test runs against (endpoint order matters: tests assert it)."""
    base = f"{mock_url}/v1"

    def openai_model(name: str) -> str:
        return (
            f"{{provider: openai, name: {name}, "
            f'config: {{openai_api_key: sk-test, openai_api_base: "{base}"}}}}'
        )

    return f"""\
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model: {openai_model("gpt-4o-mini")}
  - name: completions
    endpoint_type: llm/v1/completions
    model: {openai_model("gpt-3.5-turbo-instruct")}
  - name: embeddings
    endpoint_type: llm/v1/embeddings
    model: {openai_model("text-embedding-3-small")}
  - name: chat-bad
    endpoint_type: llm/v1/chat
    model: {openai_model("err400")}
  - name: limited
    endpoint_type: llm/v1/chat
    model: {{provider: mock, name: mock-model, config: {{}}}}
    limit: {{calls: 100, renewal_period: minute}}
"""


# Names and types in config order, for the discovery tests of every surface.
ENDPOINTS = [
    ("chat", "llm/v1/chat", "openai", "gpt-4o-mini"),
    ("completions", "llm/v1/completions", "openai", "gpt-3.5-turbo-instruct"),
    ("embeddings", "llm/v1/embeddings", "openai", "text-embedding-3-small"),
    ("chat-bad", "llm/v1/chat", "openai", "err400"),
    ("limited", "llm/v1/chat", "mock", "mock-model"),
]


@dataclass
class Gateway:
    url: str
    grpc_target: str
    mock_url: str
    config_path: Path
    stderr_path: Path

    def mock_requests(self) -> list[dict]:
        """Requests the mock upstream received so far: {method, path_and_query, headers, body}."""
        with urllib.request.urlopen(f"{self.mock_url}/__mock/requests", timeout=10) as r:
            return json.loads(r.read())

    def clear_mock_requests(self) -> None:
        req = urllib.request.Request(f"{self.mock_url}/__mock/requests", method="DELETE")
        with urllib.request.urlopen(req, timeout=10):
            pass


@contextmanager
def _mock_upstream(work: Path, env: dict[str, str]) -> Iterator[str]:
    """A recording mock upstream on a free loopback port; yields its base URL."""
    mock_bin = _binary("MOCK_UPSTREAM_BIN", "mock-upstream")
    mock_err = work / "mock-upstream.stderr"
    mock = None
    try:
        with open(mock_err, "wb") as err:
            mock = subprocess.Popen(
                [str(mock_bin), "--host", "127.0.0.1", "--port", "0", "--record"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env=env,
            )
        banner = _read_first_line(mock, MOCK_BANNER_TIMEOUT_S).strip()
        prefix = "listening on "
        if not banner.startswith(prefix):
            pytest.fail(
                f"mock-upstream did not announce its address (got {banner!r}); "
                f"stderr:\n{_tail(mock_err)}",
                pytrace=False,
            )
        yield banner[len(prefix):].rstrip("/")
    finally:
        _stop(mock)
        if mock is not None and mock.stdout is not None:
            mock.stdout.close()


@contextmanager
def _run_gateway(
    work: Path,
    env: dict[str, str],
    config_text: str,
    mock_url: str,
    extra_args: Sequence[str] = (),
    tls: tuple[Path, Path] | None = None,
) -> Iterator[Gateway]:
    """An llm-gateway serving `config_text` on a free loopback port, stopped on exit.

    `tls`: (certificate PEM, key PEM) to serve HTTPS and gRPC over TLS; readiness is then checked
    over https trusting that certificate.
    """
    gateway_bin = _binary("LLM_GATEWAY_BIN", "llm-gateway")
    gw_err = work / "llm-gateway.stderr"
    config_path = work / "config.yaml"
    config_path.write_text(config_text)
    port = _free_port()
    args = [str(gateway_bin), "start", "--config-path", str(config_path),
            "--host", "127.0.0.1", "--port", str(port), *extra_args]
    ssl_context = None
    if tls is not None:
        args += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
        ssl_context = ssl.create_default_context(cafile=str(tls[0]))
    gw = None
    try:
        with open(gw_err, "wb") as err:
            gw = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=subprocess.STDOUT,
                env=env,
            )
        url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        _wait_healthy(gw, url, gw_err, ssl_context)
        yield Gateway(
            url=url,
            grpc_target=f"127.0.0.1:{port}",
            mock_url=mock_url,
            config_path=config_path,
            stderr_path=gw_err,
        )
        if gw.poll() is not None:
            pytest.fail(
                f"llm-gateway exited with {gw.returncode} during the tests; "
                f"output:\n{_tail(gw_err)}",
                pytrace=False,
            )
    finally:
        _stop(gw)


def _env() -> dict[str, str]:
    return dict(os.environ, NO_COLOR="1", RUST_LOG=os.environ.get("RUST_LOG", "info"))


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    work = tmp_path_factory.mktemp("gateway")
    env = _env()
    with _mock_upstream(work, env) as mock_url:
        with _run_gateway(work, env, gateway_config(mock_url), mock_url) as gw:
            yield gw


@pytest.fixture(scope="session")
def start_gateway(gateway: Gateway, tmp_path_factory: pytest.TempPathFactory):
    """A factory for more gateways in front of the session's mock upstream (`gateway.mock_url`).

    `with start_gateway(config_text, extra_args=(), tls=None) as gw:` starts one with that
    config (and, with `tls=(cert, key)`, TLS) and stops it on leaving the block.
    """

    def start(
        config_text: str, *, extra_args: Sequence[str] = (), tls: tuple[Path, Path] | None = None
    ):
        work = tmp_path_factory.mktemp("extra-gateway")
        return _run_gateway(work, _env(), config_text, gateway.mock_url, extra_args, tls)

    return start


def _wait_healthy(
    proc: subprocess.Popen, url: str, stderr_path: Path, ssl_context: ssl.SSLContext | None = None
) -> None:
    last = "no answer"
    for _ in range(HEALTH_POLLS):
        if proc.poll() is not None:
            pytest.fail(
                f"llm-gateway exited with {proc.returncode} before becoming ready; "
                f"output:\n{_tail(stderr_path)}",
                pytrace=False,
            )
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1, context=ssl_context) as r:
                body = json.loads(r.read())
                if r.status == 200 and body == {"status": "OK"}:
                    return
                last = f"{r.status} {body!r}"
        except (urllib.error.URLError, ConnectionError, OSError, ValueError) as e:
            last = repr(e)
        time.sleep(HEALTH_INTERVAL_S)
    pytest.fail(
        f"llm-gateway not healthy at {url}/health after {HEALTH_POLLS * HEALTH_INTERVAL_S:.0f} s "
        f"(last: {last}); output:\n{_tail(stderr_path)}",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def proto_dir() -> Path:
    return PROTO_DIR


@pytest.fixture(scope="session")
def expected_endpoints() -> list[tuple[str, str, str, str]]:
    """(name, endpoint_type, provider, model name) of the configured endpoints, in config order."""
    return list(ENDPOINTS)


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    for env_var, name in (("LLM_GATEWAY_BIN", "llm-gateway"), ("MOCK_UPSTREAM_BIN", "mock-upstream")):
        lines.append(f"{name}: {os.environ.get(env_var) or _target_dir() / 'debug' / name}")
    return lines

