//! How Bedrock requests are authorised: a Bedrock API key (`Authorization: Bearer`), or AWS
//! Signature Version 4 (service `bedrock`) with static keys, keys of an assumed role (`sts.rs`)
//! or keys found by the default credential chain, in the AWS SDKs' order: the environment, the
//! shared credentials file, then container credentials or EC2 instance metadata (IMDSv2,
//! `metadata.rs`). The environment and the file are read once at start; a metadata service is
//! probed at start (a few seconds at most) and then asked again whenever its temporary keys near
//! expiry. SSO and web identity are not consulted; the start-up error lists every source tried,
//! so nobody hunts for why some credentials are ignored.
//!
//! Credentials never reach a log line, an error or Debug output: [`Credentials`] redacts its
//! secret, and the headers carrying them are marked sensitive.

use std::fmt;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::HeaderValue;

use crate::error::GatewayError;

use super::metadata::{self, MetadataProvider};
use super::sts::RoleProvider;

/// Reads one environment variable (injectable, so resolution is testable without touching the
/// process environment).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, ignoring empty values (as the AWS SDKs do).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// How requests of one endpoint are authorised.
pub enum Auth {
    /// A Bedrock API key; the header value is prepared (and marked sensitive) once.
    Bearer(HeaderValue),
    /// SigV4 with fixed keys (configured, or found once at start by the default chain).
    Static {
        creds: Credentials,
        region: String,
        /// Where the keys came from, for Debug output.
        source: &'static str,
    },
    /// SigV4 with the temporary keys of an assumed role, refreshed before they expire.
    Role {
        provider: Box<RoleProvider>,
        region: String,
    },
    /// SigV4 with the temporary keys of a container or instance metadata service, refreshed
    /// before they expire.
    Metadata {
        provider: Box<MetadataProvider>,
        region: String,
    },
}

/// What the default chain found: fixed keys, or a metadata service handing out temporary ones.
pub enum ChainCredentials {
    Static(Credentials),
    Metadata(Box<MetadataProvider>),
}

impl fmt::Debug for ChainCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainCredentials::Static(_) => f.write_str("Static"),
            ChainCredentials::Metadata(p) => write!(f, "{p:?}"),
        }
    }
}

impl ChainCredentials {
    /// Keys valid now (a metadata service's are cached and refreshed).
    pub async fn get(&self) -> Result<Credentials, GatewayError> {
        match self {
            ChainCredentials::Static(c) => Ok(c.clone()),
            ChainCredentials::Metadata(p) => p.credentials().await,
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Bearer(_) => f.write_str("Bearer([redacted])"),
            Auth::Static { source, region, .. } => {
                write!(f, "SigV4 {{ source: {source}, region: {region} }}")
            }
            Auth::Role { provider, region } => {
                write!(f, "SigV4 {{ source: {provider:?}, region: {region} }}")
            }
            Auth::Metadata { provider, region } => {
                write!(f, "SigV4 {{ source: {provider:?}, region: {region} }}")
            }
        }
    }
}

impl Auth {
    /// Authorises a fully built request (URL, headers and body are final): adds the signature
    /// headers, or nothing for a bearer token (already among the endpoint's headers).
    pub async fn authorize(
        &self,
        client: &reqwest::Client,
        request: &mut reqwest::Request,
    ) -> Result<(), GatewayError> {
        match self {
            Auth::Bearer(_) => Ok(()),
            Auth::Static { creds, region, .. } => {
                sign_request(request, creds, region, "bedrock", SystemTime::now())
            }
            Auth::Role { provider, region } => {
                let creds = provider.credentials(client).await?;
                sign_request(request, &creds, region, "bedrock", SystemTime::now())
            }
            Auth::Metadata { provider, region } => {
                let creds = provider.credentials().await?;
                sign_request(request, &creds, region, "bedrock", SystemTime::now())
            }
        }
    }

    /// Whether this is Bedrock API key (bearer token) authentication.
    pub fn is_bearer(&self) -> bool {
        matches!(self, Auth::Bearer(_))
    }
}

