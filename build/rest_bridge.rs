//! Build-time half of the REST bridge: reads the `google.api.http` annotation of every RPC in
//! `proto/` and writes two files into `OUT_DIR`:
//!
//! - `rest_bridge.rs`: the binding table (HTTP method, parsed path template, body rule, the
//!   request fields a query string may set) and the axum routes with one dispatch arm per RPC,
//!   calling the RPC's tonic service method. `src/rest/bridge.rs` includes it and supplies
//!   the runtime (matching, binding, answering);
//! - `rest_bridge_openapi.json`: the OpenAPI paths of those routes and the JSON schemas of
//!   every message they carry, which `src/rest/openapi.rs` merges into `/openapi.json`.
//!
//! So adding an RPC with an annotation adds its REST route and its documentation; nothing is
//! written by hand per RPC. A template or binding this bridge cannot serve fails the build
//! with the RPC's name, rather than being skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use prost_reflect::{
    Cardinality, DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor,
    MethodDescriptor, Value,
};
use serde_json::{Map, Value as Json, json};

/// The package whose services are bridged.
const PACKAGE: &str = "llmgateway.v1";

/// Query parameters reach at most this deep into nested messages.
const MAX_QUERY_DEPTH: usize = 4;

type Error = Box<dyn std::error::Error>;

/// One HTTP binding of one RPC.
struct Binding {
    method: MethodDescriptor,
    http_method: String,
    template: String,
    /// Path segments before the verb: literals, or the request field a segment binds.
    segments: Vec<Segment>,
    verb: Option<String>,
    /// `*`, a field name, or empty.
    body: String,
}

enum Segment {
    Literal(String),
    Field(String),
}

/// Writes both generated files into `out_dir`.
pub fn generate(pool: &DescriptorPool, out_dir: &std::path::Path) -> Result<(), Error> {
    let bindings = bindings(pool)?;
    std::fs::write(out_dir.join("rest_bridge.rs"), rust_source(&bindings)?)?;
    let openapi = openapi(&bindings)?;
    std::fs::write(
        out_dir.join("rest_bridge_openapi.json"),
        serde_json::to_string_pretty(&openapi)?,
    )?;
    Ok(())
}

fn bindings(pool: &DescriptorPool) -> Result<Vec<Binding>, Error> {
    let ext = pool
        .get_extension_by_name("google.api.http")
        .ok_or("google/api/annotations.proto is not imported: no google.api.http extension")?;
    let mut out = Vec::new();
    for service in pool.services().filter(|s| s.package_name() == PACKAGE) {
        for method in service.methods() {
            let options = method.options();
            if !options.has_extension(&ext) {
                continue;
            }
            let Value::Message(rule) = options.get_extension(&ext).into_owned() else {
                return Err(
                    format!("{}: google.api.http is not a message", method.full_name()).into(),
                );
            };
            let additional = match rule.get_field_by_name("additional_bindings").as_deref() {
                Some(Value::List(list)) => list.clone(),
                _ => Vec::new(),
            };
            out.push(binding(&method, &rule)?);
            for extra in additional {
                let Value::Message(extra) = extra else {
                    continue;
                };
                out.push(binding(&method, &extra)?);
            }
        }
    }
    Ok(out)
}

