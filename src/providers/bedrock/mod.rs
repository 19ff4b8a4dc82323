//! The Amazon Bedrock provider (spec §3.7): chat through the Converse API
//! (`POST {base}/model/{id}/converse`), streamed chat through ConverseStream (AWS event-stream
//! frames, `stream.rs`), completions through InvokeModel per model family (`invoke.rs`) and
//! Titan-style embeddings (one InvokeModel per input, as MLflow does).
//!
//! The base URL is `bedrock_api_base`, else `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`, else
//! `https://bedrock-runtime.{region}.amazonaws.com`. Requests are signed with SigV4 (service
//! `bedrock`) or carry a Bedrock API key (`auth.rs`, `sts.rs`, `metadata.rs`); everything that
//! can be fixed (URLs, headers, credentials other than an assumed role's or a metadata
//! service's, which expire) is fixed when the endpoint is built.

pub mod auth;
pub mod convert;
pub mod invoke;
pub mod metadata;
pub mod stream;
pub mod sts;
pub mod wire;

use std::time::Duration;

use http::{HeaderMap, HeaderValue, header};

use crate::config::{AwsAuth, BedrockConfig, ProviderKind, Secret};
use crate::error::GatewayError;
use crate::pb::v1 as pb;

use super::http::{Redactor, encode_json, endpoint_url, json_headers, json_post, read_json, send};
use super::{Call, ChunkStream, Upstream, unix_now};
use auth::{Auth, Env};

/// MLflow's 501 for streaming with a Bedrock API key.
pub const BEARER_NO_STREAM: &str = "Streaming is not yet supported for Bedrock API key (bearer token) auth. Use a non-streaming chat request instead.";
/// MLflow's 501 for embeddings with a Bedrock API key.
pub const BEARER_NO_EMBEDDINGS: &str = "Embeddings are not supported for Bedrock API key (bearer token) auth. Use access_keys or default_chain auth mode for embeddings.";

/// An endpoint served by Amazon Bedrock.
#[derive(Debug)]
pub struct Bedrock {
    client: reqwest::Client,
    /// The Bedrock model id (or inference profile ARN), as configured.
    model: String,
    auth: Auth,
    headers: HeaderMap,
    converse_url: reqwest::Url,
    converse_stream_url: reqwest::Url,
    invoke_url: reqwest::Url,
    redactor: Redactor,
}

impl Bedrock {
    /// Builds the endpoint's provider from its validated config and the process environment.
    pub fn new(
        client: reqwest::Client,
        model: Option<&str>,
        cfg: &BedrockConfig,
    ) -> Result<Self, String> {
        Self::with_env(client, model, cfg, &auth::process_env)
    }

