//! Unit tests of the InvokeModel bodies and answers, on MLflow's request fixtures (spec §6) and
//! the answers in `tests/fixtures/bedrock/`.

use super::*;

const TITAN_RESPONSE: &str =
    include_str!("../../../tests/fixtures/bedrock/invoke_titan_response.json");
const ANTHROPIC_RESPONSE: &str =
    include_str!("../../../tests/fixtures/bedrock/invoke_anthropic_response.json");
const EMBED_RESPONSE: &str =
    include_str!("../../../tests/fixtures/bedrock/invoke_embed_response.json");

fn req(prompt: &str) -> pb::CompletionRequest {
    pb::CompletionRequest {
        prompt: prompt.into(),
        ..Default::default()
    }
}

fn body(family: Family, r: &pb::CompletionRequest) -> String {
    String::from_utf8(complete_body(family, r).unwrap()).unwrap()
}

fn err(family: Family, r: &pb::CompletionRequest) -> GatewayError {
    complete_body(family, r).unwrap_err()
}

#[test]
fn family_detection_matches_mlflow() {
    for (id, f) in [
        ("us.anthropic.claude-3-sonnet", Family::Anthropic),
        ("anthropic.claude-v2:1", Family::Anthropic),
        ("us.amazon.nova-premier-v1:0", Family::Amazon),
        ("amazon.titan-text-express-v1", Family::Amazon),
        ("ai21.j2-ultra-v1", Family::Ai21),
        ("cohere.command-text-v14", Family::Cohere),
        ("meta.llama3-8b-instruct-v1:0", Family::Meta),
        ("mistral.mistral-7b-instruct-v0:2", Family::Mistral),
    ] {
        assert_eq!(Family::of(id).unwrap(), f, "{id}");
    }
    for id in ["anthropic-claude", "unknown.model"] {
        match Family::of(id) {
            Err(GatewayError::Unprocessable(m)) => {
                assert_eq!(m, "Unknown Amazon Bedrock model type None");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn titan_body_matches_the_mlflow_fixture() {
    let r = pb::CompletionRequest {
        n: Some(1),
        temperature: Some(0.5),
        stop: vec!["foobar".into()],
        max_tokens: Some(1000),
        ..req("This is a test")
    };
    assert_eq!(
        body(Family::Amazon, &r),
        r#"{"inputText":"This is a test","textGenerationConfig":{"temperature":0.25,"stopSequences":["foobar"],"maxTokenCount":1000}}"#
    );
    let two = pb::CompletionRequest {
        n: Some(2),
        ..req("x")
    };
    assert_eq!(
        err(Family::Amazon, &two).to_string(),
        "'n' must be '1' for AWS Titan models. Received value: '2'."
    );
    let zero = pb::CompletionRequest {
        top_p: Some(0.0),
        ..req("x")
    };
    assert_eq!(
        err(Family::Amazon, &zero).to_string(),
        "'top_p' must be greater than 0 for AWS Titan models. Received value: '0.0'."
    );
    let top = pb::CompletionRequest {
        top_p: Some(0.9),
        ..req("x")
    };
    assert_eq!(
        body(Family::Amazon, &top),
        r#"{"inputText":"x","textGenerationConfig":{"topP":0.9}}"#
    );
}

#[test]
fn ai21_and_cohere_bodies() {
    let r = pb::CompletionRequest {
        n: Some(2),
        max_tokens: Some(1000),
        stop: vec!["foobar".into()],
        ..req("This is a test")
    };
    assert_eq!(
        body(Family::Ai21, &r),
        r#"{"prompt":"This is a test","numResults":2,"stopSequences":["foobar"],"maxTokens":1000}"#
    );
    let c = pb::CompletionRequest {
        temperature: Some(0.5),
        ..r.clone()
    };
    assert_eq!(
        body(Family::Cohere, &c),
        r#"{"prompt":"This is a test","temperature":1.25,"num_generations":2,"stop_sequences":["foobar"],"max_tokens":1000}"#
    );
    let zero = pb::CompletionRequest {
        temperature: Some(0.0),
        ..req("p")
    };
    assert_eq!(
        body(Family::Cohere, &zero),
        r#"{"prompt":"p","temperature":0.0}"#
    );
    let clash = pb::CompletionRequest {
        extra_params: Some(crate::proto_json::to_pb_struct(
            serde_json::json!({"stop_sequences": ["x"]})
                .as_object()
                .cloned()
                .unwrap(),
        )),
        ..req("p")
    };
    let e = err(Family::Cohere, &clash);
    assert_eq!(e.http_status(), 400);
    assert_eq!(
        e.to_string(),
        "Invalid parameter stop_sequences. Use stop instead."
    );
}

#[test]
fn anthropic_body_matches_the_observed_mlflow_body() {
    let r = pb::CompletionRequest {
        max_tokens: Some(100),
        temperature: Some(0.6),
        ..req("hello")
    };
    let v: Value = serde_json::from_str(&body(Family::Anthropic, &r)).unwrap();
    assert_eq!(
        v,
        json!({"max_tokens_to_sample":100,"temperature":0.3,"prompt":"\n\nHuman: hello\n\nAssistant:","stop_sequences":["\n\nHuman:"],"anthropic_version":"bedrock-2023-05-31"})
    );
    let big = pb::CompletionRequest {
        stop: vec!["\n\nHuman:".into(), "END".into()],
        ..req("hi")
    };
    let v: Value = serde_json::from_str(&body(Family::Anthropic, &big)).unwrap();
    assert_eq!(v["max_tokens_to_sample"], 8191);
    assert_eq!(v["stop_sequences"], json!(["\n\nHuman:", "END"]));
    assert!(v.get("model").is_none());
    let top = pb::CompletionRequest {
        top_p: Some(0.5),
        ..req("hi")
    };
    assert!(
        err(Family::Anthropic, &top)
            .to_string()
            .starts_with("Cannot set both")
    );
}

#[test]
fn meta_and_mistral_bodies() {
    let r = pb::CompletionRequest {
        max_tokens: Some(50),
        temperature: Some(0.2),
        ..req("q")
    };
    assert_eq!(
        body(Family::Meta, &r),
        r#"{"prompt":"q","temperature":0.2,"max_gen_len":50}"#
    );
    let stop = pb::CompletionRequest {
        stop: vec!["x".into()],
        ..req("q")
    };
    assert_eq!(
        err(Family::Meta, &stop).to_string(),
        "'stop' is not supported by Meta Llama models on Amazon Bedrock."
    );
    assert_eq!(
        body(Family::Mistral, &stop),
        r#"{"prompt":"q","stop":["x"]}"#
    );
}

#[test]
fn answers_per_family() {
    let titan = complete_response(
        Family::Amazon,
        serde_json::from_str(TITAN_RESPONSE).unwrap(),
        "amazon.titan-text-express-v1",
        7,
    )
    .unwrap();
    assert_eq!(titan.choices[0].text, "\nThis is a test");
    assert_eq!(titan.choices[0].finish_reason, None);
    assert_eq!((titan.id, titan.usage), (None, None));
    assert_eq!(titan.model, "amazon.titan-text-express-v1");

    let claude = complete_response(
        Family::Anthropic,
        serde_json::from_str(ANTHROPIC_RESPONSE).unwrap(),
        "anthropic.claude-v2",
        7,
    )
    .unwrap();
    assert_eq!(claude.choices[0].text, " Hello there!");
    assert_eq!(claude.choices[0].finish_reason.as_deref(), Some("stop"));
    assert_eq!(claude.model, "anthropic.claude-v2");

    let ai21 = complete_response(
        Family::Ai21,
        json!({"completions":[{"data":{"text":"a"}},{"data":{"text":"b"}}]}),
        "ai21.j2",
        7,
    )
    .unwrap();
    assert_eq!(
        ai21.choices
            .iter()
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
    let cohere = complete_response(
        Family::Cohere,
        json!({"generations":[{"text":"c"}]}),
        "c.x",
        7,
    )
    .unwrap();
    assert_eq!(cohere.choices[0].text, "c");
    let meta = complete_response(
        Family::Meta,
        json!({"generation":"m","prompt_token_count":3,"generation_token_count":2,"stop_reason":"length"}),
        "meta.x",
        7,
    )
    .unwrap();
    assert_eq!(meta.choices[0].finish_reason.as_deref(), Some("length"));
    assert_eq!(meta.usage.unwrap().total_tokens, Some(5));
    let mistral = complete_response(
        Family::Mistral,
        json!({"outputs":[{"text":"t","stop_reason":"stop"}]}),
        "mistral.x",
        7,
    )
    .unwrap();
    assert_eq!(mistral.choices[0].text, "t");
    assert!(complete_response(Family::Amazon, json!({"results": 3}), "m", 1).is_err());
}

#[test]
fn embeddings_one_body_per_input_and_summed_usage() {
    let r = pb::EmbedRequest {
        texts: vec!["a".into(), "b".into()],
        ..Default::default()
    };
    let bodies: Vec<String> = embed_bodies(&r)
        .unwrap()
        .into_iter()
        .map(|b| String::from_utf8(b).unwrap())
        .collect();
    assert_eq!(bodies, [r#"{"inputText":"a"}"#, r#"{"inputText":"b"}"#]);
    let dims = pb::EmbedRequest {
        dimensions: Some(256),
        ..r.clone()
    };
    assert_eq!(
        String::from_utf8(embed_bodies(&dims).unwrap().remove(0)).unwrap(),
        r#"{"inputText":"a","dimensions":256}"#
    );
    let tokens = pb::EmbedRequest {
        token_ids: vec![pb::TokenIds { ids: vec![1, 2] }],
        ..Default::default()
    };
    assert!(embed_bodies(&tokens).is_err());

    let answer = || serde_json::from_str::<wire::EmbedAnswer>(EMBED_RESPONSE).unwrap();
    let resp = embed_response(
        vec![answer(), answer()],
        "amazon.titan-embed-text-v1",
        false,
    );
    assert_eq!(resp.data.len(), 2);
    assert_eq!(resp.data[1].index, 1);
    assert_eq!(resp.data[0].values, vec![0.1, -0.25, 3e-05]);
    let u = resp.usage.unwrap();
    assert_eq!((u.prompt_tokens, u.total_tokens), (Some(6), Some(6)));
    let b64 = embed_response(vec![answer()], "m", true);
    assert!(b64.data[0].values.is_empty());
    assert_eq!(b64.data[0].base64.as_deref().map(str::len), Some(16));
}
