//! Tests of the credential loading, the signed assertion (verified with the test public key in
//! `tests/fixtures/vertex/`) and the token cache, against a token endpoint on 127.0.0.1 and a
//! clock the test moves by hand.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use serde_json::{Value, json};

use super::*;

const PRIVATE_KEY: &str = include_str!("../../../tests/fixtures/vertex/test-only-private-key.pem");
const PUBLIC_KEY: &str = include_str!("../../../tests/fixtures/vertex/test-only-public-key.pem");

fn key_json(token_uri: &str) -> String {
    json!({
        "type": "service_account",
        "project_id": "my-proj",
        "private_key_id": "test-key-id",
        "private_key": PRIVATE_KEY,
        "client_email": "gateway@my-proj.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": token_uri,
    })
    .to_string()
}

fn b64url_json(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn form(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn the_assertion_is_an_rs256_jwt_with_googles_claims() {
    let creds = Credentials::parse(&key_json("http://127.0.0.1:9/token"), "test").unwrap();
    let body = creds.token_request_body(1_700_000_000).unwrap();
    let fields = form(&body);
    assert_eq!(fields[0].0, "grant_type");
    assert_eq!(
        fields[0].1,
        "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
    );
    assert_eq!(fields[1].0, "assertion");
    let jwt = &fields[1].1;
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(
        b64url_json(parts[0]),
        json!({"alg": "RS256", "typ": "JWT", "kid": "test-key-id"})
    );
    assert_eq!(
        b64url_json(parts[1]),
        json!({
            "iss": "gateway@my-proj.iam.gserviceaccount.com",
            "scope": "https://www.googleapis.com/auth/cloud-platform",
            "aud": "http://127.0.0.1:9/token",
            "iat": 1_700_000_000u64,
            "exp": 1_700_003_600u64,
        })
    );
    let der = pem_der(PUBLIC_KEY);
    let signed = format!("{}.{}", parts[0], parts[1]);
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &der)
        .verify(signed.as_bytes(), &signature)
        .expect("the assertion verifies with the test public key");
    // A tampered claim set does not.
    assert!(
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &der)
            .verify(format!("{signed}x").as_bytes(), &signature)
            .is_err()
    );
}

fn pem_der(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(b64).unwrap()
}

#[test]
fn credentials_come_from_text_a_path_or_adc() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("key.json");
    std::fs::write(&key_path, key_json("http://127.0.0.1:9/token")).unwrap();
    let key_path = key_path.to_str().unwrap().to_owned();

    // JSON text.
    let c = Credentials::load(Some(&Secret::new(key_json("http://t/"))), &no_env).unwrap();
    assert!(matches!(c, Credentials::ServiceAccount { .. }));
    // A path (a trailing newline from a YAML block scalar is tolerated).
    let c = Credentials::load(Some(&Secret::new(format!("{key_path}\n"))), &no_env).unwrap();
    assert_eq!(c.token_uri().as_str(), "http://127.0.0.1:9/token");
    // ADC: GOOGLE_APPLICATION_CREDENTIALS.
    let env = |k: &str| (k == "GOOGLE_APPLICATION_CREDENTIALS").then(|| key_path.clone());
    assert!(matches!(
        Credentials::load(None, &env).unwrap(),
        Credentials::ServiceAccount { .. }
    ));
    // ADC: gcloud's user credential.
    let gcloud = dir.path().join("gcloud");
    std::fs::create_dir(&gcloud).unwrap();
    std::fs::write(
        gcloud.join("application_default_credentials.json"),
        r#"{"type":"authorized_user","client_id":"cid.apps.googleusercontent.com","client_secret":"d-secret","refresh_token":"1//r+t/ok"}"#,
    )
    .unwrap();
    let gcloud_dir = gcloud.to_str().unwrap().to_owned();
    let env = |k: &str| (k == "CLOUDSDK_CONFIG").then(|| gcloud_dir.clone());
    let user = Credentials::load(None, &env).unwrap();
    assert_eq!(user.token_uri().as_str(), DEFAULT_TOKEN_URI);
    assert_eq!(
        user.token_request_body(0).unwrap(),
        "grant_type=refresh_token&client_id=cid.apps.googleusercontent.com&client_secret=d-secret&refresh_token=1%2F%2Fr%2Bt%2Fok"
    );
    assert!(!format!("{user:?}").contains("d-secret"));

    // Nothing anywhere (the metadata host is a closed local port): every place tried is named.
    let home = dir.path().join("empty-home");
    let home = home.to_str().unwrap().to_owned();
    let metadata = closed_port();
    let env = |k: &str| match k {
        "HOME" => Some(home.clone()),
        "GCE_METADATA_HOST" => Some(metadata.clone()),
        _ => None,
    };
    let started = std::time::Instant::now();
    let err = Credentials::load(None, &env).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(err.contains("`vertex_credentials` is not set"), "{err}");
    assert!(
        err.contains("GOOGLE_APPLICATION_CREDENTIALS is not set"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{home}/.config/gcloud/application_default_credentials.json"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "no GCE metadata server answered at {metadata} ({metadata}: could not connect)"
        )),
        "{err}"
    );
    assert!(err.ends_with("or run on Google Cloud with a service account attached."));
}

