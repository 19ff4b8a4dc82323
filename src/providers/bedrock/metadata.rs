//! Temporary credentials from a metadata service, the last two links of the AWS SDKs' default
//! chain (after the environment and the shared credentials file):
//!
//! 1. container credentials (ECS, EKS Pod Identity): `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`
//!    (fetched from `http://169.254.170.2{uri}`), else `AWS_CONTAINER_CREDENTIALS_FULL_URI`
//!    (any http(s) URL), with an `Authorization` header read from the file named by
//!    `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (re-read on every fetch, as EKS rotates it) or
//!    else `AWS_CONTAINER_AUTHORIZATION_TOKEN`;
//! 2. EC2 instance metadata, IMDSv2 only: a session token from `PUT /latest/api/token`, then
//!    the role name and its keys from `/latest/meta-data/iam/security-credentials/`. The
//!    endpoint is `http://169.254.169.254` (`http://[fd00:ec2::254]` with
//!    `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6`), or `AWS_EC2_METADATA_SERVICE_ENDPOINT`;
//!    `AWS_EC2_METADATA_DISABLED=true` turns it off.
//!
//! As in the SDKs, configured container credentials exclude instance metadata (a task must not
//! silently run with its host's role). The source is probed once at start with short timeouts
//! (1 s connect, 2 s per source), so a machine without metadata refuses to start at once with
//! a list of everything tried; afterwards the keys live in the [`CredentialCache`] shared with
//! assumed roles and are refreshed before they expire.

use std::fmt;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use http::HeaderValue;
use serde::Deserialize;

use crate::error::GatewayError;

use super::auth::Env;
use super::sts::CredentialCache;

/// The container credentials host of `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`.
const CONTAINER_HOST: &str = "http://169.254.170.2";
/// The instance metadata endpoints (IPv4, IPv6).
const IMDS_V4: &str = "http://169.254.169.254";
const IMDS_V6: &str = "http://[fd00:ec2::254]";
/// The IMDSv2 session token's lifetime (the SDKs' default: six hours).
const IMDS_TOKEN_TTL: &str = "21600";
/// Connecting to a metadata service: it is link-local, so it answers at once or not at all.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The whole start-up probe of one source.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// One refresh at request time (each HTTP call of it).
const REFRESH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long keys without an `Expiration` are reused before being fetched again.
const NO_EXPIRY_REUSE: Duration = Duration::from_secs(3600);

/// Where the `Authorization` header of container credential requests comes from.
enum TokenSource {
    File(String),
    Value(String),
}

/// A metadata service to ask for credentials.
enum Source {
    Container {
        url: reqwest::Url,
        token: Option<TokenSource>,
    },
    Instance {
        endpoint: String,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Container { url, .. } => write!(f, "container credentials at {url}"),
            Source::Instance { endpoint } => write!(f, "EC2 instance metadata at {endpoint}"),
        }
    }
}

/// Credentials of a metadata service, cached and refreshed before they expire.
pub struct MetadataProvider {
    source: Source,
    /// A client of its own: no proxy (metadata is link-local) and no pooled connections, since
    /// the start-up probe runs on a runtime of its own.
    client: reqwest::Client,
    cache: CredentialCache,
}

impl fmt::Debug for MetadataProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)
    }
}

/// The answer of both services (`Code`/`Message` only from instance metadata).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MetadataKeys {
    code: Option<String>,
    message: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    token: Option<String>,
    expiration: Option<String>,
}

