//! The `/docs` page: the OpenAPI document rendered as one self-contained HTML page.
//!
//! MLflow serves FastAPI's Swagger UI, which loads its scripts from a CDN; a gateway is often
//! run where clients are offline, so this page is plain HTML with a little inline CSS and no
//! script: the routes grouped by tag (method, path, summary, parameters, request body,
//! responses with their headers and examples), then every schema of `components.schemas`, with
//! `$ref`s as in-page links. Every text taken from the document is HTML-escaped; the only markup
//! read from descriptions is Markdown's `code` backticks. Rendered once at startup.

mod html;

use std::fmt::Write as _;

use serde_json::Value;

use html::{anchor, compact, esc, label, paragraphs, render_schema, text, yes_no};

const STYLE: &str = "\
body{font:15px/1.5 system-ui,sans-serif;max-width:72rem;margin:0 auto;padding:1rem 2rem;color:#1f2328}\
h1 small{font-weight:normal;color:#59636e}\
h2{border-bottom:1px solid #d1d9e0;padding-bottom:.3rem;margin-top:2.5rem}\
code,pre{font:13px ui-monospace,monospace;background:#f6f8fa;border-radius:4px}\
code{padding:.1rem .3rem}pre{padding:.6rem;overflow-x:auto}\
article{border:1px solid #d1d9e0;border-radius:6px;padding:.2rem 1rem .6rem;margin:1rem 0}\
table{border-collapse:collapse;width:100%;margin:.4rem 0}\
th,td{border:1px solid #d1d9e0;padding:.3rem .5rem;text-align:left;vertical-align:top}\
th{background:#f6f8fa}td table{font-size:.95em}\
.method{display:inline-block;min-width:3.5rem;text-align:center;border-radius:4px;color:#fff;font:bold 13px ui-monospace,monospace;padding:.15rem .3rem}\
.get{background:#0969da}.post{background:#1a7f37}.put{background:#9a6700}.delete{background:#cf222e}\
.patch,.head,.options{background:#59636e}\
.deprecated{color:#cf222e;font-size:.8em;margin-left:.5rem}.muted{color:#59636e}\
nav ul{list-style:none;padding-left:0}nav li{margin:.2rem 0}";

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The page for `doc`.
pub fn render(doc: &Value) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let info = &doc["info"];
    let title = esc(info["title"].as_str().unwrap_or("API"));
    let version = esc(info["version"].as_str().unwrap_or(""));
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} {version}: REST API</title><style>{STYLE}</style></head><body>\n\
         <header><h1>{title} <small>{version}</small></h1>"
    );
    if let Some(summary) = info["summary"].as_str() {
        let _ = write!(out, "<p><strong>{}</strong></p>", text(summary));
    }
    out.push_str(&paragraphs(info["description"].as_str().unwrap_or("")));
    render_security(&mut out, doc);
    let _ = writeln!(
        out,
        "<p class=\"muted\">The machine-readable document: <a href=\"/openapi.json\">/openapi.json</a> (OpenAPI {}).</p></header>",
        esc(doc["openapi"].as_str().unwrap_or(""))
    );

    let groups = group_by_tag(doc);
    out.push_str("<nav><h2>Routes</h2>");
    for (tag, ops) in &groups {
        let _ = write!(out, "<h3>{}</h3><ul>", esc(tag));
        for op in ops {
            let _ = write!(
                out,
                "<li><a href=\"#{}\">{} <code>{}</code></a> {}</li>",
                op.anchor(),
                method_badge(op.method),
                esc(op.path),
                text(op.body["summary"].as_str().unwrap_or(""))
            );
        }
        out.push_str("</ul>");
    }
    out.push_str(
        "<p><a href=\"#headers\">Shared headers</a> · <a href=\"#schemas\">Schemas</a></p></nav>\n<main>",
    );
    for (tag, ops) in &groups {
        let _ = write!(out, "<section><h2>{}</h2>", esc(tag));
        if let Some(desc) = tag_description(doc, tag) {
            out.push_str(&paragraphs(desc));
        }
        for op in ops {
            render_operation(&mut out, doc, op);
        }
        out.push_str("</section>\n");
    }
    render_shared_headers(&mut out, doc);
    out.push_str("<section id=\"schemas\"><h2>Schemas</h2>");
    if let Some(schemas) = doc["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            let _ = write!(
                out,
                "<article id=\"schema-{}\"><h3>{}</h3>",
                anchor(name),
                esc(name)
            );
            render_schema(&mut out, schema);
            out.push_str("</article>\n");
        }
    }
    out.push_str("</section></main></body></html>\n");
    out
}

