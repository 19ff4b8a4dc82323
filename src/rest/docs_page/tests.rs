//! The docs page's rendering: escaping, type labels, and the real document.

use serde_json::json;

use super::*;

#[test]
fn every_text_from_the_document_is_escaped() {
    let doc = json!({
        "openapi": "3.1.0",
        "info": {"title": "<script>alert(1)</script>", "version": "1&2", "description": "a \"quote\" and 'apostrophe'"},
        "tags": [{"name": "T<b>", "description": "<i>tag</i>"}],
        "paths": {"/x/{y}": {"get": {
            "tags": ["T<b>"],
            "operationId": "o\"p",
            "summary": "<img src=x onerror=alert(1)>",
            "parameters": [{"name": "y<", "in": "path", "required": true, "schema": {"type": "string", "enum": ["<a>"]}, "example": "</td>"}],
            "responses": {"200": {"description": "ok", "content": {"text/<plain>": {"schema": {"const": "<c>"}, "example": "</pre><script>"}}}}
        }}},
        "components": {"schemas": {"S\"<": {"type": "object", "description": "<hr>", "properties": {"<p>": {"type": "string", "description": "`<code>`"}}}}}
    });
    let html = render(&doc);
    for raw in [
        "<script>",
        "<img",
        "<b>",
        "<i>",
        "<hr>",
        "<a>",
        "<c>",
        "</td>\"",
        "text/<plain>",
        "o\"p",
    ] {
        assert!(!html.contains(raw), "unescaped {raw:?} in:\n{html}");
    }
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("1&amp;2"));
    assert!(html.contains("a &quot;quote&quot; and &#39;apostrophe&#39;"));
    assert!(html.contains("<code>&lt;code&gt;</code>"));
    // Ids are reduced to safe characters, so an attribute cannot be closed early.
    assert!(html.contains("id=\"op-o-p\""));
    assert!(html.contains("id=\"schema-S--\""));
}

#[test]
fn backticks_become_code_and_a_lone_one_stays() {
    assert_eq!(text("use `a<b` here"), "use <code>a&lt;b</code> here");
    assert_eq!(text("`x` and `y`"), "<code>x</code> and <code>y</code>");
    assert_eq!(text("odd ` one"), "odd ` one");
    assert_eq!(text("`a` then `b"), "<code>a</code> then `b");
    assert_eq!(paragraphs("one\n\ntwo"), "<p>one</p><p>two</p>");
}

#[test]
fn labels_name_types_unions_refs_and_bounds() {
    assert_eq!(
        label(&json!({"$ref": "#/components/schemas/ChatRequest"})),
        "<a href=\"#schema-ChatRequest\">ChatRequest</a>"
    );
    assert_eq!(label(&json!({"type": ["string", "null"]})), "string | null");
    assert_eq!(
        label(&json!({"type": "array", "items": {"type": "integer"}, "minItems": 1})),
        "array of integer <span class=\"muted\">(items ≥ 1)</span>"
    );
    assert_eq!(
        label(&json!({"anyOf": [{"type": "string"}, {"type": "null"}]})),
        "string | null"
    );
    assert_eq!(
        label(&json!({"type": "number", "minimum": 0, "maximum": 2, "default": 1})),
        "number <span class=\"muted\">(≥ 0, ≤ 2, default <code>1</code>)</span>"
    );
    assert_eq!(
        label(&json!({"type": "string", "enum": ["a", "b"]})),
        "one of <code>&quot;a&quot;</code>, <code>&quot;b&quot;</code>"
    );
    assert_eq!(label(&json!({})), "any");
}

#[test]
fn the_gateway_document_renders_every_route_and_schema_without_scripts() {
    let doc = super::super::openapi::document();
    let html = render(&doc);
    for (path, item) in doc["paths"].as_object().unwrap() {
        assert!(html.contains(&format!("<code>{path}</code>")), "{path}");
        for (method, op) in item.as_object().unwrap() {
            let anchor = format!("id=\"op-{}\"", op["operationId"].as_str().unwrap());
            assert!(html.contains(&anchor), "{method} {path}");
        }
    }
    for name in doc["components"]["schemas"].as_object().unwrap().keys() {
        // Generated schema names (`llmgateway.v1.ChatRequest`) have dots, which ids map to `-`.
        let id = format!("id=\"schema-{}\"", super::html::anchor(name));
        assert!(html.contains(&id), "{name}");
    }
    // Self-contained: nothing is loaded from anywhere.
    for fetched in ["<script", "<link", "src=", "@import", "url("] {
        assert!(!html.contains(fetched), "{fetched}");
    }
    // `$ref` responses are shown resolved: the rate-limit answer with its header.
    assert!(html.contains("Rate limit exceeded: 2 per 1 minute"));
    assert!(html.contains("<code>retry-after</code>: see <a href=\"#header-RetryAfter\">"));
    // Shared headers are described once, and the API-key scheme in the introduction.
    assert!(html.contains("id=\"header-RequestId\""));
    assert_eq!(html.matches("usable one (1 to 128").count(), 1);
    assert!(html.contains("<strong>Authentication</strong> (<code>apiKey</code>, http bearer)"));
}
