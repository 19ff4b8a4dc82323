//! Google OAuth2 access tokens for Vertex AI, without google-auth: what MLflow gets from
//! `service_account.Credentials` / `google.auth.default()` (spec §3.6), done in-process.
//!
//! * Where the credential comes from ([`Credentials::load`]): `vertex_credentials` (the key
//!   file's JSON text, or a path to it, as MLflow accepts), else Application Default
//!   Credentials: the file named by `GOOGLE_APPLICATION_CREDENTIALS`, else gcloud's
//!   `application_default_credentials.json`, else — last, as google-auth does — the GCE/GKE
//!   metadata server (`metadata.google.internal` or 169.254.169.254; `GCE_METADATA_HOST`
//!   overrides the host). The metadata server is probed once at start-up (1 s to connect, 2 s in
//!   all, both addresses at once), so a machine without one fails to start within seconds; the
//!   start-up error names every place tried.
//! * How a token is obtained: a service account signs an RS256 JWT assertion (ring, PKCS#8 key
//!   from the file) and exchanges it at the key's `token_uri`; an authorized-user file trades
//!   its refresh token there instead; on Google Cloud the metadata server hands out the attached
//!   service account's token (`GET .../service-accounts/default/token`, `Metadata-Flavor: Google`).
//! * How it is kept ([`TokenSource`]): one cached token for the endpoint, used by every request
//!   until it is within [`REFRESH_MARGIN`] of expiry; then exactly one request refreshes it while
//!   concurrent ones wait for that result instead of stampeding the token endpoint. A failed
//!   refresh falls back to the old token while it is still valid.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{HeaderValue, header};
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use tokio::time::Instant;

use crate::config::Secret;
use crate::error::GatewayError;
use crate::providers::http::{encode_json, send, transport_error};

use super::wire;

/// The one OAuth scope Vertex needs.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Google's token endpoint, for credential files that do not name one.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// A token is refreshed this long before it expires (google-auth uses 3 min 45 s), so a request
/// never leaves with a token that dies in flight.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// Lifetime asked for in the assertion (Google's maximum).
const ASSERTION_LIFETIME_SECS: u64 = 3600;
/// The metadata server's name (google-auth's default `GCE_METADATA_HOST`).
pub const METADATA_HOST: &str = "metadata.google.internal";
/// Its link-local address, which google-auth's availability check uses; probed alongside the
/// name so a machine whose resolver lacks `metadata.google.internal` still finds it.
pub const METADATA_IP: &str = "169.254.169.254";
/// Where the attached service account's access token is served.
pub const METADATA_TOKEN_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";
/// The start-up probe's limits: short, since off Google Cloud nothing answers at all.
const PROBE_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A loaded credential, ready to mint tokens.
pub enum Credentials {
    /// A service-account key: signs its own assertions.
    ServiceAccount {
        client_email: String,
        private_key_id: Option<String>,
        key: Arc<RsaKeyPair>,
        token_uri: reqwest::Url,
    },
    /// gcloud's user credential: a refresh token.
    AuthorizedUser {
        client_id: String,
        client_secret: Secret,
        refresh_token: Secret,
        token_uri: reqwest::Url,
    },
    /// The GCE/GKE metadata server: the attached service account's tokens, no key of our own.
    Metadata {
        token_uri: reqwest::Url,
        /// Proxy-free (a proxy cannot reach a link-local server), unlike the shared client.
        client: reqwest::Client,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::ServiceAccount {
                client_email,
                token_uri,
                ..
            } => write!(f, "ServiceAccount({client_email}, {token_uri})"),
            Credentials::AuthorizedUser { token_uri, .. } => {
                write!(f, "AuthorizedUser({token_uri})")
            }
            Credentials::Metadata { token_uri, .. } => write!(f, "Metadata({token_uri})"),
        }
    }
}