/// One operation of the document.
struct Op<'a> {
    method: &'a str,
    path: &'a str,
    body: &'a Value,
}

impl Op<'_> {
    fn anchor(&self) -> String {
        match self.body["operationId"].as_str() {
            Some(id) => format!("op-{}", anchor(id)),
            None => format!("op-{}-{}", self.method, anchor(self.path)),
        }
    }
}

/// Operations grouped by their first tag, in the order of the document's `tags`, then any
/// other tag (`Other` for untagged operations) in order of appearance.
fn group_by_tag(doc: &Value) -> Vec<(String, Vec<Op<'_>>)> {
    let mut groups: Vec<(String, Vec<Op<'_>>)> = doc["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str())
        .map(|name| (name.to_owned(), Vec::new()))
        .collect();
    let paths = doc["paths"].as_object().into_iter().flatten();
    for (path, item) in paths {
        for &method in METHODS {
            let Some(body) = item.get(method).filter(|b| b.is_object()) else {
                continue;
            };
            let tag = body["tags"][0].as_str().unwrap_or("Other");
            let index = match groups.iter().position(|(t, _)| t == tag) {
                Some(i) => i,
                None => {
                    groups.push((tag.to_owned(), Vec::new()));
                    groups.len() - 1
                }
            };
            groups[index].1.push(Op { method, path, body });
        }
    }
    groups.retain(|(_, ops)| !ops.is_empty());
    groups
}

fn tag_description<'a>(doc: &'a Value, tag: &str) -> Option<&'a str> {
    doc["tags"]
        .as_array()?
        .iter()
        .find(|t| t["name"].as_str() == Some(tag))?["description"]
        .as_str()
}

