//! [`AuthLayer`]: authentication in front of every surface, once per request.
//!
//! With keys configured, each request is admitted before protocol dispatch: a CORS preflight
//! (which never carries credentials) and a request for an exempt path pass with
//! [`Access::exempt`]; any other needs a valid key, and its [`Access`] is put into the
//! request's extensions for the surfaces to hand to the service. A refusal is answered in the
//! caller's protocol: a trailers-only gRPC status (`UNAUTHENTICATED`) for gRPC and grpc-web,
//! Connect's error (`{"code":"unauthenticated",...}`, or an end-of-stream message for a Connect
//! stream) on the typed services' paths, MLflow's `{"detail": ...}` with 401 and
//! `WWW-Authenticate: Bearer` for everything else.
//!
//! The layer adds no allocation on a refused request beyond the answer, one extension on an
//! admitted one, and nothing at all when no keys are configured (beyond reading the snapshot).

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use futures::future::{Either, Ready, ready};
use http::{Method, header};

use super::{Access, KeySet};
use crate::error::GatewayError;
use crate::service::Gateway;

/// Authenticates requests against the key set of `gateway`'s current config.
#[derive(Clone)]
pub struct AuthLayer {
    gateway: Gateway,
}

impl AuthLayer {
    /// A layer reading keys from `gateway` (so a reload changes them for the next request).
    pub fn new(gateway: Gateway) -> AuthLayer {
        AuthLayer { gateway }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            inner,
            gateway: self.gateway.clone(),
        }
    }
}

/// The service [`AuthLayer`] wraps around the dispatcher.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    gateway: Gateway,
}

impl<S> tower::Service<Request> for AuthService<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let snapshot = self.gateway.snapshot();
        if let Some(keys) = snapshot.keys()
            && let Err(e) = admit(keys, &mut req)
        {
            return Either::Left(ready(Ok(refusal(&req, &e))));
        }
        Either::Right(self.inner.call(req))
    }
}

/// Authenticates `req` and records its access, or says why not.
fn admit(keys: &KeySet, req: &mut Request) -> Result<(), GatewayError> {
    let access = if is_preflight(req) || keys.is_exempt(req.uri().path()) {
        Access::exempt()
    } else {
        keys.authenticate(req.headers())?
    };
    // Read once; nothing after this point needs the key, and nothing can leak what is gone.
    req.headers_mut().remove(header::AUTHORIZATION);
    req.extensions_mut().insert(access);
    Ok(())
}

/// A CORS preflight: browsers send it without credentials, before the real request.
fn is_preflight(req: &Request) -> bool {
    req.method() == Method::OPTIONS
        && req.headers().contains_key(header::ORIGIN)
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// A refusal in the caller's protocol (the one every layer in front of dispatch answers with).
fn refusal(req: &Request, e: &GatewayError) -> Response {
    crate::guard::refusal(req, e)
}