impl Credentials {
    /// Finds and parses the credential: `configured` (JSON text or a path), else ADC. `env`
    /// reads environment variables (injected so tests need not mutate the process environment).
    pub fn load(
        configured: Option<&Secret>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Credentials, String> {
        if let Some(value) = configured {
            let text = value.expose();
            // MLflow tries JSON first, then a path; a key file always starts with `{`.
            if text.trim_start().starts_with('{') {
                return Self::parse(text, "vertex_credentials");
            }
            let path = text.trim_end_matches(['\r', '\n']);
            let content = std::fs::read_to_string(path).map_err(|e| {
                format!("vertex_credentials must be a JSON string or path to a JSON file; reading '{path}' failed: {e}")
            })?;
            return Self::parse(&content, &format!("the credential file '{path}'"));
        }
        let mut tried = Vec::new();
        match env("GOOGLE_APPLICATION_CREDENTIALS").filter(|p| !p.is_empty()) {
            Some(path) => {
                let content = std::fs::read_to_string(&path).map_err(|e| {
                    format!("GOOGLE_APPLICATION_CREDENTIALS names '{path}', which could not be read: {e}")
                })?;
                return Self::parse(&content, &format!("the credential file '{path}'"));
            }
            None => tried.push("`vertex_credentials` is not set".to_owned()),
        }
        tried.push("GOOGLE_APPLICATION_CREDENTIALS is not set".to_owned());
        let gcloud_dir = env("CLOUDSDK_CONFIG")
            .filter(|d| !d.is_empty())
            .or_else(|| env("HOME").map(|h| format!("{h}/.config/gcloud")));
        if let Some(dir) = gcloud_dir {
            let path = format!("{dir}/application_default_credentials.json");
            if let Ok(content) = std::fs::read_to_string(&path) {
                return Self::parse(&content, &format!("the credential file '{path}'"));
            }
            tried.push(format!(
                "there is no gcloud application-default file at '{path}'"
            ));
        }
        let hosts = match env("GCE_METADATA_HOST").filter(|h| !h.is_empty()) {
            Some(host) => vec![host],
            None => vec![METADATA_HOST.to_owned(), METADATA_IP.to_owned()],
        };
        match probe_metadata(hosts) {
            Ok(host) => return Self::metadata(&host),
            Err(why) => tried.push(why),
        }
        Err(format!(
            "vertex_ai found no Google Cloud credentials: {}. Set `vertex_credentials` to a service-account key (JSON text or a path), point GOOGLE_APPLICATION_CREDENTIALS at one, or run on Google Cloud with a service account attached.",
            tried.join(", ")
        ))
    }

    /// The metadata server at `host` (`name` or `name:port`), known to answer.
    pub fn metadata(host: &str) -> Result<Credentials, String> {
        let token_uri = metadata_url(host, METADATA_TOKEN_PATH)?;
        let client = metadata_client(None)
            .map_err(|e| format!("could not build the metadata-server HTTP client: {e}"))?;
        Ok(Credentials::Metadata { token_uri, client })
    }

    /// Parses a credential file's JSON. Messages never quote the content (it holds the key).
    pub fn parse(json: &str, what: &str) -> Result<Credentials, String> {
        let file: wire::CredentialFile = serde_json::from_str(json)
            .map_err(|e| format!("{what} is not a valid Google credential JSON: {e}"))?;
        let token_uri = file.token_uri.as_deref().unwrap_or(DEFAULT_TOKEN_URI);
        let token_uri = reqwest::Url::parse(token_uri)
            .map_err(|e| format!("{what}: token_uri '{token_uri}' is not a valid URL: {e}"))?;
        let missing = |field: &str| format!("{what} has no `{field}`");
        match file.kind.as_deref() {
            Some("service_account") => {
                let client_email = file.client_email.ok_or_else(|| missing("client_email"))?;
                let pem = file.private_key.ok_or_else(|| missing("private_key"))?;
                Ok(Credentials::ServiceAccount {
                    client_email,
                    private_key_id: file.private_key_id,
                    key: Arc::new(rsa_key(&pem).map_err(|e| format!("{what}: {e}"))?),
                    token_uri,
                })
            }
            Some("authorized_user") => Ok(Credentials::AuthorizedUser {
                client_id: file.client_id.ok_or_else(|| missing("client_id"))?,
                client_secret: Secret::new(
                    file.client_secret.ok_or_else(|| missing("client_secret"))?,
                ),
                refresh_token: Secret::new(
                    file.refresh_token.ok_or_else(|| missing("refresh_token"))?,
                ),
                token_uri,
            }),
            other => Err(format!(
                "{what} has type {}; vertex_ai supports `service_account` and `authorized_user` credentials",
                other.map_or_else(|| "(none)".to_owned(), |t| format!("'{t}'"))
            )),
        }
    }

    fn token_uri(&self) -> &reqwest::Url {
        match self {
            Credentials::ServiceAccount { token_uri, .. }
            | Credentials::AuthorizedUser { token_uri, .. }
            | Credentials::Metadata { token_uri, .. } => token_uri,
        }
    }

    /// The token request, at wall-clock time `now_unix`: a form POST to the token endpoint, or
    /// the metadata server's GET. Sent with `shared` unless the credential has its own client.
    fn token_request<'a>(
        &'a self,
        shared: &'a reqwest::Client,
        now_unix: u64,
        timeout: Duration,
    ) -> Result<(&'a reqwest::Client, reqwest::Request), GatewayError> {
        let (client, mut request) = match self {
            Credentials::Metadata { token_uri, client } => {
                let mut request = reqwest::Request::new(reqwest::Method::GET, token_uri.clone());
                request
                    .headers_mut()
                    .insert(METADATA_FLAVOR, HeaderValue::from_static("Google"));
                (client, request)
            }
            _ => {
                let mut request =
                    reqwest::Request::new(reqwest::Method::POST, self.token_uri().clone());
                request.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
                *request.body_mut() = Some(self.token_request_body(now_unix)?.into());
                (shared, request)
            }
        };
        *request.timeout_mut() = Some(timeout);
        Ok((client, request))
    }

