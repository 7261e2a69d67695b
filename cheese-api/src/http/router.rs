//! From a request's path to its route: each registered route with its
//! checks, the `axum::Router` an [`App`] becomes, and the dispatch that tries
//! the routes sharing one axum path, most specific first.

use crate::app::{App, Check, Route};
use crate::http::refusal::{self, Refusal};
use crate::http::security::Guard;
use crate::route::ParamKind;
use crate::runtime::Runtime;
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter};
use axum::Router;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

impl App {
    /// The app as an `axum::Router`, to serve or to merge into your own.
    ///
    /// # Panics
    /// When a route uses a `<name:kind>` with no [`pattern`](Self::pattern)
    /// registered for `kind`.
    pub fn router(&self) -> Router {
        // Each route with its checks (the app's settings folded into its own).
        let mut groups: BTreeMap<String, Vec<(Route, Arc<Guard>)>> = BTreeMap::new();
        for route in &self.routes {
            for seg in route.pattern.segments() {
                if let crate::route::Segment::Param {
                    kind: ParamKind::Named(kind),
                    ..
                } = seg
                {
                    assert!(
                        self.patterns.contains_key(kind),
                        "route {} of {} uses the type `{kind}`: add it with App::pattern(\"{kind}\", ...) \
                         or use one of `str`, `int`, `float`, `uuid`",
                        route.pattern,
                        route.type_name
                    );
                }
            }
            let guard = Arc::new(Guard {
                origins: route.origins.clone().or_else(|| self.origins.clone()),
                app_cap: self.max_connections.map(|max| (max, self.live.clone())),
                route_cap: route.max_connections.map(|max| (max, route.count.clone())),
                trust_proxy: self.trust_proxy,
                logged: self.refused_origins.clone(),
            });
            groups
                .entry(crate::route::axum_path(&route.pattern))
                .or_default()
                .push((route.clone(), guard));
        }
        let patterns = Arc::new(self.patterns.clone());
        let runtime = self.runtime.clone();
        let mut router = Router::new();
        for (path, mut routes) in groups {
            routes.sort_by(|(a, _), (b, _)| a.pattern.specificity_cmp(&b.pattern));
            let routes: Arc<[(Route, Arc<Guard>)]> = routes.into();
            let patterns = patterns.clone();
            let runtime = runtime.clone();
            // GET (and HEAD) for HTTP/1.1, CONNECT for HTTP/2 (RFC 8441).
            let methods = MethodFilter::GET.or(MethodFilter::CONNECT);
            let handler = on(methods, move |req: axum::extract::Request| {
                let routes = routes.clone();
                let patterns = patterns.clone();
                let runtime = runtime.clone();
                async move { dispatch(&routes, &patterns, runtime, req).await }
            });
            if path != "/" {
                router = router.route(&format!("{path}/"), handler.clone());
            }
            router = router.route(&path, handler);
        }
        let trust_proxy = self.trust_proxy;
        let router = router
            .merge(self.extra.clone())
            .layer(axum::middleware::from_fn(move |req, next| {
                refusal::watch_handshakes(trust_proxy, req, next)
            }))
            .layer(axum::Extension(self.runtime.hub.clone()));
        self.extensions
            .iter()
            .fold(router, |router, add| add(router))
    }
}

async fn dispatch(
    routes: &[(Route, Arc<Guard>)],
    patterns: &HashMap<String, Check>,
    runtime: Arc<Runtime>,
    req: axum::extract::Request,
) -> Response {
    let check = |kind: &ParamKind, value: &str| match kind {
        ParamKind::Named(name) => !value.is_empty() && patterns.get(name).is_some_and(|c| c(value)),
        builtin => builtin.matches_builtin(value),
    };
    let path = req.uri().path().to_owned();
    for (route, guard) in routes {
        if let Some(params) = route.pattern.matches_with(&path, &check) {
            return (route.serve)(req, params, runtime, guard.clone()).await;
        }
    }
    Refusal::not_found().into_response()
}
