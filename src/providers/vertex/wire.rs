//! Vertex AI's own wire types: the Google credential files (service-account key, gcloud
//! "authorized user" file), the OAuth2 token exchange (JWT claims and the token answer), and the
//! one request shape that differs from Google AI Studio: a Gemini body whose `functionCall` /
//! `functionResponse` parts carry no `id` (Vertex refuses it with 400 INVALID_ARGUMENT, while
//! AI Studio wants it). Everything else on the wire is Gemini's, Anthropic's or OpenAI's, and
//! lives in those modules.

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::providers::gemini::wire as gemini;

// ---------------------------------------------------------------------------------------------
// Credentials and the token exchange

/// A Google credential file: a service-account key (`"type": "service_account"`) or the
/// gcloud application-default file (`"type": "authorized_user"`). Only the fields we use; the
/// others (`project_id`, `auth_uri`, ...) are ignored.
#[derive(Deserialize)]
pub struct CredentialFile {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub client_email: Option<String>,
    pub private_key: Option<String>,
    pub private_key_id: Option<String>,
    pub token_uri: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub refresh_token: Option<String>,
}

/// The JOSE header of the signed assertion.
#[derive(Serialize)]
pub struct JwtHeader<'a> {
    pub alg: &'static str,
    pub typ: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<&'a str>,
}

/// The claims of the assertion exchanged for an access token (RFC 7523, Google's profile).
#[derive(Serialize)]
pub struct JwtClaims<'a> {
    pub iss: &'a str,
    pub scope: &'static str,
    pub aud: &'a str,
    pub iat: u64,
    pub exp: u64,
}

/// A successful token answer.
#[derive(Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    /// Seconds; Google always sends it (3599), a missing one is taken as one hour.
    pub expires_in: Option<u64>,
}

/// A failed token answer (`{"error": "invalid_grant", "error_description": "..."}`).
#[derive(Deserialize)]
pub struct TokenError {
    pub error: Option<String>,
    pub error_description: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Gemini on Vertex: the body without function-call ids

/// A `generateContent` body serialised like Gemini's, except that function-call and
/// function-response parts omit `id`. It borrows the Gemini body, so nothing is copied.
pub struct VertexGenerateBody<'b, 'a>(pub &'b gemini::GenerateBody<'a>);

impl Serialize for VertexGenerateBody<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let body = self.0;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("contents", &Contents(&body.contents))?;
        if let Some(si) = &body.system_instruction {
            map.serialize_entry("system_instruction", si)?;
        }
        if let Some(gc) = &body.generation_config {
            map.serialize_entry("generationConfig", gc)?;
        }
        if !body.tools.is_empty() {
            map.serialize_entry("tools", &body.tools)?;
        }
        if let Some(tc) = &body.tool_config {
            map.serialize_entry("toolConfig", tc)?;
        }
        map.end()
    }
}

struct Contents<'b, 'a>(&'b [gemini::Content<'a>]);

impl Serialize for Contents<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(ContentNoIds))
    }
}

struct ContentNoIds<'b, 'a>(&'b gemini::Content<'a>);

impl Serialize for ContentNoIds<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("role", self.0.role)?;
        map.serialize_entry("parts", &Parts(&self.0.parts))?;
        map.end()
    }
}

struct Parts<'b, 'a>(&'b [gemini::Part<'a>]);

impl Serialize for Parts<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(PartNoId))
    }
}

struct PartNoId<'b, 'a>(&'b gemini::Part<'a>);

#[derive(Serialize)]
struct CallNoId<'a> {
    name: &'a str,
    args: &'a serde_json::value::RawValue,
}

#[derive(Serialize)]
struct ResponseNoId<'b, 'a> {
    name: &'a str,
    response: &'b gemini::ToolResult<'a>,
}

impl Serialize for PartNoId<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            gemini::Part::FunctionCall {
                function_call,
                thought_signature,
            } => {
                let mut map = s.serialize_map(None)?;
                let call = CallNoId {
                    name: function_call.name,
                    args: function_call.args,
                };
                map.serialize_entry("functionCall", &call)?;
                // The signature stays: Gemini 3 needs it back to continue a tool turn.
                if let Some(sig) = thought_signature {
                    map.serialize_entry("thoughtSignature", sig)?;
                }
                map.end()
            }
            gemini::Part::FunctionResponse { function_response } => {
                let mut map = s.serialize_map(Some(1))?;
                let resp = ResponseNoId {
                    name: function_response.name,
                    response: &function_response.response,
                };
                map.serialize_entry("functionResponse", &resp)?;
                map.end()
            }
            other => other.serialize(s),
        }
    }
}