    /// The form body of the token request, at wall-clock time `now_unix`.
    pub fn token_request_body(&self, now_unix: u64) -> Result<String, GatewayError> {
        match self {
            Credentials::ServiceAccount {
                client_email,
                private_key_id,
                key,
                token_uri,
            } => {
                let claims = wire::JwtClaims {
                    iss: client_email,
                    scope: SCOPE,
                    aud: token_uri.as_str(),
                    iat: now_unix,
                    exp: now_unix + ASSERTION_LIFETIME_SECS,
                };
                let jwt = sign_jwt(key, private_key_id.as_deref(), &claims)?;
                // A JWT is base64url and dots: nothing in it needs form encoding.
                Ok(format!(
                    "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={jwt}"
                ))
            }
            Credentials::AuthorizedUser {
                client_id,
                client_secret,
                refresh_token,
                ..
            } => Ok(format!(
                "grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={}",
                form_encode(client_id),
                form_encode(client_secret.expose()),
                form_encode(refresh_token.expose())
            )),
            Credentials::Metadata { .. } => Err(GatewayError::Internal(
                "the metadata server's token request has no body".into(),
            )),
        }
    }
}

/// The header the metadata server requires on requests and sets on its answers.
const METADATA_FLAVOR: &str = "metadata-flavor";

fn metadata_url(host: &str, path: &str) -> Result<reqwest::Url, String> {
    reqwest::Url::parse(&format!("http://{host}{path}"))
        .map_err(|e| format!("the metadata server host '{host}' is not usable in a URL: {e}"))
}

/// A client for the metadata server: plain HTTP, never through a proxy, no redirects.
fn metadata_client(probe: Option<Duration>) -> Result<reqwest::Client, reqwest::Error> {
    crate::providers::http::install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("llm-gateway/", env!("CARGO_PKG_VERSION")));
    if let Some(total) = probe {
        // The probe's runtime ends with it: keep no pooled connection bound to it.
        builder = builder
            .connect_timeout(PROBE_CONNECT_TIMEOUT)
            .timeout(total)
            .pool_max_idle_per_host(0);
    }
    builder.build()
}

