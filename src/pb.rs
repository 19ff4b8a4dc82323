//! The generated Protobuf API (`proto/llmgateway/v1`): prost messages, tonic servers and
//! clients, proto3-JSON serde impls (pbjson), and the encoded file descriptor set. These types are
//! the gateway's one internal model; every surface converts to and from them.

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/llmgateway.v1.rs"));
    include!(concat!(env!("OUT_DIR"), "/llmgateway.v1.serde.rs"));
}

/// Encoded `FileDescriptorSet` of every file in `proto/`, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/llmgateway_descriptor.bin"));

#[cfg(test)]
mod tests {
    use super::v1;
    use prost::Message as _;

    #[test]
    fn descriptor_set_describes_every_service() {
        let fds = pbjson_types::FileDescriptorSet::decode(super::FILE_DESCRIPTOR_SET).unwrap();
        let services: Vec<String> = fds
            .file
            .iter()
            .filter(|f| f.package() == "llmgateway.v1")
            .flat_map(|f| f.service.iter().map(|s| s.name().to_owned()))
            .collect();
        for s in [
            "ChatService",
            "CompletionsService",
            "EmbeddingsService",
            "EndpointsService",
        ] {
            assert!(services.iter().any(|x| x == s), "{s} missing: {services:?}");
        }
    }

    #[test]
    fn proto3_json_round_trips_with_either_field_spelling() {
        let req: v1::ChatRequest = serde_json::from_str(
            r#"{"endpoint":"chat","messages":[{"role":"user","content":"hi"}],
                "maxTokens":5,"tool_choice":{"mode":"auto"},"extra_params":{"seed":7}}"#,
        )
        .unwrap();
        assert_eq!(req.max_tokens, Some(5));
        assert_eq!(req.messages[0].content.as_deref(), Some("hi"));
        assert_eq!(
            req.tool_choice.as_ref().unwrap().choice,
            Some(v1::tool_choice::Choice::Mode("auto".into()))
        );
        let text = serde_json::to_string(&req).unwrap();
        assert!(text.contains("\"max_tokens\":5"), "{text}");
        let back: v1::ChatRequest = serde_json::from_str(&text).unwrap();
        assert_eq!(back, req);
    }
}
