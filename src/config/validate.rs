//! MLflow's loading pipeline, in MLflow's order (spec §1.1), on the located tree:
//!
//! 0. shape: a mapping with known top-level keys, `endpoints` a list of mappings, `routes`
//!    absent, null or a list of mappings (ours: MLflow would crash with Python errors);
//! 1. `check_configuration_deprecated_fields`: any endpoint with `route_type` is rejected;
//! 2. `check_configuration_route_name_collisions`: unique names across endpoints and routes,
//!    then per route and per destination in order: destination is an endpoint, has the
//!    route's `task_type`, percentage in 0..=100; then the percentage sum is 100 (our
//!    `FALLBACK` routes instead take no percentages and no repeated destination);
//! 3. the pydantic stage: each endpoint (name regex, endpoint_type, model/provider/config,
//!    limit, our timeouts/retries/circuit_breaker, the mosaicml/ai21labs model-name rules),
//!    then each route (with our `fallback`);
//! 4. ours: `api_keys` and `auth` (module `api_keys`), whose grants must name endpoints or
//!    routes.
//!
//! The first failure is returned (MLflow's pydantic stage would list several).

use std::collections::HashSet;

use crate::config::api_keys;
use crate::config::limit;
use crate::config::node::Node;
use crate::config::providers;
use crate::config::reader::{Ctx, Obj, Res, index, integer};
use crate::config::resilience;
use crate::config::types::{
    Destination, Endpoint, EndpointType, GatewayConfig, ProviderKind, RoutingStrategy, TrafficRoute,
};

const TOP_KEYS: &[&str] = &["endpoints", "routes", "api_keys", "auth"];
const ENDPOINT_KEYS: &[&str] = &[
    "name",
    "endpoint_type",
    "model",
    "limit",
    "timeouts",
    "retries",
    "circuit_breaker",
];
const ROUTE_KEYS: &[&str] = &[
    "name",
    "task_type",
    "destinations",
    "routing_strategy",
    "fallback",
];
const DESTINATION_KEYS: &[&str] = &["name", "traffic_percentage"];

/// Runs the whole pipeline on the document root.
pub(crate) fn build(ctx: &mut Ctx<'_>, root: &Node) -> Res<GatewayConfig> {
    // 0. shape
    let top = Obj::new(
        ctx,
        "",
        root,
        "a mapping with an 'endpoints' list at the top level",
    )?;
    top.check_keys(ctx, TOP_KEYS)?;
    let endpoint_nodes = ctx.list("endpoints", top.req(ctx, "endpoints")?)?;
    let endpoint_paths: Vec<String> = (0..endpoint_nodes.len())
        .map(|i| index("endpoints", i))
        .collect();
    let endpoints = endpoint_nodes
        .iter()
        .zip(&endpoint_paths)
        .map(|(n, p)| Obj::new(ctx, p, n, "an endpoint mapping"))
        .collect::<Res<Vec<_>>>()?;
    let route_nodes = match top.opt("routes") {
        Some(n) => ctx.list("routes", n)?,
        None => &[],
    };
    let route_paths: Vec<String> = (0..route_nodes.len()).map(|i| index("routes", i)).collect();
    let routes = route_nodes
        .iter()
        .zip(&route_paths)
        .map(|(n, p)| Obj::new(ctx, p, n, "a route mapping"))
        .collect::<Res<Vec<_>>>()?;

    // 1. deprecated fields
    for ep in &endpoints {
        if ep.has("route_type") {
            return Err(ctx.err(
                &ep.path_of("route_type"),
                ep.key_pos("route_type"),
                "The 'route_type' configuration key is not supported in the configuration file. Use 'endpoint_type' instead.",
            ));
        }
    }

    // 2. name collisions and route destinations, on the raw values
    check_collisions(ctx, &endpoints, &routes)?;

    // 3. typed validation
    let endpoints = endpoints
        .iter()
        .map(|ep| parse_endpoint(ctx, ep))
        .collect::<Res<Vec<_>>>()?;
    let routes = routes
        .iter()
        .map(|r| parse_route(ctx, r))
        .collect::<Res<Vec<_>>>()?;

    // 4. ours: gateway API keys, whose grants name the endpoints and routes above
    let names: Vec<&str> = endpoints
        .iter()
        .map(|e| e.name.as_str())
        .chain(routes.iter().map(|r| r.name.as_str()))
        .collect();
    let auth = api_keys::parse(ctx, &top, &names)?;
    Ok(GatewayConfig {
        endpoints,
        routes,
        auth,
    })
}

