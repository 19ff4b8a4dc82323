//! Our extension: gateway API keys (top-level `api_keys:`, and `auth:` for its settings).
//!
//! ```yaml
//! api_keys:
//!   - name: team-a
//!     key: $TEAM_A_KEY          # $ENV, a file path, or the key itself (as provider keys)
//!     endpoints: [chat, ab-route]   # optional: endpoint or route names; absent = all
//! auth:
//!   exempt_paths: [/health, /metrics]   # the default, plus the gRPC health service's methods
//! ```
//!
//! No `api_keys` section means no authentication, as in MLflow. Each key is resolved by the
//! secret rules, a trailing line break dropped (as for provider keys put in a header), and
//! then only its SHA-256 digest is kept: the key itself is not in the loaded config. Errors are
//! located like every other and never show a key.

use std::collections::HashSet;

use crate::auth::KeyDigest;
use crate::config::node::Node;
use crate::config::reader::{Ctx, Obj, Res, index};
use crate::config::suggest;

const KEY_KEYS: &[&str] = &["name", "key", "endpoints"];
const AUTH_KEYS: &[&str] = &["exempt_paths"];

/// Paths served without a key unless `auth.exempt_paths` says otherwise: the health checks,
/// REST and gRPC (load balancers and orchestrators probe them without credentials), and the
/// metrics scrape. Reflection is not exempt: with keys, describing the API needs one too.
pub const DEFAULT_EXEMPT_PATHS: &[&str] = &[
    "/health",
    "/metrics",
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
];

/// Keys shorter than this are accepted with a warning.
const SHORT_KEY: usize = 16;

/// Gateway authentication: who may call, and which paths need no key.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The keys, in file order.
    pub keys: Vec<ApiKey>,
    /// Request paths served without a key (exact matches).
    pub exempt_paths: Vec<String>,
}

/// One `api_keys[]` entry.
#[derive(Debug, Clone)]
pub struct ApiKey {
    /// Unique name (shown in 403 messages and access logs; not a secret).
    pub name: String,
    /// SHA-256 of the key.
    pub digest: KeyDigest,
    /// The endpoint and route names the key may use; `None` = every one.
    pub endpoints: Option<Vec<String>>,
}

/// Parses `api_keys` and `auth` from the top-level mapping. `names` are every endpoint and
/// route name (grants must name one of them).
pub(crate) fn parse(ctx: &mut Ctx<'_>, top: &Obj<'_>, names: &[&str]) -> Res<Option<AuthConfig>> {
    let Some(keys_node) = top.opt("api_keys") else {
        if top.opt("auth").is_some() {
            return Err(ctx.err(
                "auth",
                top.key_pos("auth"),
                "'auth' has no effect without 'api_keys': authentication is off until at least one key is configured",
            ));
        }
        return Ok(None);
    };
    let items = ctx.list("api_keys", keys_node)?;
    if items.is_empty() {
        return Err(ctx.err(
            "api_keys",
            keys_node.pos,
            "no keys: an empty list would refuse every request; remove 'api_keys' to turn authentication off",
        ));
    }
    let mut keys: Vec<ApiKey> = Vec::with_capacity(items.len());
    for (i, node) in items.iter().enumerate() {
        let path = index("api_keys", i);
        let entry = Obj::new(ctx, &path, node, "an API key mapping")?;
        let key = parse_key(ctx, &entry, names)?;
        if let Some(other) = keys.iter().find(|k| k.name == key.name) {
            return Err(ctx.err(
                &entry.path_of("name"),
                entry.pos_of("name"),
                format!("the name '{}' is used by another key", other.name),
            ));
        }
        if let Some(other) = keys.iter().find(|k| k.digest == key.digest) {
            return Err(ctx.err(
                &entry.path_of("key"),
                entry.pos_of("key"),
                format!(
                    "the same key as '{}': each key must be different, or a caller could not be told apart",
                    other.name
                ),
            ));
        }
        keys.push(key);
    }
    let exempt_paths = match top.opt("auth") {
        Some(node) => parse_auth(ctx, node)?,
        None => DEFAULT_EXEMPT_PATHS
            .iter()
            .map(|p| (*p).to_owned())
            .collect(),
    };
    Ok(Some(AuthConfig { keys, exempt_paths }))
}

