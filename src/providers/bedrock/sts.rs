//! Temporary credentials of an assumed role (`aws_role_arn`): STS `AssumeRole`, signed with the
//! base credentials of the default chain (which may themselves come from a metadata service),
//! cached in the provider and refreshed a few minutes before they expire. MLflow re-assumes the
//! role on every request (its expiry check is always true); here concurrent requests share one
//! cached set and one refresh. The [`CredentialCache`] doing that also holds the keys of the
//! container and instance metadata services (`metadata.rs`).
//!
//! The endpoint is `https://sts.{region}.amazonaws.com/`, or `AWS_ENDPOINT_URL_STS` (the
//! SDKs' service-specific endpoint variable), which is also how tests point it at a mock.

use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use tokio::sync::Mutex;

use crate::error::GatewayError;
use crate::providers::http::{send, transport_error};

use super::auth::{ChainCredentials, Env, sign_request};

/// MLflow's `RoleSessionName`.
const SESSION_NAME: &str = "ai-gateway-bedrock";
/// Refresh this long before expiry, so no request is signed with keys about to lapse.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// The STS call's own timeout (independent of the endpoint's, which is for the model call).
const STS_TIMEOUT: Duration = Duration::from_secs(30);

/// Temporary credentials and their expiry, refreshed [`REFRESH_MARGIN`] before it. The lock is
/// held across the refresh, so a burst of requests after expiry makes one call, not hundreds.
#[derive(Default)]
pub struct CredentialCache {
    slot: Mutex<Option<(Credentials, SystemTime)>>,
}

impl CredentialCache {
    /// The cached credentials while they are fresh, else those `fetch` gets (and caches).
    pub async fn get<F, Fut>(&self, fetch: F) -> Result<Credentials, GatewayError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(Credentials, SystemTime), GatewayError>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some((creds, expiry)) = slot.as_ref()
            && SystemTime::now() + REFRESH_MARGIN < *expiry
        {
            return Ok(creds.clone());
        }
        let fresh = fetch().await?;
        *slot = Some(fresh.clone());
        Ok(fresh.0)
    }

    /// Stores credentials found outside a request (the start-up probe).
    pub fn seed(&self, fresh: (Credentials, SystemTime)) {
        // Nobody else holds the lock before the provider is shared; never wait at start-up.
        if let Ok(mut slot) = self.slot.try_lock() {
            *slot = Some(fresh);
        }
    }
}

/// Assumes one role and keeps its temporary credentials.
pub struct RoleProvider {
    role_arn: String,
    duration_secs: u64,
    base: ChainCredentials,
    region: String,
    url: reqwest::Url,
    cache: CredentialCache,
}

impl fmt::Debug for RoleProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AssumeRole({})", self.role_arn)
    }
}

impl RoleProvider {
    /// A provider for `role_arn`, signing STS calls with `base`.
    pub fn new(
        role_arn: &str,
        duration_secs: u64,
        base: ChainCredentials,
        region: &str,
        env: Env<'_>,
    ) -> Result<Self, String> {
        let url = env("AWS_ENDPOINT_URL_STS")
            .unwrap_or_else(|| format!("https://sts.{region}.amazonaws.com/"));
        let url = reqwest::Url::parse(&url)
            .map_err(|e| format!("the STS endpoint '{url}' is not a valid URL: {e}"))?;
        Ok(RoleProvider {
            role_arn: role_arn.to_owned(),
            duration_secs,
            base,
            region: region.to_owned(),
            url,
            cache: CredentialCache::default(),
        })
    }

    /// Valid temporary credentials: the cached ones, or fresh ones from STS.
    pub async fn credentials(&self, client: &reqwest::Client) -> Result<Credentials, GatewayError> {
        self.cache.get(|| self.assume(client)).await
    }

