//! The gateway's own steps in front of its handlers, inside the common stack: the client
//! address and its rate limit ([`crate::client_ip`]), then, on the API, authentication
//! ([`crate::access::authn`]); on the way out, which upstream failed is removed (that is for
//! callers inside; a client learns what failed from the problem).
//!
//! One layer per route with one future, not one `from_fn` per step: each of those boxed a
//! future and wrapped and cloned the route again on every request (issue 14).

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::Route;
use futures::future::BoxFuture;
use tower::{Layer, Service, ServiceExt};

use crate::AppState;

/// The steps, for routes that authenticate (the API) or not (docs, the demo).
#[derive(Clone)]
pub struct Front {
    app: AppState,
    authenticates: bool,
}

impl Front {
    /// For the API: every request is authenticated (a session, an API key, or anonymous).
    pub fn authenticating(app: AppState) -> Self {
        Self {
            app,
            authenticates: true,
        }
    }

    /// For public pages: the client address and its rate limit only.
    pub fn public(app: AppState) -> Self {
        Self {
            app,
            authenticates: false,
        }
    }

    async fn serve(self, mut request: Request, route: Route) -> Response {
        let ip = match crate::client_ip::establish(&self.app, &mut request) {
            Ok(ip) => ip,
            Err(refusal) => return refusal.into_response(),
        };
        let handle = |request: Request| async move {
            match route.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        };
        let mut response = if self.authenticates {
            crate::access::authn::authenticate(&self.app, ip, request, handle).await
        } else {
            handle(request).await
        };
        response
            .headers_mut()
            .remove(kit::calling::failure::FAILED_UPSTREAM);
        response
    }
}

impl Layer<Route> for Front {
    type Service = FrontService;

    fn layer(&self, route: Route) -> Self::Service {
        FrontService {
            front: self.clone(),
            route,
        }
    }
}

#[derive(Clone)]
pub struct FrontService {
    front: Front,
    route: Route,
}

impl Service<Request> for FrontService {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // A route is always ready; each call runs on its own clone.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let (front, route) = (self.front.clone(), self.route.clone());
        Box::pin(async move { Ok(front.serve(request, route).await) })
    }
}
