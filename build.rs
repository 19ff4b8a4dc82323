//! Compiles `proto/llmgateway/v1/*.proto` without a `protoc` on the machine: protox parses the
//! files in pure Rust, tonic-prost-build generates the messages, servers and clients from the
//! resulting descriptors, pbjson-build generates proto3-JSON serde impls for every message, and
//! the encoded descriptor set is written out for gRPC reflection.

use std::path::PathBuf;

use prost::Message as _;

const PROTOS: &[&str] = &[
    "proto/llmgateway/v1/common.proto",
    "proto/llmgateway/v1/chat.proto",
    "proto/llmgateway/v1/completions.proto",
    "proto/llmgateway/v1/embeddings.proto",
    "proto/llmgateway/v1/endpoints.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    let fds = protox::compile(PROTOS, ["proto"])?;
    let descriptor_bytes = fds.encode_to_vec();
    std::fs::write(out_dir.join("llmgateway_descriptor.bin"), &descriptor_bytes)?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_fds(fds)?;

    pbjson_build::Builder::new()
        .register_descriptors(&descriptor_bytes)?
        .preserve_proto_field_names()
        .ignore_unknown_fields()
        .build(&[".llmgateway"])?;
    Ok(())
}