/// Signs `request` in place with SigV4 (headers `authorization`, `x-amz-date` and, with a
/// session token, `x-amz-security-token`). Every header already on the request is signed, so
/// call it last; the signature is a pure function of request, keys, region and `time`.
pub fn sign_request(
    request: &mut reqwest::Request,
    creds: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Result<(), GatewayError> {
    let failed = |what: &str| GatewayError::Internal(format!("could not sign the request: {what}"));
    let identity: Identity = creds.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|_| failed("incomplete signing parameters"))?
        .into();
    let headers: Vec<(&str, &str)> = request
        .headers()
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
        .collect();
    let body = request
        .body()
        .and_then(reqwest::Body::as_bytes)
        .unwrap_or_default();
    let signable = SignableRequest::new(
        request.method().as_str(),
        request.url().as_str(),
        headers.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|_| failed("the URL cannot be signed"))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|_| failed("the signer refused the request"))?
        .into_parts();
    let (new_headers, _params) = instructions.into_parts();
    for h in new_headers {
        let mut value =
            HeaderValue::from_str(h.value()).map_err(|_| failed("invalid signature header"))?;
        // The signature is derived from the secret and the token is one: keep both out of
        // header compression tables and Debug output.
        value.set_sensitive(h.sensitive() || h.name() != "x-amz-date");
        request.headers_mut().insert(h.name(), value);
    }
    Ok(())
}

/// The region: configured, else `AWS_REGION`, else `AWS_DEFAULT_REGION`.
pub fn region(configured: Option<&str>, env: Env<'_>) -> Option<String> {
    configured
        .map(str::to_owned)
        .filter(|r| !r.trim().is_empty())
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
}

/// Static keys from the configuration.
pub fn configured_keys(id: &str, secret: &str, token: Option<&str>) -> Credentials {
    Credentials::new(
        id,
        secret,
        token.map(str::to_owned),
        None,
        "aws_config keys",
    )
}

/// The default credential chain: [`static_chain`], then a metadata service
/// ([`metadata::probe`], which waits a few seconds at most). The error names every source tried.
pub fn default_chain(env: Env<'_>) -> Result<ChainCredentials, String> {
    let mut tried = match static_chain(env) {
        Ok(creds) => return Ok(ChainCredentials::Static(creds)),
        Err(tried) => tried,
    };
    match metadata::probe(env) {
        Ok(provider) => Ok(ChainCredentials::Metadata(Box::new(provider))),
        Err(notes) => {
            tried.extend(notes);
            Err(format!(
                "no AWS credentials found for Amazon Bedrock. Tried: {}. SSO and web identity are not supported: set aws_access_key_id/aws_secret_access_key (or aws_bearer_token) in aws_config, or export the keys",
                tried.join("; ")
            ))
        }
    }
}

/// The sources read once at start: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`
/// (+`AWS_SESSION_TOKEN`), then the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE` or
/// `~/.aws/credentials`, profile `AWS_PROFILE` or `default`). `Err` says what was tried.
pub fn static_chain(env: Env<'_>) -> Result<Credentials, Vec<String>> {
    if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        return Ok(Credentials::new(
            id,
            secret,
            env("AWS_SESSION_TOKEN"),
            None,
            "environment",
        ));
    }
    let path = env("AWS_SHARED_CREDENTIALS_FILE")
        .or_else(|| env("HOME").map(|h| format!("{h}/.aws/credentials")));
    let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".to_owned());
    let file_note = match &path {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => match profile_keys(&text, &profile) {
                Some(creds) => return Ok(creds),
                None => {
                    format!("the shared credentials file {path} (no keys for profile '{profile}')")
                }
            },
            Err(_) => format!("the shared credentials file {path} (not readable)"),
        },
        None => "the shared credentials file (HOME is not set)".to_owned(),
    };
    Err(vec![
        "the environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".to_owned(),
        file_note,
    ])
}