fn check_collisions(ctx: &Ctx<'_>, endpoints: &[Obj<'_>], routes: &[Obj<'_>]) -> Res<()> {
    let mut seen = HashSet::new();
    for obj in endpoints.iter().chain(routes) {
        let name = obj.str_req(ctx, "name")?;
        if !seen.insert(name) {
            return Err(ctx.err(
                &obj.path_of("name"),
                obj.pos_of("name"),
                "Duplicate names found in endpoint / route configurations. Please remove the duplicate endpoint / route name from the configuration to ensure that endpoints / routes are created properly.",
            ));
        }
    }
    for route in routes {
        let route_name = route.str_req(ctx, "name")?;
        let task_type = route.str_req(ctx, "task_type")?;
        let dests_path = route.path_of("destinations");
        let dests_node = route.req(ctx, "destinations")?;
        let fallback = is_fallback(route);
        let mut sum: i128 = 0;
        let mut names = HashSet::new();
        for (i, dest_node) in ctx.list(&dests_path, dests_node)?.iter().enumerate() {
            let dest_path = index(&dests_path, i);
            let dest = Obj::new(ctx, &dest_path, dest_node, "a destination mapping")?;
            let dest_name = dest.str_req(ctx, "name")?;
            let pct = if fallback {
                if dest.has("traffic_percentage") {
                    return Err(ctx.err(
                        &dest.path_of("traffic_percentage"),
                        dest.key_pos("traffic_percentage"),
                        "traffic_percentage does not apply to a FALLBACK route: its destinations are tried in the order listed",
                    ));
                }
                if !names.insert(dest_name.to_owned()) {
                    return Err(ctx.err(
                        &dest.path_of("name"),
                        dest.pos_of("name"),
                        format!(
                            "destination '{dest_name}' is listed twice in the FALLBACK route '{route_name}'"
                        ),
                    ));
                }
                0
            } else {
                let pct_node = dest.req(ctx, "traffic_percentage")?;
                integer(ctx, &dest.path_of("traffic_percentage"), pct_node)?
            };
            sum = sum.saturating_add(pct);
            let Some(target) = endpoints
                .iter()
                .find(|e| e.str_req(ctx, "name").ok() == Some(dest_name))
            else {
                return Err(ctx.err(
                    &dest.path_of("name"),
                    dest.pos_of("name"),
                    format!(
                        "The route destination name must be a endpoint name, but the route '{route_name}' has an invalid destination name '{dest_name}'."
                    ),
                ));
            };
            let dest_type = target.str_req(ctx, "endpoint_type")?;
            if dest_type != task_type {
                return Err(ctx.err(
                    &dest.path_of("name"),
                    dest.pos_of("name"),
                    format!(
                        "The route destination endpoint types in the route '{route_name}' must have endpoint type '{task_type}' but got endpoint type '{dest_type}'."
                    ),
                ));
            }
            if !(0..=100).contains(&pct) {
                return Err(ctx.err(
                    &dest.path_of("traffic_percentage"),
                    dest.pos_of("traffic_percentage"),
                    "The route destination traffic percentage must between 0 and 100.",
                ));
            }
        }
        if !fallback && sum != 100 {
            return Err(ctx.err(
                &dests_path,
                dests_node.pos,
                format!(
                    "For each route configuration, the traffic percentage sum of destinations must be 100, but got invalid configuration of route '{route_name}'."
                ),
            ));
        }
    }
    Ok(())
}

/// Whether a raw route asks for our `FALLBACK` strategy.
fn is_fallback(route: &Obj<'_>) -> bool {
    route
        .opt("routing_strategy")
        .and_then(Node::as_str)
        .is_some_and(|s| s == "FALLBACK")
}