fn string_field(rule: &DynamicMessage, name: &str) -> String {
    match rule.get_field_by_name(name).as_deref() {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

fn binding(method: &MethodDescriptor, rule: &DynamicMessage) -> Result<Binding, Error> {
    let name = method.full_name();
    let fail = |what: String| -> Error { format!("{name}: google.api.http: {what}").into() };
    if method.is_client_streaming() {
        return Err(fail("client-streaming RPCs have no REST binding".into()));
    }
    let mut pattern = None;
    for verb in ["get", "put", "post", "delete", "patch"] {
        if rule.has_field_by_name(verb) {
            pattern = Some((verb.to_ascii_uppercase(), string_field(rule, verb)));
        }
    }
    if rule.has_field_by_name("custom")
        && let Some(Value::Message(custom)) = rule.get_field_by_name("custom").as_deref()
    {
        pattern = Some((string_field(custom, "kind"), string_field(custom, "path")));
    }
    let (http_method, template) = pattern.ok_or_else(|| fail("no HTTP method and path".into()))?;
    if !string_field(rule, "response_body").is_empty() {
        return Err(fail(
            "response_body is not supported: the whole response is the body".into(),
        ));
    }
    let body = string_field(rule, "body");
    let (segments, verb) =
        parse_template(&template).map_err(|e| fail(format!("{template:?}: {e}")))?;
    let input = method.input();
    for segment in &segments {
        if let Segment::Field(path) = segment {
            let field = resolve(&input, path)
                .ok_or_else(|| fail(format!("{path:?} is not a field of {}", input.full_name())))?;
            if field.is_list() || field.is_map() || matches!(field.kind(), Kind::Message(_)) {
                return Err(fail(format!(
                    "path field {path:?} must be a singular scalar"
                )));
            }
        }
    }
    if body != "*" && !body.is_empty() && input.get_field_by_name(&body).is_none() {
        return Err(fail(format!(
            "body {body:?} is not a field of {}",
            input.full_name()
        )));
    }
    if body.is_empty() && matches!(http_method.as_str(), "POST" | "PUT" | "PATCH") {
        return Err(fail(format!("{http_method} without a body field")));
    }
    Ok(Binding {
        method: method.clone(),
        http_method,
        template,
        segments,
        verb,
        body,
    })
}

/// `/lit/{field}/lit:verb` → segments and verb. Only single-segment variables (`{f}` or
/// `{f=*}`) are supported; `**` and multi-segment variables fail the build.
fn parse_template(template: &str) -> Result<(Vec<Segment>, Option<String>), String> {
    let rest = template
        .strip_prefix('/')
        .ok_or("a template starts with '/'")?;
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (path, verb) = match rest[last_slash..].rfind(':') {
        Some(i) if !rest[last_slash..].ends_with('}') => {
            let at = last_slash + i;
            (&rest[..at], Some(rest[at + 1..].to_owned()))
        }
        _ => (rest, None),
    };
    if verb
        .as_deref()
        .is_some_and(|v| v.is_empty() || !v.chars().all(literal_char))
    {
        return Err("the verb after ':' must be a non-empty literal".into());
    }
    let mut segments = Vec::new();
    for seg in path.split('/') {
        if let Some(inner) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let field = inner.strip_suffix("=*").unwrap_or(inner);
            if field.is_empty()
                || !field
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            {
                return Err(format!(
                    "unsupported variable {seg:?}: only {{field}} and {{field=*}}"
                ));
            }
            segments.push(Segment::Field(field.to_owned()));
        } else if !seg.is_empty() && seg.chars().all(literal_char) {
            segments.push(Segment::Literal(seg.to_owned()));
        } else if !(seg.is_empty() && path.is_empty()) {
            return Err(format!("unsupported segment {seg:?}"));
        }
    }
    Ok((segments, verb))
}

fn literal_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~".contains(c)
}

/// The field at a dotted `path` of `message`.
fn resolve(message: &MessageDescriptor, path: &str) -> Option<FieldDescriptor> {
    let mut current = message.clone();
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let field = current.get_field_by_name(part)?;
        if parts.peek().is_none() {
            return Some(field);
        }
        match field.kind() {
            Kind::Message(m) if !field.is_list() && !field.is_map() => current = m,
            _ => return None,
        }
    }
    None
}

/// The Rust path of a top-level message of [`PACKAGE`] (`crate::pb::v1::ChatRequest`).
fn rust_type(message: &MessageDescriptor) -> Result<String, Error> {
    if message.package_name() != PACKAGE || message.parent_message().is_some() {
        return Err(format!(
            "{}: only top-level {PACKAGE} messages can be bridged",
            message.full_name()
        )
        .into());
    }
    Ok(format!("crate::pb::v1::{}", message.name()))
}

fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The scalar kinds a path or query value is read as.
fn scalar(kind: &Kind) -> Option<&'static str> {
    Some(match kind {
        Kind::String => "String",
        Kind::Bool => "Bool",
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => "Int32",
        Kind::Uint32 | Kind::Fixed32 => "Uint32",
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => "Int64",
        Kind::Float | Kind::Double => "Float",
        Kind::Bytes => "Bytes",
        Kind::Enum(_) => "Enum",
        Kind::Message(_) => return None,
    })
}

/// Every scalar leaf a query string may set: `(dotted path, scalar kind, repeated)`.
fn query_fields(
    message: &MessageDescriptor,
    prefix: &str,
    depth: usize,
    out: &mut Vec<(String, &'static str, bool)>,
) {
    for field in message.fields() {
        if field.is_map() {
            continue;
        }
        let path = if prefix.is_empty() {
            field.name().to_owned()
        } else {
            format!("{prefix}.{}", field.name())
        };
        match field.kind() {
            Kind::Message(m) => {
                // Well-known types (Struct, Value...) and lists of messages have no query form.
                if !field.is_list() && m.package_name() == PACKAGE && depth + 1 < MAX_QUERY_DEPTH {
                    query_fields(&m, &path, depth + 1, out);
                }
            }
            kind => {
                if let Some(s) = scalar(&kind) {
                    out.push((path, s, field.cardinality() == Cardinality::Repeated));
                }
            }
        }
    }
}

/// The axum path a template is registered under: variables become `{p0}`, `{p1}`, ... and a
/// verb stays inside its segment's variable (matchit has no suffixes); bindings that share a
/// shape share a route and are told apart at run time.
fn shape(binding: &Binding) -> String {
    let mut out = String::new();
    let mut vars = 0;
    for seg in &binding.segments {
        out.push('/');
        match seg {
            Segment::Field(_) => {
                // A variable in the last segment also captures the verb after it.
                let _ = write!(out, "{{p{vars}}}");
                vars += 1;
            }
            Segment::Literal(l) => out.push_str(l),
        }
    }
    if let (Some(verb), Some(Segment::Literal(_))) = (&binding.verb, binding.segments.last()) {
        out.push(':');
        out.push_str(verb);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

fn rust_source(bindings: &[Binding]) -> Result<String, Error> {
    let mut s = String::from(
        "// Generated by build.rs (build/rest_bridge.rs) from the google.api.http annotations in\n\
         // proto/. Do not edit: change the annotation instead.\n\n",
    );
    // Query-field tables, one per request message.
    let mut tables = BTreeMap::new();
    for b in bindings {
        let input = b.method.input();
        tables
            .entry(input.full_name().to_owned())
            .or_insert_with(|| {
                let mut fields = Vec::new();
                query_fields(&input, "", 0, &mut fields);
                fields
            });
    }
    for (name, fields) in &tables {
        let _ = writeln!(s, "static {}: &[Field] = &[", table_name(name));
        for (path, kind, repeated) in fields {
            let _ = writeln!(
                s,
                "    Field {{ path: {path:?}, kind: Scalar::{kind}, repeated: {repeated} }},"
            );
        }
        s.push_str("];\n\n");
    }
    s.push_str("/// Every HTTP binding of an annotated RPC, in proto order.\npub(super) static BINDINGS: &[Binding] = &[\n");
    for b in bindings {
        let segments: Vec<String> = b
            .segments
            .iter()
            .map(|seg| match seg {
                Segment::Literal(l) => format!("Segment::Literal({l:?})"),
                Segment::Field(f) => format!("Segment::Field({f:?})"),
            })
            .collect();
        let body = match b.body.as_str() {
            "*" => "BodyRule::Whole".to_owned(),
            "" => "BodyRule::None".to_owned(),
            f => format!("BodyRule::Field({f:?})"),
        };
        let _ = writeln!(
            s,
            "    Binding {{\n        rpc: {rpc:?},\n        method: {method:?},\n        template: {template:?},\n        \
             segments: &[{segments}],\n        verb: {verb:?},\n        body: {body},\n        server_streaming: {streaming},\n        \
             fields: {table},\n    }},",
            rpc = format!(
                "/{}/{}",
                b.method.parent_service().full_name(),
                b.method.name()
            ),
            method = b.http_method,
            template = b.template,
            segments = segments.join(", "),
            verb = b.verb,
            streaming = b.method.is_server_streaming(),
            table = table_name(b.method.input().full_name()),
        );
    }
    s.push_str("];\n\n");

    // Routes: one per shape.
    let mut shapes: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, b) in bindings.iter().enumerate() {
        shapes.entry(shape(b)).or_default().push(i);
    }
    s.push_str(
        "/// The axum routes of every binding: one per path shape, each trying the bindings that\n\
         /// share it.\npub(super) fn routes() -> axum::Router<crate::rest::RestState> {\n    axum::Router::new()\n",
    );
    for (shape, indices) in &shapes {
        let list: Vec<String> = indices.iter().map(usize::to_string).collect();
        let _ = writeln!(
            s,
            "        .route({shape:?}, axum::routing::any(|axum::extract::State(state): axum::extract::State<crate::rest::RestState>, req: axum::extract::Request| serve(state, &[{}], req)))",
            list.join(", ")
        );
    }
    s.push_str("}\n\n");
    s.push_str("/// The path prefixes every binding starts with (for the surface label).\n");
    let prefixes: BTreeSet<String> = bindings
        .iter()
        .map(|b| {
            let mut p = String::new();
            for seg in &b.segments {
                match seg {
                    Segment::Literal(l) => {
                        p.push('/');
                        p.push_str(l);
                    }
                    Segment::Field(_) => break,
                }
            }
            p
        })
        .collect();
    let prefixes: Vec<String> = prefixes.iter().map(|p| format!("{p:?}")).collect();
    let _ = writeln!(
        s,
        "pub(super) static PREFIXES: &[&str] = &[{}];\n",
        prefixes.join(", ")
    );

    // Dispatch: binding index → the RPC's tonic service method.
    s.push_str(
        "/// Calls binding `index`'s RPC on the gRPC adapters, answering in the bridge's form.\n\
         pub(super) async fn call(api: crate::grpc::GrpcApi, index: usize, call: Call) -> axum::response::Response {\n    match index {\n",
    );
    for (i, b) in bindings.iter().enumerate() {
        let service = b.method.parent_service();
        let module = format!("{}_server", snake(service.name()));
        let trait_path = format!("crate::pb::v1::{module}::{}", service.name());
        let request = rust_type(&b.method.input())?;
        let fn_name = snake(b.method.name());
        let runner = if b.method.is_server_streaming() {
            "server_streaming"
        } else {
            "unary"
        };
        let _ = writeln!(
            s,
            "        {i} => {runner}(call, move |r: tonic::Request<{request}>| async move {{ {trait_path}::{fn_name}(&api, r).await }}).await,"
        );
    }
    s.push_str(
        "        _ => not_found(call.parts.method.as_str(), call.parts.uri.path()),\n    }\n}\n",
    );
    Ok(s)
}

fn table_name(message: &str) -> String {
    format!("FIELDS_{}", message.replace('.', "_").to_ascii_uppercase())
}

// ---------------------------------------------------------------------------------------------
// OpenAPI

/// The comment attached to a descriptor at `path` in its file, trimmed.
fn comment(file: &prost_reflect::FileDescriptor, path: &[i32]) -> String {
    let Some(info) = &file.file_descriptor_proto().source_code_info else {
        return String::new();
    };
    info.location
        .iter()
        .find(|l| l.path == path)
        .and_then(|l| l.leading_comments.as_deref())
        .map(|c| {
            c.lines()
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ")
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}

/// A schema name: the message's full name (`llmgateway.v1.ChatRequest`), which cannot collide
/// with the hand-written schemas of the MLflow and OpenAI facades.
fn schema_ref(message: &MessageDescriptor) -> Json {
    json!({"$ref": format!("#/components/schemas/{}", message.full_name())})
}

/// The proto3 JSON schema of a field's value (before `repeated`).
fn value_schema(field: &FieldDescriptor, todo: &mut Vec<MessageDescriptor>) -> Json {
    match field.kind() {
        Kind::String => json!({"type": "string"}),
        Kind::Bool => json!({"type": "boolean"}),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            json!({"type": "integer", "format": "int32"})
        }
        Kind::Uint32 | Kind::Fixed32 => json!({"type": "integer", "format": "int32", "minimum": 0}),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            json!({"type": ["string", "integer"], "format": "int64", "description": "64-bit integers are strings in proto3 JSON (numbers are accepted)"})
        }
        Kind::Uint64 | Kind::Fixed64 => json!({"type": ["string", "integer"], "format": "uint64"}),
        Kind::Float => json!({"type": "number", "format": "float"}),
        Kind::Double => json!({"type": "number", "format": "double"}),
        Kind::Bytes => json!({"type": "string", "contentEncoding": "base64"}),
        Kind::Enum(e) => {
            let names: Vec<String> = e.values().map(|v| v.name().to_owned()).collect();
            json!({"type": "string", "enum": names})
        }
        Kind::Message(m) => match m.full_name() {
            "google.protobuf.Struct" => json!({"type": "object", "additionalProperties": true}),
            "google.protobuf.Value" => json!({}),
            "google.protobuf.ListValue" => json!({"type": "array", "items": {}}),
            "google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
            "google.protobuf.Duration" => {
                json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?s$"})
            }
            "google.protobuf.Empty" => json!({"type": "object"}),
            _ => {
                todo.push(m.clone());
                schema_ref(&m)
            }
        },
    }
}

fn field_schema(field: &FieldDescriptor, todo: &mut Vec<MessageDescriptor>) -> Json {
    let mut schema = if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            return json!({});
        };
        let value = entry.map_entry_value_field();
        json!({"type": "object", "additionalProperties": value_schema(&value, todo)})
    } else if field.is_list() {
        json!({"type": "array", "items": value_schema(field, todo)})
    } else {
        value_schema(field, todo)
    };
    let description = comment(&field.parent_file(), field.path());
    if !description.is_empty() {
        // A sibling of `$ref` is allowed in OpenAPI 3.1.
        if let Some(obj) = schema.as_object_mut() {
            obj.insert("description".into(), description.into());
        }
    }
    schema
}