fn render_operation(out: &mut String, doc: &Value, op: &Op<'_>) {
    let b = op.body;
    let _ = write!(
        out,
        "<article id=\"{}\"><h3>{} <code>{}</code>{}</h3>",
        op.anchor(),
        method_badge(op.method),
        esc(op.path),
        if b["deprecated"] == Value::Bool(true) {
            "<span class=\"deprecated\">deprecated</span>"
        } else {
            ""
        }
    );
    if let Some(summary) = b["summary"].as_str() {
        let _ = write!(out, "<p><strong>{}</strong></p>", text(summary));
    }
    out.push_str(&paragraphs(b["description"].as_str().unwrap_or("")));

    if let Some(params) = b["parameters"].as_array().filter(|p| !p.is_empty()) {
        out.push_str("<h4>Parameters</h4><table><tr><th>Name</th><th>In</th><th>Type</th><th>Required</th><th>Description</th></tr>");
        for param in params {
            let p = resolve(doc, param);
            let mut desc = text(p["description"].as_str().unwrap_or(""));
            if let Some(example) = p.get("example") {
                let _ = write!(
                    desc,
                    " <span class=\"muted\">Example: <code>{}</code></span>",
                    esc(&compact(example))
                );
            }
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{desc}</td></tr>",
                esc(p["name"].as_str().unwrap_or("")),
                esc(p["in"].as_str().unwrap_or("")),
                label(&p["schema"]),
                yes_no(p["required"] == Value::Bool(true)),
            );
        }
        out.push_str("</table>");
    }

    if let Some(body) = b.get("requestBody") {
        let body = resolve(doc, body);
        let required = if body["required"] == Value::Bool(true) {
            "required"
        } else {
            "optional"
        };
        let _ = write!(
            out,
            "<h4>Request body <span class=\"muted\">({required})</span></h4>"
        );
        out.push_str(&paragraphs(body["description"].as_str().unwrap_or("")));
        render_content(out, &body["content"]);
    }

    if let Some(responses) = b["responses"].as_object() {
        out.push_str("<h4>Responses</h4><table><tr><th>Status</th><th>Description</th><th>Body and headers</th></tr>");
        for (status, response) in responses {
            let r = resolve(doc, response);
            let mut cell = String::new();
            render_content(&mut cell, &r["content"]);
            render_headers(&mut cell, &r["headers"]);
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{cell}</td></tr>",
                esc(status),
                paragraphs(r["description"].as_str().unwrap_or(""))
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</article>\n");
}

/// Each media type of a `content` map: its schema, the schema of its SSE events, an example.
fn render_content(out: &mut String, content: &Value) {
    for (media_type, media) in content.as_object().into_iter().flatten() {
        let _ = write!(
            out,
            "<p><code>{}</code>: {}",
            esc(media_type),
            label(&media["schema"])
        );
        if let Some(events) = media.get("x-sse-data") {
            let _ = write!(out, "; each event's <code>data</code>: {}", label(events));
        }
        out.push_str("</p>");
        if let Some(example) = media.get("example") {
            let pretty = serde_json::to_string_pretty(example).unwrap_or_default();
            let _ = write!(
                out,
                "<details><summary>Example</summary><pre>{}</pre></details>",
                esc(&pretty)
            );
        }
    }
}

fn render_headers(out: &mut String, headers: &Value) {
    let Some(headers) = headers.as_object().filter(|h| !h.is_empty()) else {
        return;
    };
    out.push_str("<p>Headers:</p><ul>");
    for (name, header) in headers {
        // A shared header is described once, in its own section, and linked from here.
        if let Some(shared) = header["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/headers/"))
        {
            let _ = write!(
                out,
                "<li><code>{}</code>: see <a href=\"#header-{}\">{}</a></li>",
                esc(name),
                anchor(shared),
                esc(shared)
            );
            continue;
        }
        let _ = write!(
            out,
            "<li><code>{}</code> ({}): {}</li>",
            esc(name),
            label(&header["schema"]),
            text(header["description"].as_str().unwrap_or(""))
        );
    }
    out.push_str("</ul>");
}

/// `components.headers`, each described once.
fn render_shared_headers(out: &mut String, doc: &Value) {
    let Some(headers) = doc["components"]["headers"].as_object() else {
        return;
    };
    out.push_str("<section id=\"headers\"><h2>Shared headers</h2>");
    for (name, header) in headers {
        let _ = writeln!(
            out,
            "<article id=\"header-{}\"><h3>{}</h3><p>Type: {}</p>{}</article>",
            anchor(name),
            esc(name),
            label(&header["schema"]),
            paragraphs(header["description"].as_str().unwrap_or(""))
        );
    }
    out.push_str("</section>\n");
}

/// The authentication schemes, in the page's introduction.
fn render_security(out: &mut String, doc: &Value) {
    let Some(schemes) = doc["components"]["securitySchemes"].as_object() else {
        return;
    };
    for (name, scheme) in schemes {
        let kind = [&scheme["type"], &scheme["scheme"]]
            .iter()
            .filter_map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let _ = write!(
            out,
            "<p><strong>Authentication</strong> (<code>{}</code>, {}): {}</p>",
            esc(name),
            esc(&kind),
            text(scheme["description"].as_str().unwrap_or(""))
        );
    }
}

/// Follows `$ref`s inside the document (up to a few hops, so a cycle cannot loop).
fn resolve<'a>(doc: &'a Value, mut value: &'a Value) -> &'a Value {
    for _ in 0..8 {
        let Some(target) = value["$ref"].as_str().and_then(|r| r.strip_prefix('#')) else {
            break;
        };
        match doc.pointer(target) {
            Some(next) => value = next,
            None => break,
        }
    }
    value
}

fn method_badge(method: &str) -> String {
    format!(
        "<span class=\"method {0}\">{1}</span>",
        esc(method),
        esc(&method.to_uppercase())
    )
}

#[cfg(test)]
mod tests;