/// MLflow 3.x: `[a-zA-Z0-9_\-\.]+` (ASCII only).
fn is_valid_endpoint_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn parse_endpoint(ctx: &mut Ctx<'_>, ep: &Obj<'_>) -> Res<Endpoint> {
    ep.check_keys(ctx, ENDPOINT_KEYS)?;
    let name = ep.str_req(ctx, "name")?;
    if !is_valid_endpoint_name(name) {
        return Err(ctx.err(
            &ep.path_of("name"),
            ep.pos_of("name"),
            format!(
                "The route name provided contains disallowed characters for a url endpoint. '{name}' is invalid. Names cannot contain spaces or any non alphanumeric characters other than hyphen and underscore."
            ),
        ));
    }
    let raw_type = ep.str_req(ctx, "endpoint_type")?;
    let endpoint_type = EndpointType::parse(raw_type).ok_or_else(|| {
        ctx.err(
            &ep.path_of("endpoint_type"),
            ep.pos_of("endpoint_type"),
            format!("The route_type '{raw_type}' is not supported."),
        )
    })?;
    let model_path = ep.path_of("model");
    let model = providers::parse_model(ctx, &model_path, ep.req(ctx, "model")?)?;
    let limit = match ep.entry("limit") {
        Some((_, node)) => limit::parse_limit(ctx, &ep.path_of("limit"), node)?,
        None => None,
    };
    let timeouts = match ep.entry("timeouts") {
        Some((_, node)) => limit::parse_timeouts(ctx, &ep.path_of("timeouts"), node)?,
        None => Default::default(),
    };
    let retries = match ep.opt("retries") {
        Some(node) => resilience::parse_retries(ctx, &ep.path_of("retries"), node)?,
        None => None,
    };
    let circuit_breaker = match ep.opt("circuit_breaker") {
        Some(node) => resilience::parse_circuit(ctx, &ep.path_of("circuit_breaker"), node)?,
        None => None,
    };

    // MLflow's `validate_route_type_and_model_name` (after all fields). A missing name
    // prints as Python's `None`.
    let model_node = ep.req(ctx, "model")?;
    let model_obj = Obj::new(ctx, &model_path, model_node, "a mapping")?;
    let shown_name = model.name.as_deref().unwrap_or("None");
    let name_path = model_obj.path_of("name");
    let name_pos = model_obj.pos_of("name");
    if model.provider == ProviderKind::MosaicMl
        && endpoint_type == EndpointType::Chat
        && !model
            .name
            .as_deref()
            .is_some_and(|n| n.to_lowercase().starts_with("llama2"))
    {
        return Err(ctx.err(
            &name_path,
            name_pos,
            format!(
                "An invalid model has been specified for the chat route. '{shown_name}'. Ensure the model selected starts with one of: ['llama2']"
            ),
        ));
    }
    if model.provider == ProviderKind::Ai21Labs
        && !matches!(
            model.name.as_deref(),
            Some("j2-ultra" | "j2-mid" | "j2-light")
        )
    {
        return Err(ctx.err(
            &name_path,
            name_pos,
            format!(
                "An Unsupported AI21Labs model has been specified: '{shown_name}'. Please see documentation for supported models."
            ),
        ));
    }
    Ok(Endpoint {
        name: name.to_owned(),
        endpoint_type,
        model,
        limit,
        timeouts,
        retries,
        circuit_breaker,
    })
}

fn parse_route(ctx: &Ctx<'_>, route: &Obj<'_>) -> Res<TrafficRoute> {
    route.check_keys(ctx, ROUTE_KEYS)?;
    let name = route.str_req(ctx, "name")?.to_owned();
    let task_type = EndpointType::parse(route.str_req(ctx, "task_type")?).ok_or_else(|| {
        ctx.err(
            &route.path_of("task_type"),
            route.pos_of("task_type"),
            "Input should be 'llm/v1/completions', 'llm/v1/chat' or 'llm/v1/embeddings'",
        )
    })?;
    let dests_path = route.path_of("destinations");
    let mut destinations = Vec::new();
    for (i, node) in ctx
        .list(&dests_path, route.req(ctx, "destinations")?)?
        .iter()
        .enumerate()
    {
        let path = index(&dests_path, i);
        let dest = Obj::new(ctx, &path, node, "a destination mapping")?;
        dest.check_keys(ctx, DESTINATION_KEYS)?;
        let traffic_percentage = match dest.opt("traffic_percentage") {
            // A FALLBACK route (checked in stage 2: only those may omit it).
            None => 0,
            Some(pct_node) => {
                let pct = integer(ctx, &dest.path_of("traffic_percentage"), pct_node)?;
                u32::try_from(pct).map_err(|_| {
                    ctx.err(
                        &dest.path_of("traffic_percentage"),
                        pct_node.pos,
                        "The route destination traffic percentage must between 0 and 100.",
                    )
                })?
            }
        };
        destinations.push(Destination {
            name: dest.str_req(ctx, "name")?.to_owned(),
            traffic_percentage,
        });
    }
    let routing_strategy = match route.str_opt(ctx, "routing_strategy")? {
        None | Some("TRAFFIC_SPLIT") => RoutingStrategy::TrafficSplit,
        Some("FALLBACK") => RoutingStrategy::Fallback,
        Some(_) => {
            return Err(ctx.err(
                &route.path_of("routing_strategy"),
                route.pos_of("routing_strategy"),
                "Input should be 'TRAFFIC_SPLIT' or 'FALLBACK'",
            ));
        }
    };
    let fallback = resilience::parse_fallback(
        ctx,
        &route.path_of("fallback"),
        route.opt("fallback"),
        destinations.len(),
        routing_strategy == RoutingStrategy::Fallback,
    )?;
    Ok(TrafficRoute {
        name,
        task_type,
        destinations,
        routing_strategy,
        fallback,
    })
}
