//! Compiles `proto/` without a `protoc` on the machine: protox parses the files in pure Rust,
//! tonic-prost-build generates the messages, servers and clients from the resulting
//! descriptors, pbjson-build generates proto3-JSON serde impls for every message, the encoded
//! descriptor set (options included, so reflection clients see the `google.api.http`
//! annotations) is written out for gRPC reflection, and `build/rest_bridge.rs` generates the
//! REST bridge's routes and OpenAPI paths from those annotations.

use std::path::PathBuf;

use prost::Message as _;

#[path = "build/rest_bridge.rs"]
mod rest_bridge;

const PROTOS: &[&str] = &[
    "proto/llmgateway/v1/common.proto",
    "proto/llmgateway/v1/chat.proto",
    "proto/llmgateway/v1/completions.proto",
    "proto/llmgateway/v1/embeddings.proto",
    "proto/llmgateway/v1/endpoints.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=build");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    let mut compiler = protox::Compiler::new(["proto"])?;
    compiler
        .include_source_info(true)
        .include_imports(true)
        .open_files(PROTOS)?;
    // Encoded from the descriptor pool, which keeps extension options that prost's
    // `FileDescriptorSet` type would drop.
    let descriptor_bytes = compiler.encode_file_descriptor_set();
    std::fs::write(out_dir.join("llmgateway_descriptor.bin"), &descriptor_bytes)?;

    rest_bridge::generate(&compiler.descriptor_pool(), &out_dir)?;

    let fds = prost_types::FileDescriptorSet::decode(descriptor_bytes.as_slice())?;
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