/// The metadata source the environment selects, and notes on the sources it skips (for the
/// start-up error); no source when a configured one is unusable or metadata is disabled.
fn plan(env: Env<'_>) -> (Option<Source>, Vec<String>) {
    let token = || {
        env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
            .map(TokenSource::File)
            .or_else(|| env("AWS_CONTAINER_AUTHORIZATION_TOKEN").map(TokenSource::Value))
    };
    let skipped_imds =
        "EC2 instance metadata (not tried: container credentials are configured, as in the AWS SDKs)"
            .to_owned();
    if let Some(relative) = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
        let text = format!("{CONTAINER_HOST}{}", relative.trim());
        return match reqwest::Url::parse(&text) {
            Ok(url) => (
                Some(Source::Container {
                    url,
                    token: token(),
                }),
                vec![skipped_imds],
            ),
            Err(_) => (
                None,
                vec![
                    format!(
                        "container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI gives the invalid URL {text})"
                    ),
                    skipped_imds,
                ],
            ),
        };
    }
    if let Some(full) = env("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
        return match reqwest::Url::parse(full.trim()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => (
                Some(Source::Container {
                    url,
                    token: token(),
                }),
                vec![skipped_imds],
            ),
            _ => (
                None,
                vec![
                    format!(
                        "container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI '{full}' is not an http(s) URL)"
                    ),
                    skipped_imds,
                ],
            ),
        };
    }
    let mut notes = vec![
        "container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and AWS_CONTAINER_CREDENTIALS_FULL_URI are not set)".to_owned(),
    ];
    if env("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        notes.push("EC2 instance metadata (disabled by AWS_EC2_METADATA_DISABLED)".to_owned());
        return (None, notes);
    }
    let endpoint = env("AWS_EC2_METADATA_SERVICE_ENDPOINT").unwrap_or_else(|| {
        match env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE") {
            Some(mode) if mode.trim().eq_ignore_ascii_case("ipv6") => IMDS_V6.to_owned(),
            _ => IMDS_V4.to_owned(),
        }
    });
    let endpoint = endpoint.trim().trim_end_matches('/').to_owned();
    (Some(Source::Instance { endpoint }), notes)
}

/// Finds credentials in the metadata service the environment selects, waiting at most a few
/// seconds. `Err` carries one note per source considered, for the start-up error.
pub fn probe(env: Env<'_>) -> Result<MetadataProvider, Vec<String>> {
    let (source, mut notes) = plan(env);
    let Some(source) = source else {
        return Err(notes);
    };
    super::super::http::install_crypto_provider();
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .no_proxy()
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .build();
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            add_tried(&mut notes, &source, &format!("no HTTP client: {e}"));
            return Err(notes);
        }
    };
    let provider = MetadataProvider {
        source,
        client,
        cache: CredentialCache::default(),
    };
    // Start-up is synchronous (and may run inside a single-threaded runtime, which must not be
    // blocked on itself): the probe gets a thread and a small runtime of its own.
    let found = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("no runtime for the probe: {e}"))?;
                runtime.block_on(async {
                    tokio::time::timeout(PROBE_TIMEOUT, provider.fetch(PROBE_TIMEOUT))
                        .await
                        .unwrap_or_else(|_| Err("no answer within 2 s".to_owned()))
                })
            })
            .join()
            .unwrap_or_else(|_| Err("the probe failed".to_owned()))
    });
    match found {
        Ok(keys) => {
            provider.cache.seed(keys);
            Ok(provider)
        }
        Err(why) => {
            add_tried(&mut notes, &provider.source, &why);
            Err(notes)
        }
    }
}

/// Adds the failure of the source actually asked to the notes, in the SDKs' order (container
/// credentials before instance metadata).
fn add_tried(notes: &mut Vec<String>, source: &Source, why: &str) {
    let tried = format!("{source} ({why})");
    match source {
        Source::Container { .. } => notes.insert(0, tried),
        Source::Instance { .. } => notes.push(tried),
    }
}

impl MetadataProvider {
    /// Valid credentials: the cached ones, or fresh ones (one fetch shared by concurrent
    /// callers).
    pub async fn credentials(&self) -> Result<Credentials, GatewayError> {
        self.cache
            .get(|| async {
                self.fetch(REFRESH_TIMEOUT).await.map_err(|why| {
                    GatewayError::UpstreamBadResponse(format!(
                        "Could not refresh the AWS credentials for Amazon Bedrock from {}: {why}.",
                        self.source
                    ))
                })
            })
            .await
    }