/// Asks each host at once whether it is a metadata server (`GET http://{host}/` with
/// `Metadata-Flavor: Google`, answered 200 with that header, google-auth's check) and returns
/// the first host, in the given order of preference, that is; else why none was. Start-up code
/// is synchronous, so this runs on its own thread and runtime (no tokio worker is blocked, and
/// it works inside or outside one).
fn probe_metadata(hosts: Vec<String>) -> Result<String, String> {
    let shown = hosts.join(" or ");
    let outcome = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("could not start its runtime: {e}"))?;
        let client = metadata_client(Some(PROBE_TIMEOUT))
            .map_err(|e| format!("could not build its HTTP client: {e}"))?;
        let answers = runtime.block_on(futures::future::join_all(
            hosts.iter().map(|host| probe_host(&client, host)),
        ));
        // A name lookup still running on a blocking thread must not hold start-up.
        runtime.shutdown_background();
        let mut why = Vec::new();
        for (host, answer) in hosts.iter().zip(answers) {
            match answer {
                Ok(()) => return Ok(host.clone()),
                Err(e) => why.push(format!("{host}: {e}")),
            }
        }
        Err(why.join("; "))
    })
    .join()
    .unwrap_or_else(|_| Err("the probe failed".to_owned()));
    outcome.map_err(|why| format!("no GCE metadata server answered at {shown} ({why})"))
}

async fn probe_host(client: &reqwest::Client, host: &str) -> Result<(), String> {
    let url = metadata_url(host, "/")?;
    let response = client
        .get(url)
        .header(METADATA_FLAVOR, "Google")
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() && e.is_connect() {
                format!("no connection within {} s", PROBE_CONNECT_TIMEOUT.as_secs())
            } else if e.is_timeout() {
                format!("no answer within {} s", PROBE_TIMEOUT.as_secs())
            } else if e.is_connect() {
                "could not connect".to_owned()
            } else {
                "the connection failed".to_owned()
            }
        })?;
    let status = response.status();
    let google = response
        .headers()
        .get(METADATA_FLAVOR)
        .is_some_and(|v| v.as_bytes() == b"Google");
    if status.is_success() && google {
        Ok(())
    } else {
        Err(format!(
            "HTTP {} {}",
            status.as_u16(),
            if google {
                "from a metadata server"
            } else {
                "without `Metadata-Flavor: Google`"
            }
        ))
    }
}

/// A PEM private key (PKCS#8 `PRIVATE KEY`, as Google issues them, or PKCS#1 `RSA PRIVATE KEY`).
fn rsa_key(pem: &str) -> Result<RsaKeyPair, String> {
    let pkcs1 = pem.contains("BEGIN RSA PRIVATE KEY");
    let b64: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    let der = STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| "private_key is not a PEM-encoded key".to_owned())?;
    let key = if pkcs1 {
        RsaKeyPair::from_der(&der)
    } else {
        RsaKeyPair::from_pkcs8(&der)
    };
    key.map_err(|e| format!("private_key is not a usable RSA key ({e})"))
}

/// `base64url(header).base64url(claims).base64url(RS256 signature)`.
pub fn sign_jwt(
    key: &RsaKeyPair,
    kid: Option<&str>,
    claims: &wire::JwtClaims<'_>,
) -> Result<String, GatewayError> {
    let header = wire::JwtHeader {
        alg: "RS256",
        typ: "JWT",
        kid,
    };
    let mut jwt = URL_SAFE_NO_PAD.encode(encode_json(&header)?);
    jwt.push('.');
    jwt.push_str(&URL_SAFE_NO_PAD.encode(encode_json(claims)?));
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        jwt.as_bytes(),
        &mut signature,
    )
    .map_err(|_| GatewayError::Internal("could not sign the Google OAuth assertion".into()))?;
    jwt.push('.');
    jwt.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(jwt)
}