    /// [`Bedrock::new`] with an injected environment (tests).
    pub fn with_env(
        client: reqwest::Client,
        model: Option<&str>,
        cfg: &BedrockConfig,
        env: Env<'_>,
    ) -> Result<Self, String> {
        let model = model
            .filter(|m| !m.trim().is_empty())
            .ok_or("Amazon Bedrock needs model.name: the Bedrock model id (for example anthropic.claude-3-5-sonnet-20240620-v1:0)")?
            .to_owned();
        let configured_region = match &cfg.aws {
            AwsAuth::BearerToken { region, .. }
            | AwsAuth::Role { region, .. }
            | AwsAuth::IdAndKey { region, .. }
            | AwsAuth::Default { region } => region.as_deref(),
        };
        let region = auth::region(configured_region, env);
        let base = cfg
            .api_base
            .clone()
            .or_else(|| env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME"));
        let sigv4_region = || {
            region.clone().ok_or_else(|| {
                "Amazon Bedrock needs a region to sign requests: set aws_config.aws_region (or AWS_REGION / AWS_DEFAULT_REGION)".to_owned()
            })
        };
        let mut headers = json_headers();
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        let mut secrets: Vec<Secret> = Vec::new();
        let auth = match &cfg.aws {
            AwsAuth::BearerToken { token, .. } => {
                if base.is_none() && region.is_none() {
                    // MLflow's text (it answers it with a 400 per request; refused at start here).
                    return Err("aws_region_name is required for Bedrock API key authentication. The API key can only be used in the AWS Region it was generated in. Set aws_config.aws_region.".into());
                }
                super::http::insert_secret(&mut headers, "authorization", "Bearer ", token)?;
                secrets.push(token.clone());
                Auth::Bearer(headers[header::AUTHORIZATION].clone())
            }
            AwsAuth::IdAndKey {
                access_key_id,
                secret_access_key,
                session_token,
                ..
            } => {
                secrets.push(secret_access_key.clone());
                secrets.extend(session_token.iter().cloned());
                Auth::Static {
                    creds: auth::configured_keys(
                        access_key_id,
                        secret_access_key.expose().trim(),
                        session_token.as_ref().map(|t| t.expose().trim()),
                    ),
                    region: sigv4_region()?,
                    source: "aws_config keys",
                }
            }
            AwsAuth::Default { .. } => {
                let region = sigv4_region()?;
                match auth::default_chain(env)? {
                    auth::ChainCredentials::Static(creds) => Auth::Static {
                        creds,
                        region,
                        source: "default chain",
                    },
                    auth::ChainCredentials::Metadata(provider) => {
                        Auth::Metadata { provider, region }
                    }
                }
            }
            AwsAuth::Role {
                role_arn,
                session_length_seconds,
                ..
            } => {
                let region = sigv4_region()?;
                let base_creds =
                    auth::default_chain(env).map_err(|e| format!("to assume {role_arn}: {e}"))?;
                Auth::Role {
                    provider: Box::new(sts::RoleProvider::new(
                        role_arn,
                        *session_length_seconds,
                        base_creds,
                        &region,
                        env,
                    )?),
                    region,
                }
            }
        };
        let base = match base {
            Some(b) => b,
            None => format!(
                "https://bedrock-runtime.{}.amazonaws.com",
                region.as_deref().unwrap_or_default()
            ),
        };
        // botocore percent-encodes the id (`:` too); MLflow's API-key path keeps `:`. Both
        // reach the same model; inference-profile ARNs need `/` encoded either way.
        let id = encode_model_id(&model, auth.is_bearer());
        Ok(Bedrock {
            client,
            converse_url: endpoint_url(&base, &format!("model/{id}/converse"))?,
            converse_stream_url: endpoint_url(&base, &format!("model/{id}/converse-stream"))?,
            invoke_url: endpoint_url(&base, &format!("model/{id}/invoke"))?,
            model,
            auth,
            headers,
            redactor: Redactor::new(secrets),
        })
    }

    /// Sends an authorised JSON POST.
    async fn post(
        &self,
        url: &reqwest::Url,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<(reqwest::Response, Redactor), GatewayError> {
        let mut request = json_post(url, &self.headers, body, timeout);
        self.auth.authorize(&self.client, &mut request).await?;
        // Assumed-role and default-chain credentials are resolved at run time: redact what this
        // request carries, not only what the config held.
        let redactor = self.redactor.for_request(&request);
        Ok((send(&self.client, request, timeout).await?, redactor))
    }
}

/// A model id as a URL path segment: everything but RFC 3986 unreserved characters
/// percent-encoded (optionally keeping `:`).
pub fn encode_model_id(id: &str, keep_colon: bool) -> String {
    let mut out = String::with_capacity(id.len() + 8);
    for b in id.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_colon && b == b':')
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Upstream for Bedrock {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Bedrock
    }

    fn supports(&self, call: Call) -> bool {
        match call {
            Call::Chat | Call::ChatStream | Call::Completions | Call::Embeddings => true,
            Call::CompletionsStream => false,
        }
    }

    async fn chat(
        &self,
        req: &pb::ChatRequest,
        timeout: Duration,
    ) -> Result<pb::ChatResponse, GatewayError> {
        let body = encode_json(&convert::chat_body(req)?)?;
        let (resp, redactor) = self.post(&self.converse_url, body, timeout).await?;
        let wire: wire::ConverseResponse = read_json(resp, timeout, &redactor).await?;
        Ok(convert::chat_response(wire, &self.model, unix_now()))
    }

    async fn chat_stream(
        &self,
        req: &pb::ChatRequest,
        timeout: Duration,
    ) -> Result<ChunkStream<pb::ChatChunk>, GatewayError> {
        if self.auth.is_bearer() {
            return Err(GatewayError::NotImplemented(BEARER_NO_STREAM.into()));
        }
        let body = encode_json(&convert::chat_body(req)?)?;
        let (resp, redactor) = self.post(&self.converse_stream_url, body, timeout).await?;
        let resp = stream::open(resp, timeout, &redactor).await?;
        Ok(stream::chat_chunks(
            resp,
            self.model.clone(),
            timeout,
            redactor,
        ))
    }

    async fn complete(
        &self,
        req: &pb::CompletionRequest,
        timeout: Duration,
    ) -> Result<pb::CompletionResponse, GatewayError> {
        let family = invoke::Family::of(&self.model)?;
        let body = invoke::complete_body(family, req)?;
        let (resp, redactor) = self.post(&self.invoke_url, body, timeout).await?;
        let answer: serde_json::Value = read_json(resp, timeout, &redactor).await?;
        invoke::complete_response(family, answer, &self.model, unix_now())
            .map_err(|e| redacted(e, &redactor))
    }

    async fn embed(
        &self,
        req: &pb::EmbedRequest,
        timeout: Duration,
    ) -> Result<pb::EmbedResponse, GatewayError> {
        use futures::{StreamExt, TryStreamExt};
        if self.auth.is_bearer() {
            return Err(GatewayError::NotImplemented(BEARER_NO_EMBEDDINGS.into()));
        }
        let bodies = invoke::embed_bodies(req)?;
        // One call per input, as Bedrock's Titan API takes one text; a few run at once
        // (MLflow runs them one after another), in input order.
        let answers: Vec<wire::EmbedAnswer> = futures::stream::iter(bodies)
            .map(|body| async move {
                let (resp, redactor) = self.post(&self.invoke_url, body, timeout).await?;
                read_json::<wire::EmbedAnswer>(resp, timeout, &redactor).await
            })
            .buffered(EMBED_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(invoke::embed_response(
            answers,
            &self.model,
            req.encoding_format.as_deref() == Some("base64"),
        ))
    }
}

/// How many embedding calls of one request run at once.
const EMBED_CONCURRENCY: usize = 8;

/// `e` with every secret removed from its text: a parse error of an upstream answer quotes the
/// value it choked on, which may be a credential the upstream echoed.
fn redacted(e: GatewayError, redactor: &Redactor) -> GatewayError {
    match e {
        GatewayError::UpstreamBadResponse(message) => {
            GatewayError::UpstreamBadResponse(redactor.text(&message))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn invoke_parse_errors_never_quote_a_secret() {
        // An upstream echoing the secret key where the answer's text belongs: serde's message
        // quotes the value it could not take.
        let answer = serde_json::json!({"results": "very-secret-key-0123"});
        let e = invoke::complete_response(invoke::Family::Amazon, answer, "amazon.titan", 0)
            .unwrap_err();
        assert!(e.to_string().contains("very-secret-key-0123"), "{e}");
        let redactor = Redactor::new([Secret::new("very-secret-key-0123")]);
        let e = redacted(e, &redactor);
        assert!(!e.to_string().contains("very-secret"), "{e}");
        assert!(e.to_string().contains("[redacted]"), "{e}");
        assert!(matches!(e, GatewayError::UpstreamBadResponse(_)));
    }

    fn client() -> reqwest::Client {
        super::super::http::build_client(Duration::from_secs(1)).unwrap()
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn keys(region: Option<&str>) -> BedrockConfig {
        BedrockConfig {
            aws: AwsAuth::IdAndKey {
                access_key_id: "AKID".into(),
                secret_access_key: Secret::new("very-secret-key"),
                session_token: None,
                region: region.map(str::to_owned),
            },
            api_base: None,
        }
    }

    #[test]
    fn urls_encode_the_model_id() {
        let env = env_of(&[]);
        let p = Bedrock::with_env(
            client(),
            Some("us.anthropic.claude-3-5-sonnet-20240620-v1:0"),
            &keys(Some("us-west-2")),
            &env,
        )
        .unwrap();
        assert_eq!(
            p.converse_url.as_str(),
            "https://bedrock-runtime.us-west-2.amazonaws.com/model/us.anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
        );
        assert!(
            p.converse_stream_url
                .as_str()
                .ends_with("%3A0/converse-stream")
        );
        assert!(p.invoke_url.as_str().ends_with("%3A0/invoke"));
        assert!(!format!("{p:?}").contains("very-secret-key"));
        assert_eq!(
            encode_model_id("arn:aws:bedrock:us-east-1:1:inference-profile/x.y:0", true),
            "arn:aws:bedrock:us-east-1:1:inference-profile%2Fx.y:0"
        );
    }

    #[test]
    fn base_url_precedence_and_region_errors() {
        let env = env_of(&[
            ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://127.0.0.1:9/br"),
            ("AWS_REGION", "eu-central-1"),
        ]);
        let p = Bedrock::with_env(client(), Some("amazon.titan"), &keys(None), &env).unwrap();
        assert_eq!(
            p.converse_url.as_str(),
            "http://127.0.0.1:9/br/model/amazon.titan/converse"
        );
        let mut cfg = keys(None);
        cfg.api_base = Some("http://127.0.0.1:7".into());
        let p = Bedrock::with_env(client(), Some("m.x"), &cfg, &env).unwrap();
        assert!(
            p.invoke_url
                .as_str()
                .starts_with("http://127.0.0.1:7/model/")
        );

        let none = env_of(&[]);
        let err = Bedrock::with_env(client(), Some("m.x"), &keys(None), &none).unwrap_err();
        assert!(err.contains("aws_region"), "{err}");
        let bearer = BedrockConfig {
            aws: AwsAuth::BearerToken {
                token: Secret::new("bedrock-api-key-123"),
                region: None,
            },
            api_base: None,
        };
        let err = Bedrock::with_env(client(), Some("m.x"), &bearer, &none).unwrap_err();
        assert!(err.starts_with("aws_region_name is required"), "{err}");
        assert!(Bedrock::with_env(client(), None, &keys(Some("r")), &none).is_err());
    }

    #[test]
    fn bearer_keeps_colons_and_marks_the_key_sensitive() {
        let bearer = BedrockConfig {
            aws: AwsAuth::BearerToken {
                token: Secret::new("bedrock-api-key-123"),
                region: Some("us-east-1".into()),
            },
            api_base: None,
        };
        let p = Bedrock::with_env(client(), Some("a.b:0"), &bearer, &env_of(&[])).unwrap();
        assert_eq!(
            p.converse_url.as_str(),
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/a.b:0/converse"
        );
        let h = &p.headers["authorization"];
        assert_eq!(h, "Bearer bedrock-api-key-123");
        assert!(h.is_sensitive());
        assert!(!format!("{p:?}").contains("bedrock-api-key-123"));
    }

    #[test]
    fn default_chain_failure_is_a_startup_error() {
        let cfg = BedrockConfig {
            aws: AwsAuth::Default {
                region: Some("us-east-1".into()),
            },
            api_base: None,
        };
        // Instance metadata is probed last: point it at a closed local port (no real network).
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://127.0.0.1:{}", l.local_addr().unwrap().port())
        };
        let no_metadata = env_of(&[
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &closed),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials"),
        ]);
        let started = std::time::Instant::now();
        let err = Bedrock::with_env(client(), Some("m.x"), &cfg, &no_metadata).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(
            err,
            format!(
                "no AWS credentials found for Amazon Bedrock. Tried: the environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; the shared credentials file /nonexistent/credentials (not readable); container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and AWS_CONTAINER_CREDENTIALS_FULL_URI are not set); EC2 instance metadata at {closed} (IMDSv2 session token: could not connect). SSO and web identity are not supported: set aws_access_key_id/aws_secret_access_key (or aws_bearer_token) in aws_config, or export the keys"
            )
        );
        let disabled = env_of(&[
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &closed),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]);
        let err = Bedrock::with_env(client(), Some("m.x"), &cfg, &disabled).unwrap_err();
        assert!(
            err.contains("; EC2 instance metadata (disabled by AWS_EC2_METADATA_DISABLED). SSO"),
            "{err}"
        );
        let role = BedrockConfig {
            aws: AwsAuth::Role {
                role_arn: "arn:aws:iam::1:role/r".into(),
                session_length_seconds: 900,
                region: Some("us-east-1".into()),
            },
            api_base: None,
        };
        let err = Bedrock::with_env(client(), Some("m.x"), &role, &disabled).unwrap_err();
        assert!(err.starts_with("to assume arn:aws:iam::1:role/r"), "{err}");
        let env = env_of(&[("AWS_ACCESS_KEY_ID", "A"), ("AWS_SECRET_ACCESS_KEY", "S")]);
        assert!(Bedrock::with_env(client(), Some("m.x"), &role, &env).is_ok());
    }
}