    /// One fetch of the keys and their expiry. Errors never contain a token or a key.
    async fn fetch(&self, timeout: Duration) -> Result<(Credentials, SystemTime), String> {
        match &self.source {
            Source::Container { url, token } => {
                let mut request = self.client.get(url.clone()).timeout(timeout);
                if let Some(token) = token {
                    let value = match token {
                        TokenSource::File(path) => std::fs::read_to_string(path).map_err(|_| {
                            format!("the authorization token file {path} is not readable")
                        })?,
                        TokenSource::Value(value) => value.clone(),
                    };
                    request = request.header(
                        http::header::AUTHORIZATION,
                        sensitive(value.trim(), "the authorization token")?,
                    );
                }
                parse_keys(&text(request).await?)
            }
            Source::Instance { endpoint } => {
                let put = self
                    .client
                    .put(format!("{endpoint}/latest/api/token"))
                    .header("x-aws-ec2-metadata-token-ttl-seconds", IMDS_TOKEN_TTL)
                    .timeout(timeout);
                let token = text(put)
                    .await
                    .map_err(|e| format!("IMDSv2 session token: {e}"))?;
                let token = sensitive(token.trim(), "the IMDSv2 session token")?;
                let base = format!("{endpoint}/latest/meta-data/iam/security-credentials/");
                let get = |url: String| {
                    self.client
                        .get(url)
                        .header("x-aws-ec2-metadata-token", token.clone())
                        .timeout(timeout)
                };
                let roles = text(get(base.clone()))
                    .await
                    .map_err(|e| format!("instance role: {e}"))?;
                let role = roles
                    .lines()
                    .map(str::trim)
                    .find(|r| !r.is_empty())
                    .ok_or("no IAM role is attached to the instance")?;
                parse_keys(&text(get(format!("{base}{role}"))).await?)
            }
        }
    }
}

/// A header value that stays out of Debug output and header compression tables.
fn sensitive(value: &str, what: &str) -> Result<HeaderValue, String> {
    let mut v =
        HeaderValue::from_str(value).map_err(|_| format!("{what} is not a valid header"))?;
    v.set_sensitive(true);
    Ok(v)
}

/// The body of a successful answer; the failure without any of the body (it may hold keys).
async fn text(request: reqwest::RequestBuilder) -> Result<String, String> {
    let describe = |e: reqwest::Error| {
        if e.is_timeout() {
            "timed out".to_owned()
        } else if e.is_connect() {
            "could not connect".to_owned()
        } else {
            "the request failed".to_owned()
        }
    };
    let response = request.send().await.map_err(describe)?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP {}", status.as_u16()));
    }
    response.text().await.map_err(describe)
}

/// The keys and expiry in a metadata answer (`now + 1 h` when it names no expiry).
pub(crate) fn parse_keys(json: &str) -> Result<(Credentials, SystemTime), String> {
    let keys: MetadataKeys =
        serde_json::from_str(json).map_err(|_| "the answer is not a credentials document")?;
    if let Some(code) = keys.code.as_deref().filter(|c| *c != "Success") {
        return Err(format!(
            "the service answered {code}: {}",
            keys.message.unwrap_or_default()
        ));
    }
    let (Some(id), Some(secret)) = (keys.access_key_id, keys.secret_access_key) else {
        return Err("the answer has no AccessKeyId/SecretAccessKey".to_owned());
    };
    let expiry = match keys.expiration {
        Some(e) => parse_time(&e).ok_or("the answer's Expiration is not a date")?,
        None => SystemTime::now() + NO_EXPIRY_REUSE,
    };
    let token = keys.token.filter(|t| !t.is_empty());
    Ok((
        Credentials::new(id, secret, token, Some(expiry), "metadata"),
        expiry,
    ))
}

