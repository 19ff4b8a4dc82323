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
