//! The one list of a REST module's routes. Each module declares its routes once, with
//! [`route_table!`], and gets both its axum router and `ROUTES`, the (method, path template)
//! table that the trailing-slash redirect and the OpenAPI document's tests read. A route can
//! therefore not be served without appearing in `ROUTES`, and the test in `tests/openapi.rs`
//! holds `ROUTES` and `/openapi.json` to the same set.

/// Declares a module's routes: `pub const ROUTES: &[(&str, &str)]` of (method, path template)
/// and a function returning the `Router<RestState>` that serves exactly those lines.
///
/// ```text
/// route_table! {
///     /// The routes.
///     pub fn routes() {
///         GET "/health" => health,
///         POST "/v1/embeddings" => embeddings,
///     }
/// }
/// ```
///
/// The method is an `axum::routing::MethodFilter` constant (`GET` also answers `HEAD`, as
/// axum's `get` does).
macro_rules! route_table {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident() {
            $($method:ident $path:literal => $handler:expr),+ $(,)?
        }
    ) => {
        /// Every route this module serves, as (method, path template), in declaration order.
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),+];

        $(#[$meta])*
        $vis fn $name() -> ::axum::Router<$crate::rest::RestState> {
            ::axum::Router::new()
                $(.route(
                    $path,
                    ::axum::routing::on(::axum::routing::MethodFilter::$method, $handler),
                ))+
        }
    };
}