/// An RFC 3339 date (`Z` or an offset).
fn parse_time(text: &str) -> Option<SystemTime> {
    use aws_smithy_types::date_time::Format;
    let text = text.trim();
    aws_smithy_types::DateTime::from_str(text, Format::DateTimeWithOffset)
        .or_else(|_| aws_smithy_types::DateTime::from_str(text, Format::DateTime))
        .ok()
        .and_then(|dt| SystemTime::try_from(dt).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn planned(pairs: &[(&str, &str)]) -> (Option<String>, Vec<String>) {
        let (source, notes) = plan(&env_of(pairs));
        (source.map(|s| s.to_string()), notes)
    }

    #[test]
    fn plans_follow_the_sdk_order() {
        let (s, notes) = planned(&[
            ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/creds/abc"),
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/x"),
        ]);
        assert_eq!(
            s.as_deref(),
            Some("container credentials at http://169.254.170.2/v2/creds/abc")
        );
        assert!(notes[0].contains("not tried"), "{notes:?}");
        let (s, _) = planned(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/x")]);
        assert_eq!(
            s.as_deref(),
            Some("container credentials at http://127.0.0.1:9/x")
        );
        let (s, notes) = planned(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", "file:///etc/x")]);
        assert_eq!(s, None);
        assert!(notes[0].contains("not an http(s) URL"), "{notes:?}");

        let (s, notes) = planned(&[]);
        assert_eq!(
            s.as_deref(),
            Some("EC2 instance metadata at http://169.254.169.254")
        );
        assert!(notes[0].contains("are not set"), "{notes:?}");
        let (s, _) = planned(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6")]);
        assert_eq!(
            s.as_deref(),
            Some("EC2 instance metadata at http://[fd00:ec2::254]")
        );
        let (s, _) = planned(&[
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:7/"),
            ("AWS_EC2_METADATA_DISABLED", "false"),
        ]);
        assert_eq!(
            s.as_deref(),
            Some("EC2 instance metadata at http://127.0.0.1:7")
        );
        let (s, notes) = planned(&[("AWS_EC2_METADATA_DISABLED", "TRUE")]);
        assert_eq!(s, None);
        assert!(notes[1].contains("disabled by AWS_EC2_METADATA_DISABLED"));
    }

    #[test]
    fn parses_metadata_answers() {
        let (c, expiry) = parse_keys(
            r#"{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"ASIAIMDS","SecretAccessKey":"s/k","Token":"tok","Expiration":"2100-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(
            (c.access_key_id(), c.secret_access_key(), c.session_token()),
            ("ASIAIMDS", "s/k", Some("tok"))
        );
        assert_eq!(
            expiry
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            4_102_444_800
        );
        let (_, expiry) = parse_keys(
            r#"{"AccessKeyId":"A","SecretAccessKey":"S","Expiration":"2100-01-01T01:00:00+01:00"}"#,
        )
        .unwrap();
        assert_eq!(
            expiry
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            4_102_444_800
        );
        let err = parse_keys(r#"{"Code":"AssumeRoleUnauthorizedAccess","Message":"no"}"#);
        assert!(err.unwrap_err().contains("AssumeRoleUnauthorizedAccess"));
        assert!(parse_keys(r#"{"AccessKeyId":"A"}"#).is_err());
        assert!(parse_keys("not json").is_err());
    }

    #[test]
    fn a_closed_port_fails_fast_and_a_disabled_service_is_not_asked() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let endpoint = format!("http://127.0.0.1:{port}");
        let started = std::time::Instant::now();
        let notes =
            probe(&env_of(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &endpoint)])).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(
            notes[1],
            format!(
                "EC2 instance metadata at {endpoint} (IMDSv2 session token: could not connect)"
            )
        );
        let notes = probe(&env_of(&[
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &endpoint),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]))
        .unwrap_err();
        assert_eq!(notes.len(), 2);
        assert!(!notes.concat().contains(&endpoint));
    }
}
