//! Routing concerns between the service layer and the providers: per-endpoint rate limits
//! (`ratelimit`), circuit breakers (`circuit`) and retry backoff (`retry`). Destination order,
//! traffic splits and fallbacks are planned and run in `service::dispatch`.

pub mod circuit;
pub mod ratelimit;
pub mod retry;