/// `127.0.0.1:{port}` where nothing listens.
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr.to_string()
}

#[test]
fn bad_credentials_are_named_without_quoting_the_key() {
    let err = |json: &str| Credentials::parse(json, "vertex_credentials").unwrap_err();
    assert!(
        err("{not json").starts_with("vertex_credentials is not a valid Google credential JSON")
    );
    assert_eq!(
        err(r#"{"type":"service_account","client_email":"a@b"}"#),
        "vertex_credentials has no `private_key`"
    );
    assert_eq!(
        err(r#"{"type":"external_account"}"#),
        "vertex_credentials has type 'external_account'; vertex_ai supports `service_account` and `authorized_user` credentials"
    );
    let bad_key = err(
        r#"{"type":"service_account","client_email":"a@b","private_key":"-----BEGIN PRIVATE KEY-----\nSECRETSTUFF\n-----END PRIVATE KEY-----\n"}"#,
    );
    assert!(
        bad_key.starts_with("vertex_credentials: private_key"),
        "{bad_key}"
    );
    assert!(!bad_key.contains("SECRETSTUFF"));
    let missing =
        Credentials::load(Some(&Secret::new("/nonexistent/key.json")), &no_env).unwrap_err();
    assert!(
        missing.starts_with("vertex_credentials must be a JSON string or path to a JSON file"),
        "{missing}"
    );
}

// ---------------------------------------------------------------------------------------------
// The token cache against a local token endpoint

#[derive(Default)]
struct TokenServer {
    /// Answers in order; the last one repeats.
    answers: Vec<(u16, String)>,
    bodies: Vec<String>,
}

type Shared = Arc<Mutex<TokenServer>>;

async fn token_endpoint(
    axum::extract::State(shared): axum::extract::State<Shared>,
    body: String,
) -> axum::response::Response {
    // Slow enough that concurrent callers really overlap the one refresh.
    tokio::time::sleep(Duration::from_millis(30)).await;
    let (status, text) = {
        let mut s = shared.lock().unwrap();
        s.bodies.push(body);
        let i = (s.bodies.len() - 1).min(s.answers.len() - 1);
        s.answers[i].clone()
    };
    axum::response::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(text))
        .unwrap()
}

async fn start_token_server(answers: Vec<(u16, String)>) -> (String, Shared) {
    let shared: Shared = Arc::new(Mutex::new(TokenServer {
        answers,
        bodies: Vec::new(),
    }));
    let app = axum::Router::new()
        .route("/token", axum::routing::post(token_endpoint))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/token"), shared)
}

fn token(n: u32, expires_in: u64) -> (u16, String) {
    (
        200,
        json!({"access_token": format!("ya29.token-{n}"), "expires_in": expires_in, "token_type": "Bearer"})
            .to_string(),
    )
}

/// A clock that moves only when the test says so.
fn manual_clock() -> (Clock, Arc<AtomicU64>) {
    let start = Instant::now();
    let offset = Arc::new(AtomicU64::new(0));
    let o = offset.clone();
    let clock: Clock = Arc::new(move || start + Duration::from_secs(o.load(Ordering::SeqCst)));
    (clock, offset)
}

async fn source(answers: Vec<(u16, String)>) -> (TokenSource, Shared, Arc<AtomicU64>) {
    let (uri, shared) = start_token_server(answers).await;
    let creds = Credentials::parse(&key_json(&uri), "test").unwrap();
    let (clock, offset) = manual_clock();
    let client = crate::providers::http::build_client(Duration::from_secs(2)).unwrap();
    (
        TokenSource::with_clock(client, creds, clock),
        shared,
        offset,
    )
}

const T: Duration = Duration::from_secs(5);

#[tokio::test]
async fn one_token_serves_every_call_until_the_refresh_margin() {
    let (src, shared, clock) = source(vec![token(1, 3599), token(2, 3599)]).await;
    for _ in 0..3 {
        let h = src.authorization(T).await.unwrap();
        assert_eq!(h, "Bearer ya29.token-1");
        assert!(h.is_sensitive());
    }
    assert_eq!(shared.lock().unwrap().bodies.len(), 1);
    // Just before the margin: still the cached token.
    clock.store(3599 - 300 - 1, Ordering::SeqCst);
    assert_eq!(src.authorization(T).await.unwrap(), "Bearer ya29.token-1");
    assert_eq!(shared.lock().unwrap().bodies.len(), 1);
    // Inside the margin: refreshed once, then reused again.
    clock.store(3599 - 300, Ordering::SeqCst);
    assert_eq!(src.authorization(T).await.unwrap(), "Bearer ya29.token-2");
    assert_eq!(src.authorization(T).await.unwrap(), "Bearer ya29.token-2");
    let bodies = shared.lock().unwrap().bodies.clone();
    assert_eq!(bodies.len(), 2);
    assert!(bodies.iter().all(|b| b.starts_with(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=ey"
    )));
}

#[tokio::test]
async fn concurrent_calls_share_one_refresh() {
    let (src, shared, _clock) = source(vec![token(1, 3599)]).await;
    let src = Arc::new(src);
    let calls = (0..16).map(|_| {
        let src = src.clone();
        tokio::spawn(async move { src.authorization(T).await })
    });
    for r in futures::future::join_all(calls).await {
        assert_eq!(r.unwrap().unwrap(), "Bearer ya29.token-1");
    }
    assert_eq!(shared.lock().unwrap().bodies.len(), 1);
}

#[tokio::test]
async fn a_failed_early_refresh_keeps_the_still_valid_token() {
    let error = (
        400,
        include_str!("../../../tests/fixtures/vertex/token_error.json").to_owned(),
    );
    let (src, shared, clock) = source(vec![token(1, 3599), error]).await;
    assert_eq!(src.authorization(T).await.unwrap(), "Bearer ya29.token-1");
    clock.store(3400, Ordering::SeqCst); // inside the margin, before expiry
    assert_eq!(src.authorization(T).await.unwrap(), "Bearer ya29.token-1");
    clock.store(3599, Ordering::SeqCst); // expired: the failure is the answer
    let err = src.authorization(T).await.unwrap_err();
    assert_eq!(err.http_status(), 502);
    assert!(
        err.to_string()
            .ends_with("/token: HTTP 400: invalid_grant (Invalid JWT Signature.)"),
        "{err}"
    );
    assert_eq!(shared.lock().unwrap().bodies.len(), 3);
}

#[tokio::test]
async fn token_endpoint_failures_are_gateway_errors() {
    let (src, _shared, _clock) = source(vec![(500, "upstream down".into())]).await;
    let err = src.authorization(T).await.unwrap_err();
    assert_eq!(err.http_status(), 502);
    assert!(err.to_string().contains("HTTP 500: upstream down"), "{err}");

    let (src, _shared, _clock) = source(vec![(200, r#"{"token_type":"Bearer"}"#.into())]).await;
    let err = src.authorization(T).await.unwrap_err();
    assert!(err.to_string().contains("could not be parsed"), "{err}");

    let creds = Credentials::parse(&key_json("http://127.0.0.1:9/token"), "test").unwrap();
    let client = crate::providers::http::build_client(Duration::from_secs(2)).unwrap();
    let err = TokenSource::new(client, creds)
        .authorization(T)
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), 502);
    assert!(
        err.to_string()
            .starts_with("Could not obtain a Google Cloud access token from http://127.0.0.1:9/token: Could not connect"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// The GCE metadata server, played on 127.0.0.1 (its own thread and runtime, because start-up's
// probe blocks the thread that calls it)

#[derive(Default)]
struct MetadataServer {
    /// Token answers in order; the last one repeats.
    tokens: Vec<(u16, String)>,
    /// `(method, path, Metadata-Flavor header)` of every request.
    requests: Vec<(String, String, Option<String>)>,
    /// Whether answers carry `Metadata-Flavor: Google` (a real metadata server's do).
    google: bool,
}

type Metadata = Arc<Mutex<MetadataServer>>;

async fn metadata_endpoint(
    axum::extract::State(shared): axum::extract::State<Metadata>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let path = request.uri().path().to_owned();
    let flavor = request
        .headers()
        .get("metadata-flavor")
        .map(|v| v.to_str().unwrap().to_owned());
    let token = path == METADATA_TOKEN_PATH;
    if token {
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let (status, text, google) = {
        let mut s = shared.lock().unwrap();
        s.requests
            .push((request.method().to_string(), path.clone(), flavor));
        let n = s
            .requests
            .iter()
            .filter(|r| r.1 == METADATA_TOKEN_PATH)
            .count();
        let (status, text) = match (token, n) {
            (true, n) => s.tokens[(n - 1).min(s.tokens.len() - 1)].clone(),
            (false, _) => (200, "computeMetadata/\n".to_owned()),
        };
        (status, text, s.google)
    };
    let mut response = axum::response::Response::builder().status(status);
    if google {
        response = response.header("metadata-flavor", "Google");
    }
    response.body(axum::body::Body::from(text)).unwrap()
}

/// Starts the server; returns its `host:port` (what `GCE_METADATA_HOST` names).
fn start_metadata_server(tokens: Vec<(u16, String)>, google: bool) -> (String, Metadata) {
    let shared: Metadata = Arc::new(Mutex::new(MetadataServer {
        tokens,
        requests: Vec::new(),
        google,
    }));
    let app = axum::Router::new()
        .fallback(metadata_endpoint)
        .with_state(shared.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let _ = axum::serve(listener, app).await;
        });
    });
    (addr.to_string(), shared)
}

fn metadata_env(host: &str) -> impl Fn(&str) -> Option<String> {
    let host = host.to_owned();
    move |k: &str| (k == "GCE_METADATA_HOST").then(|| host.clone())
}

#[test]
fn the_metadata_server_is_the_last_adc_source() {
    let (host, shared) = start_metadata_server(vec![token(1, 3599)], true);
    let creds = Credentials::load(None, &metadata_env(&host)).unwrap();
    assert_eq!(
        format!("{creds:?}"),
        format!(
            "Metadata(http://{host}/computeMetadata/v1/instance/service-accounts/default/token)"
        )
    );
    // The probe: one GET of the root, with the header.
    assert_eq!(
        shared.lock().unwrap().requests,
        vec![("GET".to_owned(), "/".to_owned(), Some("Google".to_owned()))]
    );
    assert!(matches!(
        creds.token_request_body(0),
        Err(GatewayError::Internal(_))
    ));
}

#[test]
fn a_server_without_the_metadata_flavor_is_not_the_metadata_server() {
    let (host, _shared) = start_metadata_server(vec![token(1, 3599)], false);
    let err = Credentials::load(None, &metadata_env(&host)).unwrap_err();
    assert!(
        err.contains(&format!(
            "no GCE metadata server answered at {host} ({host}: HTTP 200 without `Metadata-Flavor: Google`)"
        )),
        "{err}"
    );
    // A configured credential or GOOGLE_APPLICATION_CREDENTIALS never reaches the probe.
    let (host, shared) = start_metadata_server(vec![token(1, 3599)], true);
    let c = Credentials::load(
        Some(&Secret::new(key_json("http://t/"))),
        &metadata_env(&host),
    );
    assert!(matches!(c, Ok(Credentials::ServiceAccount { .. })));
    assert!(shared.lock().unwrap().requests.is_empty());
}

fn metadata_source(tokens: Vec<(u16, String)>) -> (TokenSource, Metadata, Arc<AtomicU64>) {
    let (host, shared) = start_metadata_server(tokens, true);
    let creds = Credentials::metadata(&host).unwrap();
    let (clock, offset) = manual_clock();
    let client = crate::providers::http::build_client(Duration::from_secs(2)).unwrap();
    (
        TokenSource::with_clock(client, creds, clock),
        shared,
        offset,
    )
}

fn token_requests(shared: &Metadata) -> Vec<(String, String, Option<String>)> {
    shared.lock().unwrap().requests.clone()
}

#[tokio::test]
async fn metadata_tokens_are_cached_and_refreshed_before_expiry() {
    let (src, shared, clock) = metadata_source(vec![token(1, 3599), token(2, 1800)]);
    let src = Arc::new(src);
    // Concurrent first calls share one token request.
    let calls = (0..8).map(|_| {
        let src = src.clone();
        tokio::spawn(async move { src.authorization(T).await })
    });
    for r in futures::future::join_all(calls).await {
        let h = r.unwrap().unwrap();
        assert_eq!(h, "Bearer ya29.token-1");
        assert!(h.is_sensitive());
    }
    let get_token = (
        "GET".to_owned(),
        METADATA_TOKEN_PATH.to_owned(),
        Some("Google".to_owned()),
    );
    assert_eq!(token_requests(&shared), vec![get_token.clone()]);
    // Just before the margin: still the cached token.
    clock.store(3599 - 300 - 1, Ordering::SeqCst);
    assert_eq!(src.authorization(T).await.unwrap(), "Bearer ya29.token-1");
    assert_eq!(token_requests(&shared).len(), 1);
    // Inside the margin: one refresh, then that token is reused until its own margin.
    clock.store(3599 - 300, Ordering::SeqCst);
    assert_eq!(src.authorization(T).await.unwrap(), "Bearer ya29.token-2");
    clock.store(3599 - 300 + 1800 - 300 - 1, Ordering::SeqCst);
    assert_eq!(src.authorization(T).await.unwrap(), "Bearer ya29.token-2");
    assert_eq!(
        token_requests(&shared),
        vec![get_token.clone(), get_token.clone()]
    );
    // Past its expiry: fetched again (the last scripted answer repeats).
    clock.store(3599 - 300 + 1800, Ordering::SeqCst);
    assert_eq!(src.authorization(T).await.unwrap(), "Bearer ya29.token-2");
    assert_eq!(token_requests(&shared).len(), 3);
}

#[tokio::test]
async fn metadata_token_failures_are_gateway_errors() {
    let (src, _shared, _clock) = metadata_source(vec![(
        404,
        "Not Found: service account 'default' is not attached".to_owned(),
    )]);
    let err = src.authorization(T).await.unwrap_err();
    assert_eq!(err.http_status(), 502);
    assert!(
        err.to_string().ends_with(
            "/computeMetadata/v1/instance/service-accounts/default/token: HTTP 404: Not Found: service account 'default' is not attached"
        ),
        "{err}"
    );
}