fn parse_key(ctx: &mut Ctx<'_>, entry: &Obj<'_>, names: &[&str]) -> Res<ApiKey> {
    entry.check_keys(ctx, KEY_KEYS)?;
    let name = entry.str_req(ctx, "name")?;
    if name.is_empty() {
        return Err(ctx.err(
            &entry.path_of("name"),
            entry.pos_of("name"),
            "the name must not be empty",
        ));
    }
    let secret = entry.secret_req(ctx, "key")?;
    // A key file's trailing line break cannot be sent in a header: drop it, as for provider keys.
    let key = secret.expose().trim_end_matches(['\r', '\n']);
    let key_path = entry.path_of("key");
    if key.is_empty() {
        return Err(ctx.err(&key_path, entry.pos_of("key"), "the key is empty"));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ctx.err(
            &key_path,
            entry.pos_of("key"),
            "the key may contain only visible ASCII characters (no spaces), as a Bearer token must",
        ));
    }
    if key.len() < SHORT_KEY {
        ctx.warn(
            &key_path,
            entry.pos_of("key"),
            format!("the key of '{name}' is shorter than {SHORT_KEY} characters: easy to guess"),
        );
    }
    let endpoints = match entry.opt("endpoints") {
        Some(node) => Some(parse_grant(ctx, &entry.path_of("endpoints"), node, names)?),
        None => None,
    };
    Ok(ApiKey {
        name: name.to_owned(),
        digest: KeyDigest::of(key),
        endpoints,
    })
}

/// A key's `endpoints`: known, distinct endpoint or route names.
fn parse_grant(ctx: &Ctx<'_>, path: &str, node: &Node, names: &[&str]) -> Res<Vec<String>> {
    let items = ctx.list(path, node)?;
    if items.is_empty() {
        return Err(ctx.err(
            path,
            node.pos,
            "an empty list allows nothing; omit 'endpoints' to allow every endpoint and route",
        ));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let item_path = index(path, i);
        let name = ctx.string(&item_path, item)?;
        if !names.contains(&name) {
            let hint = suggest::closest(name, names)
                .map(|s| format!(", did you mean '{s}'?"))
                .unwrap_or_default();
            return Err(ctx.err(
                &item_path,
                item.pos,
                format!("'{name}' is not an endpoint or route of this configuration{hint}"),
            ));
        }
        if !seen.insert(name) {
            return Err(ctx.err(&item_path, item.pos, format!("'{name}' is listed twice")));
        }
        out.push(name.to_owned());
    }
    Ok(out)
}

/// `auth: {exempt_paths: [...]}`.
fn parse_auth(ctx: &Ctx<'_>, node: &Node) -> Res<Vec<String>> {
    let auth = Obj::new(ctx, "auth", node, "a mapping")?;
    auth.check_keys(ctx, AUTH_KEYS)?;
    let Some(list) = auth.entry("exempt_paths").map(|(_, v)| v) else {
        return Ok(DEFAULT_EXEMPT_PATHS
            .iter()
            .map(|p| (*p).to_owned())
            .collect());
    };
    // An explicit null or [] exempts nothing: every path needs a key.
    if list.is_null() {
        return Ok(Vec::new());
    }
    let path = auth.path_of("exempt_paths");
    let mut out = Vec::new();
    for (i, item) in ctx.list(&path, list)?.iter().enumerate() {
        let item_path = index(&path, i);
        let p = ctx.string(&item_path, item)?;
        if !p.starts_with('/') || p.contains(['?', '#']) {
            return Err(ctx.err(
                &item_path,
                item.pos,
                format!(
                    "'{p}' is not a request path: it must start with '/' and have no query (paths match exactly, e.g. /health)"
                ),
            ));
        }
        out.push(p.to_owned());
    }
    Ok(out)
}