/// The keys of `profile` in an INI-style AWS credentials file.
pub fn profile_keys(text: &str, profile: &str) -> Option<Credentials> {
    let mut in_profile = false;
    let (mut id, mut secret, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_profile = name.trim() == profile;
            continue;
        }
        if !in_profile {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().to_owned();
            match k.trim() {
                "aws_access_key_id" => id = Some(v),
                "aws_secret_access_key" => secret = Some(v),
                "aws_session_token" => token = Some(v),
                _ => {}
            }
        }
    }
    match (id, secret) {
        (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => Some(Credentials::new(
            id,
            secret,
            token.filter(|t| !t.is_empty()),
            None,
            "shared credentials file",
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::time::Duration;

    fn at(rfc3339: &str) -> SystemTime {
        let dt = aws_smithy_types::DateTime::from_str(
            rfc3339,
            aws_smithy_types::date_time::Format::DateTime,
        )
        .unwrap();
        SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(dt.secs()).unwrap())
    }

    /// AWS's own test vector `post-vanilla` (aws-signing-test-suite/v4).
    #[test]
    fn signs_the_aws_post_vanilla_vector() {
        let creds = configured_keys(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
        );
        let mut req = reqwest::Request::new(
            reqwest::Method::POST,
            "https://example.amazonaws.com/".parse().unwrap(),
        );
        sign_request(
            &mut req,
            &creds,
            "us-east-1",
            "service",
            at("2015-08-30T12:36:00Z"),
        )
        .unwrap();
        assert_eq!(
            req.headers()["authorization"],
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        );
        assert_eq!(req.headers()["x-amz-date"], "20150830T123600Z");
        assert!(req.headers()["authorization"].is_sensitive());
        assert!(req.headers().get("x-amz-security-token").is_none());
    }

    #[test]
    fn signs_bedrock_posts_with_session_token_deterministically() {
        let creds = configured_keys("AKID", "secret", Some("tok/en+="));
        let build = || {
            let mut req = reqwest::Request::new(
                reqwest::Method::POST,
                "https://bedrock-runtime.eu-west-1.amazonaws.com/model/a.b%3A0/converse"
                    .parse()
                    .unwrap(),
            );
            req.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            *req.body_mut() = Some(reqwest::Body::from(r#"{"messages":[]}"#));
            sign_request(
                &mut req,
                &creds,
                "eu-west-1",
                "bedrock",
                at("2024-05-06T07:08:09Z"),
            )
            .unwrap();
            req
        };
        let (a, b) = (build(), build());
        let auth = a.headers()["authorization"].to_str().unwrap().to_owned();
        assert_eq!(auth, b.headers()["authorization"].to_str().unwrap());
        assert!(auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKID/20240506/eu-west-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="
        ));
        assert_eq!(a.headers()["x-amz-security-token"], "tok/en+=");
        assert!(a.headers()["x-amz-security-token"].is_sensitive());
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn default_chain_prefers_environment_then_file() {
        let env = env_of(&[
            ("AWS_ACCESS_KEY_ID", "AKENV"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ]);
        let c = static_chain(&env).unwrap();
        assert_eq!(c.access_key_id(), "AKENV");
        assert!(c.session_token().is_none());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        std::fs::write(
            &path,
            "[default]\naws_access_key_id = AKDEF\naws_secret_access_key = sd\n\n[dev]\naws_access_key_id=AKDEV\naws_secret_access_key=sv\naws_session_token=tv\n",
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let env = env_of(&[("AWS_SHARED_CREDENTIALS_FILE", p)]);
        assert_eq!(static_chain(&env).unwrap().access_key_id(), "AKDEF");
        let env = env_of(&[("AWS_SHARED_CREDENTIALS_FILE", p), ("AWS_PROFILE", "dev")]);
        let c = static_chain(&env).unwrap();
        assert_eq!(
            (c.access_key_id(), c.session_token()),
            ("AKDEV", Some("tv"))
        );

        let env = env_of(&[("AWS_SHARED_CREDENTIALS_FILE", p), ("AWS_PROFILE", "nope")]);
        let err = static_chain(&env).unwrap_err().join("; ");
        assert!(
            err.contains("AWS_ACCESS_KEY_ID") && err.contains("profile 'nope'"),
            "{err}"
        );
        assert!(!err.contains("sd") || !err.contains("AKDEF"));
        let err = static_chain(&env_of(&[])).unwrap_err().join("; ");
        assert!(err.contains("HOME is not set"), "{err}");
    }

    #[test]
    fn region_falls_back_to_environment() {
        let env = env_of(&[("AWS_DEFAULT_REGION", "eu-west-3")]);
        assert_eq!(
            region(Some("us-west-2"), &env).as_deref(),
            Some("us-west-2")
        );
        assert_eq!(region(None, &env).as_deref(), Some("eu-west-3"));
        let env = env_of(&[("AWS_REGION", "ap-south-1"), ("AWS_DEFAULT_REGION", "x")]);
        assert_eq!(region(None, &env).as_deref(), Some("ap-south-1"));
        assert_eq!(region(None, &env_of(&[])), None);
    }
}
