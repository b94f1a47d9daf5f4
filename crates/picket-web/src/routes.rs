//! The route table: every route is added through [`Routes`], which records its method, path and
//! documentation as it adds it to the router. The OpenAPI document and the tests read the same
//! record, so a route cannot be served without being documented and behind the token. This
//! module must never add a route to the router any other way.

use axum::Router;
use axum::handler::Handler;
use axum::routing::{MethodFilter, on};

use crate::App;

/// An HTTP method a route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Method::Get => MethodFilter::GET,
            Method::Post => MethodFilter::POST,
            Method::Delete => MethodFilter::DELETE,
        }
    }
}

/// Where a parameter is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum In {
    Path,
    Query,
}

/// One documented parameter: name, where, whether required, description.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub location: In,
    pub required: bool,
    pub description: &'static str,
}

/// A path parameter (always required).
pub(crate) const fn path(name: &'static str, description: &'static str) -> Param {
    Param {
        name,
        location: In::Path,
        required: true,
        description,
    }
}

/// An optional query parameter.
pub(crate) const fn query(name: &'static str, description: &'static str) -> Param {
    Param {
        name,
        location: In::Query,
        required: false,
        description,
    }
}

/// What a route answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `application/json` (an error is JSON too).
    Json,
    /// A dashboard page or a redirect after a form (`text/html`).
    Html,
    /// Prometheus' text exposition format.
    Metrics,
}

/// One route as documented.
#[derive(Debug, Clone)]
pub struct RouteInfo {
    pub method: Method,
    /// axum's and OpenAPI's syntax alike: `/api/v1/runs/{id}`.
    pub path: &'static str,
    pub summary: &'static str,
    pub params: Vec<Param>,
    /// The JSON or form body it takes, described (`None`: no body).
    pub body: Option<&'static str>,
    pub answer: Answer,
    /// The status of success.
    pub success: u16,
}

impl RouteInfo {
    pub(crate) fn new(method: Method, path: &'static str, summary: &'static str) -> Self {
        Self {
            method,
            path,
            summary,
            params: Vec::new(),
            body: None,
            answer: Answer::Json,
            success: 200,
        }
    }

    pub(crate) fn params(self, params: &[Param]) -> Self {
        Self {
            params: params.to_vec(),
            ..self
        }
    }

    pub(crate) fn body(self, body: &'static str) -> Self {
        Self {
            body: Some(body),
            ..self
        }
    }

    pub(crate) fn html(self) -> Self {
        Self {
            answer: Answer::Html,
            ..self
        }
    }

    pub(crate) fn metrics(self) -> Self {
        Self {
            answer: Answer::Metrics,
            ..self
        }
    }

    pub(crate) fn success(self, success: u16) -> Self {
        Self { success, ..self }
    }
}

/// The router under construction with the record of its routes.
pub(crate) struct Routes {
    router: Router<App>,
    list: Vec<RouteInfo>,
}

impl Routes {
    pub(crate) fn new() -> Self {
        Self {
            router: Router::new(),
            list: Vec::new(),
        }
    }

    /// Adds `handler` at the route's method and path, and records the route.
    pub(crate) fn add<H, T>(mut self, info: RouteInfo, handler: H) -> Self
    where
        H: Handler<T, App>,
        T: 'static,
    {
        self.router = self
            .router
            .route(info.path, on(info.method.filter(), handler));
        self.list.push(info);
        self
    }

    pub(crate) fn finish(self) -> (Router<App>, Vec<RouteInfo>) {
        (self.router, self.list)
    }
}