fn message_schema(message: &MessageDescriptor, todo: &mut Vec<MessageDescriptor>) -> Json {
    let mut properties = Map::new();
    for field in message.fields() {
        properties.insert(field.name().to_owned(), field_schema(&field, todo));
    }
    let mut schema = json!({
        "type": "object",
        "properties": properties,
        "description": comment(&message.parent_file(), message.path()),
    });
    if schema["description"] == ""
        && let Some(obj) = schema.as_object_mut()
    {
        obj.remove("description");
    }
    schema
}

/// The example value of a path variable: an endpoint of the quickstart config
/// (`examples/quickstart.yaml`) that the RPC's service can call.
fn example_endpoint(service: &str) -> &'static str {
    match service {
        "CompletionsService" => "completions",
        "EmbeddingsService" => "embeddings",
        _ => "chat",
    }
}

fn openapi(bindings: &[Binding]) -> Result<Json, Error> {
    let mut paths = Map::new();
    let mut todo: Vec<MessageDescriptor> = Vec::new();
    for b in bindings {
        let input = b.method.input();
        let output = b.method.output();
        let service = b.method.parent_service();
        let mut parameters = Vec::new();
        let mut bound = BTreeSet::new();
        for seg in &b.segments {
            if let Segment::Field(f) = seg {
                bound.insert(f.clone());
                let schema = resolve(&input, f)
                    .map(|field| value_schema(&field, &mut todo))
                    .unwrap_or_else(|| json!({"type": "string"}));
                let mut param = json!({
                    "name": f, "in": "path", "required": true, "schema": schema,
                    "example": example_endpoint(service.name()),
                });
                if let Some(field) = resolve(&input, f) {
                    let d = comment(&field.parent_file(), field.path());
                    if !d.is_empty() {
                        param["description"] = d.into();
                    }
                }
                parameters.push(param);
            }
        }
        if b.body != "*" {
            let mut leaves = Vec::new();
            query_fields(&input, "", 0, &mut leaves);
            for (path, _, repeated) in leaves {
                let top = path.split('.').next().unwrap_or_default();
                if bound.contains(&path) || top == b.body {
                    continue;
                }
                let schema = resolve(&input, &path)
                    .map(|field| {
                        let one = value_schema(&field, &mut todo);
                        if repeated {
                            json!({"type": "array", "items": one})
                        } else {
                            one
                        }
                    })
                    .unwrap_or_default();
                let mut param =
                    json!({"name": path, "in": "query", "required": false, "schema": schema});
                if let Some(field) = resolve(&input, &path) {
                    let d = comment(&field.parent_file(), field.path());
                    if !d.is_empty() {
                        param["description"] = d.into();
                    }
                }
                parameters.push(param);
            }
        }
        todo.push(output.clone());
        let ok = if b.method.is_server_streaming() {
            json!({
                "description": format!(
                    "Server-sent events: one `data: {{json}}` event per `{}`; a failure after the stream started ends it with an `event: error` whose data is the error object.",
                    output.full_name()
                ),
                "content": {"text/event-stream; charset=utf-8": {"schema": {"type": "string"}, "x-sse-data": schema_ref(&output)}}
            })
        } else {
            json!({
                "description": format!("The `{}`, as proto3 JSON.", output.full_name()),
                "content": {"application/json": {"schema": schema_ref(&output)}}
            })
        };
        let mut op = json!({
            "operationId": format!("{}_{}", service.name(), b.method.name()),
            "tags": [format!("REST bridge: {}", service.name())],
            "summary": format!("{}.{}", service.name(), b.method.name()),
            "description": format!(
                "{}\n\nGenerated from the `google.api.http` annotation of `{}`.",
                comment(&b.method.parent_file(), b.method.path()),
                b.method.full_name()
            ).trim_start(),
            "parameters": parameters,
            "responses": {
                "200": ok,
                "401": {
                    "description": "A gateway API key is configured and the request carries none that is valid.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/google.rpc.Status"}}}
                },
                "default": {
                    "description": "An error, in Google's JSON error shape, with the HTTP status of its code.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/google.rpc.Status"}}}
                }
            }
        });
        match b.body.as_str() {
            "" => {}
            "*" => {
                todo.push(input.clone());
                op["requestBody"] = json!({
                    "required": false,
                    "description": format!("The `{}` as proto3 JSON (field names in snake_case or lowerCamelCase); fields bound by the path are taken from the path.", input.full_name()),
                    "content": {"application/json": {"schema": schema_ref(&input)}}
                });
            }
            field => {
                let schema = input
                    .get_field_by_name(field)
                    .map(|f| field_schema(&f, &mut todo))
                    .unwrap_or_default();
                op["requestBody"] =
                    json!({"required": false, "content": {"application/json": {"schema": schema}}});
            }
        }
        let item = paths.entry(b.template.clone()).or_insert_with(|| json!({}));
        item[b.http_method.to_ascii_lowercase()] = op;
    }
    let mut schemas = Map::new();
    while let Some(m) = todo.pop() {
        if schemas.contains_key(m.full_name()) {
            continue;
        }
        let schema = message_schema(&m, &mut todo);
        schemas.insert(m.full_name().to_owned(), schema);
    }
    schemas.insert(
        "google.rpc.Status".into(),
        json!({
            "type": "object",
            "description": "Google's JSON error shape, as grpc-gateway and Google APIs answer errors.",
            "required": ["error"],
            "properties": {"error": {
                "type": "object",
                "required": ["code", "message", "status"],
                "properties": {
                    "code": {"type": "integer", "description": "The HTTP status."},
                    "message": {"type": "string", "description": "What was wrong, for people."},
                    "status": {"type": "string", "description": "The gRPC code name, e.g. NOT_FOUND."},
                    "details": {"type": "array", "items": {"type": "object"}}
                }
            }}
        }),
    );
    Ok(json!({"paths": paths, "components": {"schemas": schemas}}))
}
