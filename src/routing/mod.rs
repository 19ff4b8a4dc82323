//! Routing concerns between the service layer and the providers: per-endpoint rate limits
//! (traffic-split selection lives with endpoint resolution in `service`).

pub mod ratelimit;
