//! Per-endpoint upstream timeouts (`timeouts:` in the config): the connect timeout applies to
//! opening the connection and is reported as such, separately from the total timeout.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::TestGateway;

/// A loopback listener that never accepts: once its one-slot backlog is full, the kernel leaves
/// further connection attempts unanswered, so connecting to it hangs.
async fn unanswering_listener() -> (tokio::net::TcpListener, Vec<std::net::TcpStream>) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    // Fill the accept queue; attempts past its size may time out themselves, which is fine.
    let fillers = (0..4)
        .filter_map(|_| {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).ok()
        })
        .collect();
    (listener, fillers)
}

#[tokio::test]
async fn connect_timeout_is_per_endpoint_and_named() {
    let (listener, _fillers) = unanswering_listener().await;
    let port = listener.local_addr().unwrap().port();
    let config = format!(
        r#"
endpoints:
  - name: hang
    endpoint_type: llm/v1/chat
    model:
      provider: openai
      name: gpt-4o-mini
      config: {{openai_api_key: sk-test, openai_api_base: "http://127.0.0.1:{port}/v1"}}
    timeouts: {{connect_seconds: 0.2, total_seconds: 30}}
"#
    );
    let gw = TestGateway::start(&config).await;
    let r = gw
        .post(
            "/gateway/hang/invocations",
            r#"{"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    assert_eq!(r.status, 504, "{}", r.body);
    assert_eq!(
        r.json()["detail"],
        "Timed out connecting to the upstream provider."
    );
    // The message proves the 0.2 s connect timeout fired, not the 30 s total one.
}