/// `application/x-www-form-urlencoded` for one value.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The clock the cache runs on (tokio's, so tests can also drive it; injectable for unit tests).
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

#[derive(Clone)]
struct Cached {
    /// `Bearer {token}`, marked sensitive.
    header: HeaderValue,
    refresh_at: Instant,
    expires_at: Instant,
}

/// The endpoint's access token, cached and refreshed on demand.
pub struct TokenSource {
    client: reqwest::Client,
    credentials: Credentials,
    clock: Clock,
    current: RwLock<Option<Cached>>,
    /// Held by the one request that refreshes; the others wait on it, then reuse its token.
    refreshing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenSource({:?})", self.credentials)
    }
}

impl TokenSource {
    /// A source on the real clock.
    pub fn new(client: reqwest::Client, credentials: Credentials) -> Self {
        Self::with_clock(client, credentials, Arc::new(Instant::now))
    }

    /// A source on the given clock.
    pub fn with_clock(client: reqwest::Client, credentials: Credentials, clock: Clock) -> Self {
        TokenSource {
            client,
            credentials,
            clock,
            current: RwLock::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self) -> Option<Cached> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The `Authorization` header value for a request now.
    pub async fn authorization(&self, timeout: Duration) -> Result<HeaderValue, GatewayError> {
        if let Some(c) = self.cached().filter(|c| (self.clock)() < c.refresh_at) {
            return Ok(c.header);
        }
        let _guard = self.refreshing.lock().await;
        // Another request may have refreshed while this one waited for the lock.
        let previous = self.cached();
        if let Some(c) = previous.as_ref().filter(|c| (self.clock)() < c.refresh_at) {
            return Ok(c.header.clone());
        }
        match self.fetch(timeout).await {
            Ok(fresh) => {
                let header = fresh.header.clone();
                *self
                    .current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(fresh);
                Ok(header)
            }
            // Early refresh failed but the old token still works: use it, retry next time.
            Err(e) => match previous.filter(|c| (self.clock)() < c.expires_at) {
                Some(c) => {
                    tracing::warn!(error = %e, "refreshing the Vertex AI access token failed; using the current one until it expires");
                    Ok(c.header)
                }
                None => Err(e),
            },
        }
    }

    async fn fetch(&self, timeout: Duration) -> Result<Cached, GatewayError> {
        let started = (self.clock)();
        let now_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let (client, request) = self
            .credentials
            .token_request(&self.client, now_unix, timeout)?;
        let uri = self.credentials.token_uri();
        let failed = |why: String| {
            GatewayError::UpstreamBadResponse(format!(
                "Could not obtain a Google Cloud access token from {uri}: {why}"
            ))
        };
        let response = send(client, request, timeout).await.map_err(|e| match e {
            GatewayError::UpstreamTimeout(m) => {
                GatewayError::UpstreamTimeout(format!("Google token endpoint {uri}: {m}"))
            }
            other => failed(other.to_string()),
        })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| failed(transport_error(&e, timeout).to_string()))?;
        if !status.is_success() {
            let why = match serde_json::from_slice::<wire::TokenError>(&bytes) {
                Ok(wire::TokenError {
                    error: Some(error),
                    error_description,
                }) => match error_description {
                    Some(d) => format!("{error} ({d})"),
                    None => error,
                },
                _ => String::from_utf8_lossy(&bytes).chars().take(300).collect(),
            };
            return Err(failed(format!("HTTP {}: {why}", status.as_u16())));
        }
        let token: wire::TokenResponse = serde_json::from_slice(&bytes)
            .map_err(|e| failed(format!("the answer could not be parsed ({e})")))?;
        let mut header = HeaderValue::from_str(&format!("Bearer {}", token.access_token))
            .map_err(|_| failed("the access token is not a valid header value".into()))?;
        header.set_sensitive(true);
        // Measured from before the request, so network time only makes the refresh earlier.
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(3600));
        Ok(Cached {
            header,
            refresh_at: started + lifetime.saturating_sub(REFRESH_MARGIN),
            expires_at: started + lifetime,
        })
    }
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
