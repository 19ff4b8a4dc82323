//! Pure conversions for Hugging Face Text Generation Inference (spec §3.9): MLflow's checks
//! (no client `max_new_tokens`, `n` must be 1), the `/generate` body with `max_tokens` renamed
//! and the temperature moved to TGI's 0..100 range, and the response read into one choice with
//! token counts from the details TGI was asked for.

use crate::error::GatewayError;
use crate::pb::v1 as pb;
use crate::providers::openai::convert::{self as oai_convert, BodyContext};

use super::wire;

/// MLflow's parameter checks, before anything is sent.
pub fn check(req: &pb::CompletionRequest) -> Result<(), GatewayError> {
    if req
        .extra_params
        .as_ref()
        .is_some_and(|e| e.fields.contains_key("max_new_tokens"))
    {
        return Err(GatewayError::Unprocessable(
            "Invalid parameter max_new_tokens. Use max_tokens instead.".into(),
        ));
    }
    let n = req.n.unwrap_or(1);
    if n != 1 {
        // MLflow's text, missing space included.
        return Err(GatewayError::Unprocessable(format!(
            "'n' must be '1' for the Text Generation Inference provider.Received value: '{n}'."
        )));
    }
    Ok(())
}

/// TGI's temperature: ours (0..2) times 50, and never 0, which TGI refuses.
pub fn temperature(t: f64) -> f64 {
    (50.0 * t).max(0.001)
}

/// The `/generate` body. `n` is not sent (TGI makes one candidate).
pub fn generate_body(req: &pb::CompletionRequest) -> wire::GenerateBody<'_> {
    // OpenAI's completion body already holds every field borrowed and its response_format
    // mapped; TGI's parameters are its fields under TGI's names.
    let b = oai_convert::completion_body(req, BodyContext { model: None }, false);
    let p = b.params;
    wire::GenerateBody {
        inputs: b.prompt,
        parameters: wire::Parameters {
            stop: p.stop,
            max_new_tokens: p.max_tokens,
            max_completion_tokens: p.max_completion_tokens,
            temperature: p.temperature.map(temperature),
            top_p: p.top_p,
            top_k: p.top_k,
            presence_penalty: p.presence_penalty,
            frequency_penalty: p.frequency_penalty,
            response_format: p.response_format,
            extra: b.extra,
            details: true,
            decoder_input_details: true,
        },
    }
}

/// The completion: `generated_text`, TGI's finish reason, prompt tokens = prefill length.
pub fn completion_response(r: wire::Response, model: &str, now: i64) -> pb::CompletionResponse {
    let generated = match r {
        wire::Response::One(g) => Some(g),
        wire::Response::Many(list) => list.into_iter().next(),
    };
    let (text, details) =
        generated.map_or((String::new(), None), |g| (g.generated_text, g.details));
    let (finish_reason, usage) = match details {
        Some(d) => {
            let prompt = u32::try_from(d.prefill.len()).unwrap_or(u32::MAX);
            let usage = pb::Usage {
                prompt_tokens: Some(prompt),
                completion_tokens: d.generated_tokens,
                total_tokens: d.generated_tokens.map(|g| g.saturating_add(prompt)),
                ..Default::default()
            };
            (d.finish_reason, Some(usage))
        }
        None => (None, None),
    };
    pb::CompletionResponse {
        id: None,
        created: now,
        model: model.to_owned(),
        choices: vec![pb::CompletionChoice {
            index: 0,
            text,
            finish_reason,
        }],
        usage,
        provider: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto_json::to_pb_struct;
    use serde_json::json;

    const RESPONSE: &str =
        include_str!("../../../tests/fixtures/huggingface-tgi/generate_response.json");

    #[test]
    fn body_matches_mlflow() {
        let req = pb::CompletionRequest {
            prompt: "p".into(),
            stop: vec!["x".into()],
            max_tokens: Some(7),
            temperature: Some(0.0),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&generate_body(&req)).unwrap(),
            r#"{"inputs":"p","parameters":{"stop":["x"],"max_new_tokens":7,"temperature":0.001,"details":true,"decoder_input_details":true}}"#
        );
        let req = pb::CompletionRequest {
            prompt: "p".into(),
            temperature: Some(0.5),
            top_p: Some(0.9),
            top_k: Some(5),
            extra_params: Some(to_pb_struct(
                json!({"repetition_penalty": 1.2})
                    .as_object()
                    .cloned()
                    .unwrap(),
            )),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(generate_body(&req)).unwrap(),
            json!({"inputs":"p","parameters":{"temperature":25.0,"top_p":0.9,"top_k":5,
                   "repetition_penalty":1.2,"details":true,"decoder_input_details":true}})
        );
    }

    #[test]
    fn checks_are_mlflows() {
        let mut req = pb::CompletionRequest {
            n: Some(2),
            ..Default::default()
        };
        assert_eq!(
            check(&req).unwrap_err().to_string(),
            "'n' must be '1' for the Text Generation Inference provider.Received value: '2'."
        );
        req.n = Some(1);
        req.extra_params = Some(to_pb_struct(
            json!({"max_new_tokens": 3}).as_object().cloned().unwrap(),
        ));
        let e = check(&req).unwrap_err();
        assert_eq!(e.http_status(), 422);
        assert_eq!(
            e.to_string(),
            "Invalid parameter max_new_tokens. Use max_tokens instead."
        );
    }

    #[test]
    fn response_text_finish_and_usage() {
        let r = completion_response(serde_json::from_str(RESPONSE).unwrap(), "tgi", 9);
        assert_eq!(
            (r.id.clone(), r.model.as_str(), r.created),
            (None, "tgi", 9)
        );
        assert_eq!(r.choices[0].text, "test");
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("length"));
        let u = r.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (Some(2), Some(1), Some(3))
        );
        let listed: wire::Response =
            serde_json::from_value(json!([{"generated_text": "hi"}])).unwrap();
        let r = completion_response(listed, "tgi", 0);
        assert_eq!(r.choices[0].text, "hi");
        assert!(r.usage.is_none());
    }
}