    async fn assume(
        &self,
        client: &reqwest::Client,
    ) -> Result<(Credentials, SystemTime), GatewayError> {
        let body = assume_role_form(&self.role_arn, self.duration_secs);
        let mut request = reqwest::Request::new(reqwest::Method::POST, self.url.clone());
        request.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
        );
        *request.body_mut() = Some(body.into());
        *request.timeout_mut() = Some(STS_TIMEOUT);
        let base = self.base.get().await?;
        sign_request(&mut request, &base, &self.region, "sts", SystemTime::now())?;
        let response = send(client, request, STS_TIMEOUT).await?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| transport_error(&e, STS_TIMEOUT))?;
        if !(200..300).contains(&status) {
            let code = xml_text(&text, "Code").unwrap_or_default();
            let message = xml_text(&text, "Message").unwrap_or_default();
            return Err(GatewayError::UpstreamBadResponse(format!(
                "Could not assume the role {} for Amazon Bedrock: STS answered HTTP {status} {code}: {message}",
                self.role_arn
            )));
        }
        let now = SystemTime::now();
        parse_assume_role(&text, now + Duration::from_secs(self.duration_secs)).map_err(|what| {
            GatewayError::UpstreamBadResponse(format!(
                "Could not assume the role {} for Amazon Bedrock: the STS answer {what}.",
                self.role_arn
            ))
        })
    }
}

/// The form body of `AssumeRole` (Query protocol).
pub fn assume_role_form(role_arn: &str, duration_secs: u64) -> String {
    format!(
        "Action=AssumeRole&Version=2011-06-15&RoleArn={}&RoleSessionName={SESSION_NAME}&DurationSeconds={duration_secs}",
        form_encode(role_arn)
    )
}

fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The temporary keys and their expiry (`fallback_expiry` if STS gave none) from an
/// `AssumeRoleResponse` document.
pub fn parse_assume_role(
    xml: &str,
    fallback_expiry: SystemTime,
) -> Result<(Credentials, SystemTime), &'static str> {
    let creds = xml_text(xml, "Credentials").ok_or("has no Credentials element")?;
    let id = xml_text(&creds, "AccessKeyId").ok_or("has no AccessKeyId")?;
    let secret = xml_text(&creds, "SecretAccessKey").ok_or("has no SecretAccessKey")?;
    let token = xml_text(&creds, "SessionToken");
    let expiry = xml_text(&creds, "Expiration")
        .and_then(|e| {
            aws_smithy_types::DateTime::from_str(
                e.trim(),
                aws_smithy_types::date_time::Format::DateTimeWithOffset,
            )
            .ok()
        })
        .and_then(|dt| SystemTime::try_from(dt).ok())
        .unwrap_or(fallback_expiry);
    Ok((
        Credentials::new(id, secret, token, Some(expiry), "AssumeRole"),
        expiry,
    ))
}

/// The unescaped text between the first `<tag>` and its `</tag>` (a targeted reader for the
/// small, fixed STS documents; no attributes or namespaces on these elements).
pub fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml.get(start..)?.find(&close)?;
    let raw = xml.get(start..end)?;
    Some(
        raw.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESPONSE: &str =
        include_str!("../../../tests/fixtures/bedrock/sts_assume_role_response.xml");

    #[test]
    fn form_body_is_encoded() {
        assert_eq!(
            assume_role_form("arn:aws:iam::123456789012:role/demo", 900),
            "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdemo&RoleSessionName=ai-gateway-bedrock&DurationSeconds=900"
        );
    }

    #[test]
    fn parses_the_assume_role_answer() {
        let fallback = SystemTime::UNIX_EPOCH;
        let (c, expiry) = parse_assume_role(RESPONSE, fallback).unwrap();
        assert_eq!(c.access_key_id(), "ASIATEMPKEY");
        assert_eq!(c.secret_access_key(), "temp/secret+key");
        assert_eq!(c.session_token(), Some("FwoGZX&token"));
        assert_eq!(
            expiry
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            4_102_444_800
        );
        assert!(parse_assume_role("<ErrorResponse/>", fallback).is_err());
        let no_expiry = RESPONSE.replace("<Expiration>2100-01-01T00:00:00Z</Expiration>", "");
        assert_eq!(parse_assume_role(&no_expiry, fallback).unwrap().1, fallback);
    }

    #[test]
    fn reads_error_documents() {
        let xml = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not &lt;allowed&gt;</Message></Error></ErrorResponse>";
        assert_eq!(xml_text(xml, "Code").as_deref(), Some("AccessDenied"));
        assert_eq!(xml_text(xml, "Message").as_deref(), Some("not <allowed>"));
        assert_eq!(xml_text(xml, "Nope"), None);
    }
}
