//! HTML building blocks of the docs page: escaping, description text (with Markdown's `code`
//! spans), anchors, and JSON Schemas as one-line labels and field tables.

use std::fmt::Write as _;

use serde_json::Value;

/// A component schema in full: description, its type when not a plain object, the parts it
/// combines, its fields.
pub(super) fn render_schema(out: &mut String, schema: &Value) {
    out.push_str(&paragraphs(schema["description"].as_str().unwrap_or("")));
    let is_object = schema["type"] == "object" || schema.get("properties").is_some();
    if !is_object && schema.get("allOf").is_none() {
        let _ = write!(out, "<p>Type: {}</p>", label(schema));
    }
    if let Some(prop) = schema["discriminator"]["propertyName"].as_str() {
        let _ = write!(
            out,
            "<p class=\"muted\">Chosen by the value of <code>{}</code>.</p>",
            esc(prop)
        );
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        if part.get("$ref").is_some() {
            let _ = write!(out, "<p>Every field of {}, and:</p>", label(part));
        } else {
            out.push_str(&properties_table(part));
        }
    }
    if is_object {
        out.push_str(&properties_table(schema));
    }
    if let Some(example) = schema.get("example") {
        let _ = write!(
            out,
            "<p class=\"muted\">Example: <code>{}</code></p>",
            esc(&compact(example))
        );
    }
}

fn properties_table(schema: &Value) -> String {
    let Some(props) = schema["properties"].as_object().filter(|p| !p.is_empty()) else {
        return String::new();
    };
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut out = String::from(
        "<table><tr><th>Field</th><th>Type</th><th>Required</th><th>Description</th></tr>",
    );
    for (name, prop) in props {
        let mut desc = paragraphs(prop["description"].as_str().unwrap_or(""));
        // Inline objects (not `$ref`s) are described in place, one level down.
        let nested = if prop.get("properties").is_some() {
            prop
        } else {
            &prop["items"]
        };
        desc.push_str(&properties_table(nested));
        if let Some(example) = prop.get("example") {
            let _ = write!(
                desc,
                "<span class=\"muted\">Example: <code>{}</code></span>",
                esc(&compact(example))
            );
        }
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{desc}</td></tr>",
            esc(name),
            label(prop),
            yes_no(required.contains(&name.as_str())),
        );
    }
    out.push_str("</table>");
    out
}

/// A one-line HTML description of a schema's type: links for `$ref`s, `A | B` for unions,
/// `array of T`, literal values for `const` and `enum`, then its bounds and default.
pub(super) fn label(schema: &Value) -> String {
    let mut out = if let Some(target) = schema["$ref"].as_str() {
        ref_link(target)
    } else if let Some(value) = schema.get("const") {
        format!("<code>{}</code>", esc(&compact(value)))
    } else if let Some(values) = schema["enum"].as_array() {
        let listed: Vec<String> = values
            .iter()
            .map(|v| format!("<code>{}</code>", esc(&compact(v))))
            .collect();
        format!("one of {}", listed.join(", "))
    } else if let Some(members) = schema["anyOf"].as_array().or(schema["oneOf"].as_array()) {
        members.iter().map(label).collect::<Vec<_>>().join(" | ")
    } else if let Some(parts) = schema["allOf"].as_array() {
        parts.iter().map(label).collect::<Vec<_>>().join(" &amp; ")
    } else {
        type_names(schema)
    };
    let mut bounds = Vec::new();
    for (key, sign) in [("minimum", "≥"), ("maximum", "≤"), ("minItems", "items ≥")] {
        if let Some(v) = schema.get(key) {
            bounds.push(format!("{sign} {}", esc(&compact(v))));
        }
    }
    if let Some(v) = schema.get("default") {
        bounds.push(format!("default <code>{}</code>", esc(&compact(v))));
    }
    if !bounds.is_empty() {
        let _ = write!(out, " <span class=\"muted\">({})</span>", bounds.join(", "));
    }
    out
}

fn type_names(schema: &Value) -> String {
    let names: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if names.is_empty() {
        return "any".into();
    }
    names
        .iter()
        .map(|&t| match (t, schema.get("items")) {
            ("array", Some(items)) => format!("array of {}", label(items)),
            _ => esc(t),
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

fn ref_link(target: &str) -> String {
    match target.strip_prefix("#/components/schemas/") {
        Some(name) => format!("<a href=\"#schema-{}\">{}</a>", anchor(name), esc(name)),
        None => format!("<code>{}</code>", esc(target)),
    }
}

pub(super) fn yes_no(required: bool) -> &'static str {
    if required { "yes" } else { "no" }
}

pub(super) fn compact(value: &Value) -> String {
    value.to_string()
}

/// An id attribute from any text: letters, digits, `-` and `_` kept, the rest `-`.
pub(super) fn anchor(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Description text as `<p>` paragraphs (split on blank lines).
pub(super) fn paragraphs(s: &str) -> String {
    s.split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| format!("<p>{}</p>", text(p)))
        .collect()
}

/// Escaped text in which `` `code` `` spans become `<code>`.
pub(super) fn text(s: &str) -> String {
    let escaped = esc(s);
    let mut out = String::with_capacity(escaped.len() + 16);
    let mut pieces = escaped.split('`');
    if let Some(first) = pieces.next() {
        out.push_str(first);
    }
    let rest: Vec<&str> = pieces.collect();
    // An odd number of backticks leaves the last one literal.
    for (i, piece) in rest.iter().enumerate() {
        if i % 2 == 0 && i + 1 < rest.len() {
            let _ = write!(out, "<code>{piece}</code>");
        } else if i % 2 == 0 {
            out.push('`');
            out.push_str(piece);
        } else {
            out.push_str(piece);
        }
    }
    out
}

/// HTML-escapes text for element content and quoted attribute values.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
