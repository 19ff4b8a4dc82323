//! gRPC server reflection, `grpc.reflection.v1` and the older `v1alpha` (which grpcurl 1.8 and
//! other tools built before v1 still ask for), so generic clients can list and describe the
//! gateway's services without a copy of its `.proto` files.
//!
//! Both versions serve the same descriptors: the gateway's own files as build.rs compiled them
//! (with the well-known types they import, such as `google/protobuf/struct.proto`, and their
//! comments) and the health service's, so `list` shows everything the port answers.

use tonic::service::Routes;
use tonic_reflection::server::Builder;

/// `routes` with both reflection services added. The descriptor sets are compiled in, so they
/// always decode (a unit test proves it); if one ever did not, the gateway would still serve,
/// without reflection, and say why.
pub fn add_to(routes: Routes) -> Routes {
    match (builder().build_v1(), builder().build_v1alpha()) {
        (Ok(v1), Ok(v1alpha)) => routes.add_service(v1).add_service(v1alpha),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!("gRPC reflection is off: its descriptors do not load: {e}");
            routes
        }
    }
}

/// A reflection builder over every descriptor the port serves.
fn builder() -> Builder<'static> {
    Builder::configure()
        .register_encoded_file_descriptor_set(crate::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

#[cfg(test)]
mod tests {
    use super::builder;

    #[test]
    fn descriptors_load_for_both_versions() {
        assert!(builder().build_v1().is_ok());
        assert!(builder().build_v1alpha().is_ok());
    }
}
