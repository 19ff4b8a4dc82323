//! Pure conversions for AI21 Labs (spec §3.13): MLflow's renames (`stop` → `stopSequences`,
//! `n` → `numResults`, `max_tokens` → `maxTokens`), its refusal of the target names from a
//! client, and the response read into choices with AI21's raw finish reasons.

use crate::error::GatewayError;
use crate::pb::v1 as pb;
use crate::providers::openai::convert::{self as oai_convert, BodyContext};

use super::wire;

/// The renames, ours → AI21's, in the order MLflow checks them.
const RENAMES: [(&str, &str); 3] = [
    ("stop", "stopSequences"),
    ("n", "numResults"),
    ("max_tokens", "maxTokens"),
];

/// A client that already uses AI21's names gets MLflow's 422, naming ours.
pub fn check(req: &pb::CompletionRequest) -> Result<(), GatewayError> {
    let Some(extra) = req.extra_params.as_ref() else {
        return Ok(());
    };
    for (ours, theirs) in RENAMES {
        if extra.fields.contains_key(theirs) {
            return Err(GatewayError::Unprocessable(format!(
                "Invalid parameter {theirs}. Use {ours} instead."
            )));
        }
    }
    Ok(())
}

/// The `complete` body.
pub fn complete_body(req: &pb::CompletionRequest) -> wire::CompleteBody<'_> {
    // OpenAI's completion body already borrows every field and maps response_format.
    let b = oai_convert::completion_body(req, BodyContext { model: None }, false);
    let p = b.params;
    wire::CompleteBody {
        prompt: b.prompt,
        numResults: p.n,
        stopSequences: p.stop,
        maxTokens: p.max_tokens,
        max_completion_tokens: p.max_completion_tokens,
        temperature: p.temperature,
        top_p: p.top_p,
        top_k: p.top_k,
        presence_penalty: p.presence_penalty,
        frequency_penalty: p.frequency_penalty,
        response_format: p.response_format,
        extra: b.extra,
    }
}

/// The completions response: one choice per AI21 completion; no id or usage (MLflow reports
/// neither), the configured model, `created` now.
pub fn completion_response(r: wire::Complete, model: &str, now: i64) -> pb::CompletionResponse {
    pb::CompletionResponse {
        id: None,
        created: now,
        model: model.to_owned(),
        choices: r
            .completions
            .into_iter()
            .enumerate()
            .map(|(i, c)| pb::CompletionChoice {
                index: u32::try_from(i).unwrap_or(u32::MAX),
                text: c.data.map(|d| d.text).unwrap_or_default(),
                finish_reason: c.finishReason.and_then(|f| f.reason),
            })
            .collect(),
        usage: None,
        provider: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto_json::to_pb_struct;
    use serde_json::json;

    const RESPONSE: &str = include_str!("../../../tests/fixtures/ai21labs/complete_response.json");

    #[test]
    fn body_renames_like_mlflow() {
        let req = pb::CompletionRequest {
            prompt: "This is a test".into(),
            n: Some(2),
            max_tokens: Some(1000),
            stop: vec!["foobar".into()],
            temperature: Some(0.7),
            extra_params: Some(to_pb_struct(
                json!({"topKReturn": 0}).as_object().cloned().unwrap(),
            )),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(complete_body(&req)).unwrap(),
            json!({"prompt":"This is a test","numResults":2,"stopSequences":["foobar"],
                   "maxTokens":1000,"temperature":0.7,"topKReturn":0})
        );
    }

    #[test]
    fn target_names_from_the_client_are_refused() {
        for (ours, theirs) in RENAMES {
            let req = pb::CompletionRequest {
                extra_params: Some(to_pb_struct(
                    json!({ theirs: 1 }).as_object().cloned().unwrap(),
                )),
                ..Default::default()
            };
            let e = check(&req).unwrap_err();
            assert_eq!(e.http_status(), 422);
            assert_eq!(
                e.to_string(),
                format!("Invalid parameter {theirs}. Use {ours} instead.")
            );
        }
        assert!(check(&pb::CompletionRequest::default()).is_ok());
    }

    #[test]
    fn response_choices() {
        let r = completion_response(serde_json::from_str(RESPONSE).unwrap(), "j2-ultra", 5);
        assert_eq!(
            (r.id.clone(), r.model.as_str(), r.created),
            (None, "j2-ultra", 5)
        );
        assert_eq!(r.choices.len(), 2);
        assert_eq!(r.choices[0].text, " complete this");
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("length"));
        assert_eq!(r.choices[1].index, 1);
        assert_eq!(r.choices[1].finish_reason.as_deref(), Some("endoftext"));
        assert!(r.usage.is_none());
    }
}
