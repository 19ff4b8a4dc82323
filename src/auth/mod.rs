//! Gateway API keys at run time: who is calling ([`KeySet::authenticate`]), and what they may
//! call ([`Access`]).
//!
//! Authentication and authorisation are split on purpose. A request is authenticated once, by
//! [`AuthLayer`] in front of every surface, from its `Authorization: Bearer <key>` header (gRPC
//! metadata `authorization` is that same header); the outcome travels in the request's
//! extensions as an [`Access`], which the surfaces put into `CallOptions`. The service then
//! authorises each call by the endpoint or route name it resolves, which only it knows for
//! every surface (OpenAI's `/v1/*` routes learn the name from the body).
//!
//! The key set belongs to the config snapshot, so a reload swaps keys with everything else.
//! With no `api_keys` configured there is no key set, nothing is checked, and the layer costs
//! one snapshot load per request. A call that reaches the service without an [`Access`] while
//! keys are configured is refused: a surface that forgot to pass the caller's access fails
//! closed rather than open.
//!
//! Keys are held only as SHA-256 digests ([`KeyDigest`]); the `Authorization` header is removed
//! from the request once read, so nothing downstream (logs, traces, `Debug` of a request) can
//! show it.

mod digest;
mod layer;

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use http::HeaderMap;
use http::request::Parts;

use crate::config::AuthConfig;
use crate::error::GatewayError;

pub use digest::KeyDigest;
pub use layer::{AuthLayer, AuthService};

/// The configured keys of one config, ready to check requests against.
#[derive(Debug)]
pub struct KeySet {
    /// Each key's digest with what it grants, in config order.
    keys: Vec<(KeyDigest, Arc<Grant>)>,
    /// Paths served without a key.
    exempt_paths: Vec<Box<str>>,
}

/// What one key may call; shared by every request made with it.
#[derive(Debug)]
pub struct Grant {
    name: Box<str>,
    /// `None` = every endpoint and route.
    targets: Option<HashSet<Box<str>>>,
}

impl Grant {
    /// The key's configured name (not a secret: fit for access logs).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the key may call the endpoint or route `target`.
    pub fn allows(&self, target: &str) -> bool {
        self.targets.as_ref().is_none_or(|t| t.contains(target))
    }
}

/// The caller's right to use endpoints and routes, as authentication established it.
/// The default is "not checked": what a request has when no authentication ran.
#[derive(Debug, Clone, Default)]
pub struct Access(Checked);

#[derive(Debug, Clone, Default)]
enum Checked {
    /// No authentication ran: no keys were configured (or the caller bypassed the layer).
    #[default]
    Unchecked,
    /// The path is exempt from authentication.
    Exempt,
    /// Authenticated with this key.
    Key(Arc<Grant>),
}

impl Access {
    /// Access for a request on an exempt path: everything, as without keys.
    pub fn exempt() -> Access {
        Access(Checked::Exempt)
    }

    /// The key the caller authenticated with, if any.
    pub fn grant(&self) -> Option<&Grant> {
        match &self.0 {
            Checked::Key(g) => Some(g),
            Checked::Unchecked | Checked::Exempt => None,
        }
    }

    /// What the caller may use under a config with keys (`keys_configured`) or without:
    /// `Ok(None)` = everything, `Ok(Some(grant))` = what the grant allows.
    pub fn scope(&self, keys_configured: bool) -> Result<Option<&Grant>, GatewayError> {
        match &self.0 {
            Checked::Unchecked if keys_configured => Err(missing_key()),
            Checked::Unchecked | Checked::Exempt => Ok(None),
            Checked::Key(g) => Ok(Some(g)),
        }
    }

    /// Whether the caller may call `target` (an endpoint or route name): a 403 /
    /// `PERMISSION_DENIED` if the key does not allow it, whether or not `target` exists (so a
    /// restricted key cannot probe for names).
    pub fn authorize(&self, keys_configured: bool, target: &str) -> Result<(), GatewayError> {
        match self.scope(keys_configured)? {
            Some(g) if !g.allows(target) => Err(GatewayError::PermissionDenied(format!(
                "The API key '{}' is not allowed to use '{target}'.",
                g.name
            ))),
            Some(_) | None => Ok(()),
        }
    }
}

impl Access {
    /// What authentication put in a request's extensions (the default, "not checked", when
    /// it put nothing).
    pub fn of(extensions: &http::Extensions) -> Access {
        extensions.get::<Access>().cloned().unwrap_or_default()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Access {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Access::of(&parts.extensions))
    }
}

fn missing_key() -> GatewayError {
    GatewayError::Unauthenticated(
        "Missing API key: send it as 'Authorization: Bearer <key>'.".into(),
    )
}

impl KeySet {
    /// The key set of a loaded config.
    pub fn new(config: &AuthConfig) -> KeySet {
        let keys = config
            .keys
            .iter()
            .map(|k| {
                let grant = Grant {
                    name: k.name.as_str().into(),
                    targets: k
                        .endpoints
                        .as_ref()
                        .map(|names| names.iter().map(|n| n.as_str().into()).collect()),
                };
                (k.digest.clone(), Arc::new(grant))
            })
            .collect();
        KeySet {
            keys,
            exempt_paths: config
                .exempt_paths
                .iter()
                .map(|p| p.as_str().into())
                .collect(),
        }
    }

    /// Whether `path` is served without a key.
    pub fn is_exempt(&self, path: &str) -> bool {
        self.exempt_paths.iter().any(|p| **p == *path)
    }

    /// The access of a request with these headers: its `Authorization: Bearer` key looked up
    /// among the configured ones (in constant time), or a 401 / `UNAUTHENTICATED`.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Access, GatewayError> {
        let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
        let value = match (values.next(), values.next()) {
            (None, _) => return Err(missing_key()),
            (Some(v), None) => v,
            (Some(_), Some(_)) => return Err(malformed()),
        };
        let token = bearer_token(value.as_bytes()).ok_or_else(malformed)?;
        let presented = KeyDigest::of(token);
        match digest::find(self.keys.iter().map(|(d, _)| d), &presented)
            .and_then(|i| self.keys.get(i))
        {
            Some((_, grant)) => Ok(Access(Checked::Key(grant.clone()))),
            None => Err(GatewayError::Unauthenticated("Invalid API key.".into())),
        }
    }
}

fn malformed() -> GatewayError {
    GatewayError::Unauthenticated(
        "Malformed Authorization header: expected one 'Authorization: Bearer <key>'.".into(),
    )
}

/// The token of `Bearer <token>` (scheme case-insensitive, RFC 9110 §11.1), if that is what
/// the header holds.
fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    const SCHEME: &[u8] = b"bearer ";
    let (scheme, rest) = value.split_at_checked(SCHEME.len())?;
    if !scheme.eq_ignore_ascii_case(SCHEME) {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests;
