//! `model.config` of the cloud providers whose credentials MLflow hands to an SDK credential
//! chain (boto3, databricks-sdk, google-auth): Bedrock, Databricks, Vertex AI. Their
//! credential fields are taken literally (no `$ENV`/file resolution, as in MLflow) but held
//! as [`Secret`].

use crate::config::node::Kind;
use crate::config::reader::{Ctx, Obj, Res, index};
use crate::config::secret::Secret;
use crate::config::types::{AwsAuth, BedrockConfig, OpenAiCompatibleConfig, VertexAiConfig};

pub(crate) fn bedrock(ctx: &mut Ctx<'_>, cfg: &Obj<'_>) -> Res<BedrockConfig> {
    cfg.check_keys(ctx, &["aws_config", "bedrock_api_base"])?;
    let aws_path = cfg.path_of("aws_config");
    let aws_node = cfg.req(ctx, "aws_config")?;
    let aws = Obj::new(ctx, &aws_path, aws_node, "a mapping")?;
    aws.check_keys(
        ctx,
        &[
            "aws_region",
            "aws_bearer_token",
            "aws_role_arn",
            "session_length_seconds",
            "aws_access_key_id",
            "aws_secret_access_key",
            "aws_session_token",
        ],
    )?;
    let region = aws.str_opt(ctx, "aws_region")?.map(str::to_owned);
    let bearer = aws.literal_secret_opt(ctx, "aws_bearer_token")?;
    let role_arn = aws.str_opt(ctx, "aws_role_arn")?;
    let key_id = aws.str_opt(ctx, "aws_access_key_id")?;
    let secret_key = aws.literal_secret_opt(ctx, "aws_secret_access_key")?;
    let session_token = aws.literal_secret_opt(ctx, "aws_session_token")?;
    let session_length_seconds = match aws.int_opt(ctx, "session_length_seconds")? {
        None => 900,
        Some((v, pos)) => u64::try_from(v).ok().filter(|v| *v > 0).ok_or_else(|| {
            ctx.err(
                &aws.path_of("session_length_seconds"),
                pos,
                "must be a positive integer",
            )
        })?,
    };
    // MLflow's pydantic smart union, as observed: bearer token first; both key fields win
    // even over a role ARN; a role ARN alone; else the default chain (a lone key id or
    // secret silently degrades to it in MLflow; we warn).
    let auth = match (bearer, role_arn, key_id, secret_key) {
        (Some(token), _, _, _) => AwsAuth::BearerToken { token, region },
        (None, role, Some(id), Some(secret)) => {
            if role.is_some() {
                ctx.warn(
                    &aws.path_of("aws_role_arn"),
                    aws.key_pos("aws_role_arn"),
                    "ignored: aws_access_key_id and aws_secret_access_key take precedence (as in MLflow)",
                );
            }
            AwsAuth::IdAndKey {
                access_key_id: id.to_owned(),
                secret_access_key: secret,
                session_token,
                region,
            }
        }
        (None, Some(role), id, secret) => {
            if id.is_some() || secret.is_some() {
                ctx.warn(&aws_path, aws.node.pos, "a lone aws_access_key_id/aws_secret_access_key is ignored (as in MLflow); the role is assumed");
            }
            AwsAuth::Role {
                role_arn: role.to_owned(),
                session_length_seconds,
                region,
            }
        }
        (None, None, id, secret) => {
            if id.is_some() || secret.is_some() {
                ctx.warn(
                    &aws_path,
                    aws.node.pos,
                    "aws_access_key_id and aws_secret_access_key must be given together; falling back to the default AWS credential chain (as MLflow does)",
                );
            }
            AwsAuth::Default { region }
        }
    };
    Ok(BedrockConfig {
        aws: auth,
        api_base: cfg
            .str_nonempty(ctx, "bedrock_api_base")?
            .map(str::to_owned),
    })
}

/// databricks / databricks-model-serving. MLflow hands these keys to the Databricks SDK
/// (no `$`/file resolution); we read `host`/`token`/`client_id`/`client_secret`, falling back
/// to `DATABRICKS_HOST`, `DATABRICKS_TOKEN`, `DATABRICKS_CLIENT_ID`, `DATABRICKS_CLIENT_SECRET`
/// like the SDK. Other SDK sources (`~/.databrickscfg`, cloud CLIs) are not supported.
pub(crate) fn databricks(
    ctx: &mut Ctx<'_>,
    cfg: &Obj<'_>,
    model_name: Option<&str>,
) -> Res<OpenAiCompatibleConfig> {
    cfg.check_keys(ctx, &["host", "token", "client_id", "client_secret"])?;
    let from_env = |name: &str| (ctx.env)(name).filter(|v| !v.is_empty());
    let host = match cfg.str_nonempty(ctx, "host")? {
        Some(h) => h.to_owned(),
        None => from_env("DATABRICKS_HOST").ok_or_else(|| {
            ctx.err(
                &cfg.path_of("host"),
                cfg.node.pos,
                "Databricks host is not configured: set 'host' here or the DATABRICKS_HOST environment variable",
            )
        })?,
    };
    let token = match cfg.str_nonempty(ctx, "token")? {
        Some(t) => Some(Secret::new(t)),
        None => from_env("DATABRICKS_TOKEN").map(Secret::new),
    };
    let client_id = cfg
        .str_nonempty(ctx, "client_id")?
        .map(str::to_owned)
        .or_else(|| from_env("DATABRICKS_CLIENT_ID"));
    let client_secret = cfg
        .str_nonempty(ctx, "client_secret")?
        .map(Secret::new)
        .or_else(|| from_env("DATABRICKS_CLIENT_SECRET").map(Secret::new));
    let databricks_oauth = match (client_id, client_secret) {
        (Some(id), Some(secret)) => Some((id, secret)),
        (None, None) => None,
        _ => {
            return Err(ctx.err(
                &cfg.path_of("client_id"),
                cfg.node.pos,
                "client_id and client_secret must be given together",
            ));
        }
    };
    if token.is_none() && databricks_oauth.is_none() {
        ctx.warn(
            cfg.path,
            cfg.node.pos,
            "no Databricks credentials (token, or client_id and client_secret, or DATABRICKS_TOKEN); requests will carry no authentication",
        );
    }
    let mut host = host.trim_end_matches('/').to_owned();
    if !host.contains("://") {
        host = format!("https://{host}");
    }
    // MLflow: Unity Catalog names (`catalog.schema.model`, two dots or more) go to the AI
    // Gateway path; others to serving endpoints.
    let api_base = if model_name.is_some_and(|n| n.matches('.').count() >= 2) {
        format!("{host}/ai-gateway/mlflow/v1")
    } else if host.contains("/serving-endpoints") {
        host
    } else {
        format!("{host}/serving-endpoints")
    };
    Ok(OpenAiCompatibleConfig {
        api_key: token,
        api_base,
        portkey_provider: None,
        portkey_config: None,
        provider_api_key: None,
        databricks_oauth,
    })
}

pub(crate) fn vertex(
    ctx: &Ctx<'_>,
    cfg: &Obj<'_>,
    model_name: Option<&str>,
) -> Res<VertexAiConfig> {
    cfg.check_keys(
        ctx,
        &[
            "vertex_project",
            "vertex_location",
            "vertex_credentials",
            "vertex_anthropic_betas",
            "vertex_api_base",
        ],
    )?;
    let project = cfg.str_req(ctx, "vertex_project")?.to_owned();
    let location = match cfg.str_nonempty(ctx, "vertex_location")? {
        Some(loc)
            if loc
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') =>
        {
            loc.to_owned()
        }
        Some(loc) => {
            return Err(ctx.err(
                &cfg.path_of("vertex_location"),
                cfg.pos_of("vertex_location"),
                format!("vertex_location must contain only lowercase letters, digits, and hyphens; got '{loc}'"),
            ));
        }
        None => {
            let name = model_name.unwrap_or_default().to_lowercase();
            let maas = !name.starts_with("claude")
                && (name.contains('/')
                    || ["mistral", "codestral", "jamba"]
                        .iter()
                        .any(|p| name.starts_with(p))
                    || name.ends_with("-maas"));
            if maas { "us-central1" } else { "global" }.to_owned()
        }
    };
    let betas_path = cfg.path_of("vertex_anthropic_betas");
    let anthropic_betas = match cfg.opt("vertex_anthropic_betas") {
        None => None,
        Some(node) => match &node.kind {
            Kind::Str(s) => Some(
                s.split(',')
                    .map(str::trim)
                    .filter(|b| !b.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
            Kind::Seq(items) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| ctx.string(&index(&betas_path, i), item).map(str::to_owned))
                    .collect::<Res<Vec<_>>>()?,
            ),
            _ => {
                return Err(ctx.type_err(
                    &betas_path,
                    node,
                    "a list of strings or a comma-separated string",
                ));
            }
        },
    };
    Ok(VertexAiConfig {
        project,
        location,
        credentials: cfg.literal_secret_opt(ctx, "vertex_credentials")?,
        anthropic_betas,
        api_base: cfg.str_nonempty(ctx, "vertex_api_base")?.map(str::to_owned),
    })
}
