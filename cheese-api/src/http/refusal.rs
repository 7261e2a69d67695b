//! Every answer other than `101 Switching Protocols` (over HTTP/2, `200` to
//! an extended CONNECT) that the framework gives a WebSocket handshake: one [`Refusal`] (status, text body, headers)
//! per [`RefusalKind`], as axum gives each failure of an extractor a typed
//! rejection. Also the one place that logs refusals (at `debug`, with their
//! status, kind, path and client), the framework's and the app's own, and
//! counts every handshake's answer (feature `metrics`).
//!
//! | kind | status | body | when |
//! |---|---|---|---|
//! | [`UpgradeRequired`](RefusalKind::UpgradeRequired) | 426 | `426 Upgrade Required: this is a WebSocket route; connect with a WebSocket client` | a plain HTTP request (over HTTP/2: not a CONNECT with `:protocol` `websocket`), or not WebSocket version 13 |
//! | [`InvalidKey`](RefusalKind::InvalidKey) | 400 | `400 Bad Request: Sec-WebSocket-Key must be 16 bytes in base64` | a missing or malformed `Sec-WebSocket-Key` |
//! | [`CannotUpgrade`](RefusalKind::CannotUpgrade) | axum's | axum's | over HTTP/1.1 a method other than `GET`, or a connection that cannot be upgraded |
//! | [`NotFound`](RefusalKind::NotFound) | 404 | empty | no route matches, or a path value does not parse |
//! | [`OriginNotAllowed`](RefusalKind::OriginNotAllowed) | 403 | `403 Forbidden: origin not allowed` | an `Origin` not on the allow-list |
//! | [`TooManyConnections`](RefusalKind::TooManyConnections) | 503 | `503 Service Unavailable: too many connections` | over the app's or the route's cap |
//! | [`ShuttingDown`](RefusalKind::ShuttingDown) | 503 | `503 Service Unavailable: shutting down` | during the graceful shutdown |
//! | [`SubprotocolNotOffered`](RefusalKind::SubprotocolNotOffered) | 400 | ``400 Bad Request: subprotocol `x` was not offered by the client`` | the `subprotocol` hook chose a name the client did not offer |
//! | [`HookPanicked`](RefusalKind::HookPanicked) | 500 | `500 Internal Server Error` | the `handshake` or `subprotocol` hook panicked |
//! | [`OpenTimeout`](RefusalKind::OpenTimeout) | 408 | empty | `open_timeout` ran out, on an HTTP/2 stream or in a router served by another server |
//! | [`NoHub`](RefusalKind::NoHub) | 500 | `500 Internal Server Error: Hub extractor used outside a cheese-api app's router` | the [`Hub`](crate::Hub) extractor outside an app |
//!
//! Each body above ends with a newline. The `handshake` hook and the hooks'
//! axum extractors refuse with whatever response they return; those are
//! logged too, but are no `Refusal`. Over HTTP/2 the statuses and bodies are
//! the same; hyper drops the headers HTTP/2 forbids (`Upgrade`,
//! `Connection`).
//!
//! (Over 500 lines for its docs: each kind's constructor says when, the
//! status, the body, with an example, as axum documents its rejections.)

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;

/// An HTTP answer that refuses a WebSocket handshake before the upgrade:
/// its [`status`](Self::status), its text body (the [`reason`](Self::reason))
/// and its [`headers`](Self::headers), with the [`kind`](Self::kind) of
/// refusal it is.
///
/// The framework answers with these; tests compare what a client saw with
/// them (with the `testing` feature, a `testing::Refused` equals the
/// `Refusal` it was sent as). As a response it carries its [`RefusalKind`] in
/// its extensions, so a middleware over [`App::router`](crate::App::router)
/// can tell refusals apart without reading the body.
///
/// ```
/// use cheese_api::axum::http::StatusCode;
/// use cheese_api::axum::response::IntoResponse;
/// use cheese_api::{Refusal, RefusalKind};
///
/// let refusal = Refusal::origin_not_allowed();
/// assert_eq!(refusal.kind(), RefusalKind::OriginNotAllowed);
/// assert_eq!(refusal.status(), StatusCode::FORBIDDEN);
/// assert_eq!(refusal.reason(), "403 Forbidden: origin not allowed\n");
///
/// let response = refusal.into_response();
/// assert_eq!(response.status(), 403);
/// assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
/// assert_eq!(response.extensions().get(), Some(&RefusalKind::OriginNotAllowed));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    kind: RefusalKind,
    status: StatusCode,
    reason: Cow<'static, str>,
    headers: HeaderMap,
}

/// What a [`Refusal`] refuses, to match on rather than on its text.
/// [`Refusal::kind`] gives it, and a refusal's response carries it in its
/// extensions.
///
/// ```
/// use cheese_api::{Refusal, RefusalKind};
///
/// let retry_later = |kind| matches!(kind, RefusalKind::TooManyConnections | RefusalKind::ShuttingDown);
/// assert!(retry_later(Refusal::shutting_down().kind()));
/// assert!(!retry_later(Refusal::not_found().kind()));
/// assert_eq!(RefusalKind::ShuttingDown.to_string(), "shutting_down");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefusalKind {
    /// 426: not a WebSocket handshake ([`Refusal::upgrade_required`]).
    UpgradeRequired,
    /// 400: a missing or malformed `Sec-WebSocket-Key` ([`Refusal::invalid_key`]).
    InvalidKey,
    /// axum's own refusal of the upgrade: `405` for a method other than
    /// `GET` over HTTP/1.1, `426` when the connection cannot be upgraded (HTTP/1.0, or a
    /// server without upgrades), with axum's status and text.
    CannotUpgrade,
    /// 404: no route matched ([`Refusal::not_found`]).
    NotFound,
    /// 403: an `Origin` not on the allow-list ([`Refusal::origin_not_allowed`]).
    OriginNotAllowed,
    /// 503: over a connection cap ([`Refusal::too_many_connections`]).
    TooManyConnections,
    /// 503: the app is shutting down ([`Refusal::shutting_down`]).
    ShuttingDown,
    /// 400: the `subprotocol` hook chose a name not offered
    /// ([`Refusal::subprotocol_not_offered`]).
    SubprotocolNotOffered,
    /// 500: a hook before the upgrade panicked ([`Refusal::hook_panicked`]).
    HookPanicked,
    /// 408: `open_timeout` ran out outside an app ([`Refusal::open_timeout`]).
    OpenTimeout,
    /// 500: the `Hub` extractor outside an app ([`Refusal::no_hub`]).
    NoHub,
}

impl RefusalKind {
    /// The kind's name in logs: `origin_not_allowed`, `not_found`, ...
    fn as_str(self) -> &'static str {
        match self {
            RefusalKind::UpgradeRequired => "upgrade_required",
            RefusalKind::InvalidKey => "invalid_key",
            RefusalKind::CannotUpgrade => "cannot_upgrade",
            RefusalKind::NotFound => "not_found",
            RefusalKind::OriginNotAllowed => "origin_not_allowed",
            RefusalKind::TooManyConnections => "too_many_connections",
            RefusalKind::ShuttingDown => "shutting_down",
            RefusalKind::SubprotocolNotOffered => "subprotocol_not_offered",
            RefusalKind::HookPanicked => "hook_panicked",
            RefusalKind::OpenTimeout => "open_timeout",
            RefusalKind::NoHub => "no_hub",
        }
    }
}

impl fmt::Display for RefusalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Refusal {
    fn new(kind: RefusalKind, status: StatusCode, reason: impl Into<Cow<'static, str>>) -> Refusal {
        Refusal {
            kind,
            status,
            reason: reason.into(),
            headers: HeaderMap::new(),
        }
    }

    fn with_header(mut self, name: header::HeaderName, value: &'static str) -> Refusal {
        self.headers.insert(name, HeaderValue::from_static(value));
        self
    }

    /// `426 Upgrade Required` with `Upgrade: websocket` and
    /// `Sec-WebSocket-Version: 13` (RFC 6455 §4.4): a plain HTTP request on
    /// a WebSocket route, or a handshake whose `Connection`, `Upgrade` or
    /// `Sec-WebSocket-Version` (other than 13) is not WebSocket's. Over
    /// HTTP/2: a request other than a CONNECT with `:protocol` `websocket`
    /// (RFC 8441), without the `Upgrade` header, which HTTP/2 forbids.
    ///
    /// Body: `426 Upgrade Required: this is a WebSocket route; connect with a WebSocket client\n`.
    ///
    /// ```
    /// use cheese_api::Refusal;
    ///
    /// let refusal = Refusal::upgrade_required();
    /// assert_eq!(refusal.status(), 426);
    /// assert_eq!(refusal.headers()["upgrade"], "websocket");
    /// assert_eq!(refusal.headers()["sec-websocket-version"], "13");
    /// ```
    pub fn upgrade_required() -> Refusal {
        Refusal::new(
            RefusalKind::UpgradeRequired,
            StatusCode::UPGRADE_REQUIRED,
            "426 Upgrade Required: this is a WebSocket route; connect with a WebSocket client\n",
        )
        .with_header(header::UPGRADE, "websocket")
        .with_header(header::SEC_WEBSOCKET_VERSION, "13")
    }

    /// `400 Bad Request` for a handshake whose `Sec-WebSocket-Key` is
    /// missing or not 16 bytes in base64 (RFC 6455 §4.2.1).
    ///
    /// Body: `400 Bad Request: Sec-WebSocket-Key must be 16 bytes in base64\n`.
    ///
    /// ```
    /// use cheese_api::Refusal;
    ///
    /// assert_eq!(Refusal::invalid_key().status(), 400);
    /// ```
    pub fn invalid_key() -> Refusal {
        Refusal::new(
            RefusalKind::InvalidKey,
            StatusCode::BAD_REQUEST,
            "400 Bad Request: Sec-WebSocket-Key must be 16 bytes in base64\n",
        )
    }

    /// `404 Not Found` with an empty body, as axum answers a path no route
    /// has: no route's pattern matches the path, a segment does not fit its
    /// type (`<id:int>` and `abc`), or a path value does not parse as its
    /// parameter's type (`id: u8` and `300`).
    ///
    /// ```
    /// use cheese_api::Refusal;
    ///
    /// assert_eq!(Refusal::not_found().status(), 404);
    /// assert_eq!(Refusal::not_found().reason(), "");
    /// ```
    pub fn not_found() -> Refusal {
        Refusal::new(RefusalKind::NotFound, StatusCode::NOT_FOUND, "")
    }

    /// `403 Forbidden` for a handshake whose `Origin` is not on the
    /// allow-list ([`App::allowed_origins`](crate::App::allowed_origins),
    /// [`App::route_allowed_origins`](crate::App::route_allowed_origins)).
    /// A handshake with no `Origin` (not from a browser page) is not refused.
    /// Each refused origin is also logged once at `warn`.
    ///
    /// Body: `403 Forbidden: origin not allowed\n`.
    ///
    /// ```
    /// use cheese_api::Refusal;
    ///
    /// assert_eq!(Refusal::origin_not_allowed().status(), 403);
    /// ```
    pub fn origin_not_allowed() -> Refusal {
        Refusal::new(
            RefusalKind::OriginNotAllowed,
            StatusCode::FORBIDDEN,
            "403 Forbidden: origin not allowed\n",
        )
    }

    /// `503 Service Unavailable` for a handshake over the app's or the
    /// route's connection cap ([`App::max_connections`](crate::App::max_connections),
    /// [`App::route_max_connections`](crate::App::route_max_connections)).
    ///
    /// Body: `503 Service Unavailable: too many connections\n`.
    ///
    /// ```
    /// use cheese_api::Refusal;
    ///
    /// assert_eq!(Refusal::too_many_connections().status(), 503);
    /// ```
    pub fn too_many_connections() -> Refusal {
        Refusal::new(
            RefusalKind::TooManyConnections,
            StatusCode::SERVICE_UNAVAILABLE,
            "503 Service Unavailable: too many connections\n",
        )
    }

    /// `503 Service Unavailable` for a handshake that arrives during the
    /// graceful shutdown ([`ShutdownHandle`](crate::ShutdownHandle), Ctrl-C,
    /// SIGTERM), on a connection accepted before it.
    ///
    /// Body: `503 Service Unavailable: shutting down\n`.
    ///
    /// ```
    /// use cheese_api::Refusal;
    ///
    /// assert_eq!(Refusal::shutting_down().status(), 503);
    /// ```
    pub fn shutting_down() -> Refusal {
        Refusal::new(
            RefusalKind::ShuttingDown,
            StatusCode::SERVICE_UNAVAILABLE,
            "503 Service Unavailable: shutting down\n",
        )
    }

    /// `400 Bad Request` when the `subprotocol` hook chose `name`, which the
    /// client did not offer (a browser would fail the connection).
    ///
    /// Body: ``400 Bad Request: subprotocol `{name}` was not offered by the client\n``.
    ///
    /// ```
    /// use cheese_api::Refusal;
    ///
    /// let refusal = Refusal::subprotocol_not_offered("chat.v3");
    /// assert_eq!(refusal.status(), 400);
    /// assert_eq!(
    ///     refusal.reason(),
    ///     "400 Bad Request: subprotocol `chat.v3` was not offered by the client\n"
    /// );
    /// ```
    pub fn subprotocol_not_offered(name: &str) -> Refusal {
        Refusal::new(
            RefusalKind::SubprotocolNotOffered,
            StatusCode::BAD_REQUEST,
            format!("400 Bad Request: subprotocol `{name}` was not offered by the client\n"),
        )
    }

    /// `500 Internal Server Error` when the `handshake` or `subprotocol`
    /// hook panicked; the panic is logged at `error` with the hook, the path
    /// and the client.
    ///
    /// Body: `500 Internal Server Error\n`.
    ///
    /// ```
    /// use cheese_api::Refusal;
    ///
    /// assert_eq!(Refusal::hook_panicked().status(), 500);
    /// ```
    pub fn hook_panicked() -> Refusal {
        Refusal::new(
            RefusalKind::HookPanicked,
            StatusCode::INTERNAL_SERVER_ERROR,
            "500 Internal Server Error\n",
        )
    }

    /// `408 Request Timeout` with `Connection: close` and an empty body, when
    /// a route's `open_timeout` runs out before the upgrade in an
    /// [`App::router`](crate::App::router) served by another server. An app
    /// that serves itself ([`App::run`](crate::App::run),
    /// [`App::serve`](crate::App::serve)) drops the TCP connection instead,
    /// with no response, except on an HTTP/2 stream: that gets the 408
    /// (without `Connection`, which HTTP/2 forbids), and the connection's
    /// other streams go on.
    ///
    /// ```
    /// use cheese_api::Refusal;
    ///
    /// assert_eq!(Refusal::open_timeout().status(), 408);
    /// assert_eq!(Refusal::open_timeout().headers()["connection"], "close");
    /// ```
    pub fn open_timeout() -> Refusal {
        Refusal::new(RefusalKind::OpenTimeout, StatusCode::REQUEST_TIMEOUT, "")
            .with_header(header::CONNECTION, "close")
    }

    /// `500 Internal Server Error` from the [`Hub`](crate::Hub) extractor in
    /// a router that is not an app's (no hub to hand out; sending into an
    /// empty one would reach nobody).
    ///
    /// Body: `500 Internal Server Error: Hub extractor used outside a cheese-api app's router\n`.
    ///
    /// ```
    /// use cheese_api::Refusal;
    ///
    /// assert_eq!(Refusal::no_hub().status(), 500);
    /// ```
    pub fn no_hub() -> Refusal {
        Refusal::new(
            RefusalKind::NoHub,
            StatusCode::INTERNAL_SERVER_ERROR,
            "500 Internal Server Error: Hub extractor used outside a cheese-api app's router\n",
        )
    }

    /// axum's refusal of the upgrade: 426 when it is not a WebSocket
    /// handshake, 400 for a missing key, and axum's own answer for the rest
    /// (405 for `HEAD`, 426 when the connection cannot be upgraded).
    pub(crate) fn from_upgrade_rejection(rejection: WebSocketUpgradeRejection) -> Refusal {
        match rejection {
            WebSocketUpgradeRejection::InvalidConnectionHeader(_)
            | WebSocketUpgradeRejection::InvalidUpgradeHeader(_)
            | WebSocketUpgradeRejection::InvalidWebSocketVersionHeader(_)
            // HTTP/2: not an extended CONNECT with `:protocol websocket`.
            | WebSocketUpgradeRejection::MethodNotConnect(_)
            | WebSocketUpgradeRejection::InvalidProtocolPseudoheader(_) => {
                Refusal::upgrade_required()
            }
            WebSocketUpgradeRejection::WebSocketKeyHeaderMissing(_) => Refusal::invalid_key(),
            other => Refusal::new(
                RefusalKind::CannotUpgrade,
                other.status(),
                other.body_text(),
            ),
        }
    }

    /// What was refused.
    ///
    /// ```
    /// use cheese_api::{Refusal, RefusalKind};
    ///
    /// assert_eq!(Refusal::not_found().kind(), RefusalKind::NotFound);
    /// ```
    pub fn kind(&self) -> RefusalKind {
        self.kind
    }

    /// The HTTP status.
    ///
    /// ```
    /// use cheese_api::{axum::http::StatusCode, Refusal};
    ///
    /// assert_eq!(Refusal::shutting_down().status(), StatusCode::SERVICE_UNAVAILABLE);
    /// ```
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body, as the client receives it (`text/plain; charset=utf-8`
    /// unless empty).
    ///
    /// ```
    /// use cheese_api::Refusal;
    ///
    /// assert_eq!(Refusal::shutting_down().reason(), "503 Service Unavailable: shutting down\n");
    /// ```
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The headers the refusal adds to the response (`Content-Type` and
    /// `Content-Length` aside).
    ///
    /// ```
    /// use cheese_api::Refusal;
    ///
    /// assert!(Refusal::origin_not_allowed().headers().is_empty());
    /// assert_eq!(Refusal::upgrade_required().headers().len(), 2);
    /// ```
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
}

/// The status and the reason without its newline: `403 Forbidden: origin
/// not allowed`, or `404 Not Found` for an empty body.
impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason.is_empty() {
            write!(f, "{}", self.status)
        } else {
            f.write_str(self.reason.trim_end())
        }
    }
}

impl std::error::Error for Refusal {}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = if self.reason.is_empty() {
            self.status.into_response()
        } else {
            (self.status, self.reason).into_response()
        };
        response.headers_mut().extend(self.headers);
        response.extensions_mut().insert(self.kind);
        response
    }
}

/// Marks a refusal by the app's own code (an extractor's rejection or the
/// `handshake` hook's `Err`) for the log.
#[derive(Clone, Copy)]
pub(crate) struct RefusedBy(pub(crate) &'static str);

/// Tags `response`, the app's own refusal, with who made it.
pub(crate) fn refused_by(by: &'static str, mut response: Response) -> Response {
    response.extensions_mut().insert(RefusedBy(by));
    response
}

/// The middleware over an app's router that sees every handshake's answer:
/// counts it (feature `metrics`: accepted, or refused by status and kind)
/// and logs at `debug` every refusal: any answer but 101 to a WebSocket
/// handshake (or but 2xx to an HTTP/2 extended CONNECT), and any
/// [`Refusal`] (a 426 answers a request that was no handshake).
pub(crate) async fn watch_handshakes(
    trust_proxy: bool,
    req: axum::extract::Request,
    next: Next,
) -> Response {
    let log = tracing::enabled!(tracing::Level::DEBUG);
    // Nothing to look at before or after the request unless it is counted
    // or the line would be written.
    if !log && !crate::metrics::ENABLED {
        return next.run(req).await;
    }
    // HTTP/2's is a CONNECT (RFC 8441; a route takes no other CONNECT).
    let connect = req.method() == Method::CONNECT;
    let handshake = connect
        || req.headers().get_all(header::UPGRADE).iter().any(|v| {
            v.as_bytes()
                .windows(9)
                .any(|w| w.eq_ignore_ascii_case(b"websocket"))
        });
    let seen = log.then(|| {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let (client, _) = crate::request::client_address(trust_proxy, req.headers(), peer, false);
        (client, req.uri().clone())
    });
    let response = next.run(req).await;
    let status = response.status();
    if status == StatusCode::SWITCHING_PROTOCOLS || (connect && status.is_success()) {
        crate::metrics::handshake(status.as_u16(), "accepted");
        return response;
    }
    let extensions = response.extensions();
    let kind = match (
        extensions.get::<RefusalKind>(),
        extensions.get::<RefusedBy>(),
    ) {
        (Some(kind), _) => Some(kind.as_str()),
        (None, Some(by)) => Some(by.0),
        (None, None) if handshake => None,
        (None, None) => return response,
    };
    crate::metrics::handshake(status.as_u16(), kind.unwrap_or("other"));
    if let Some((client, uri)) = seen {
        tracing::debug!(
            status = status.as_u16(),
            kind = kind.map(tracing::field::display),
            path = %uri.path(),
            client = client.map(tracing::field::display),
            "refused a WebSocket handshake"
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::ws::rejection::*;

    #[test]
    fn axum_rejections_become_refusals() {
        let from = Refusal::from_upgrade_rejection;
        assert_eq!(
            from(WebSocketUpgradeRejection::InvalidWebSocketVersionHeader(
                InvalidWebSocketVersionHeader::default()
            )),
            Refusal::upgrade_required()
        );
        assert_eq!(
            from(WebSocketUpgradeRejection::WebSocketKeyHeaderMissing(
                WebSocketKeyHeaderMissing::default()
            )),
            Refusal::invalid_key()
        );
        // HTTP/2: a GET, or a CONNECT for another protocol, is no handshake.
        assert_eq!(
            from(WebSocketUpgradeRejection::MethodNotConnect(
                MethodNotConnect::default()
            )),
            Refusal::upgrade_required()
        );
        assert_eq!(
            from(WebSocketUpgradeRejection::InvalidProtocolPseudoheader(
                InvalidProtocolPseudoheader::default()
            )),
            Refusal::upgrade_required()
        );
        let head = from(WebSocketUpgradeRejection::MethodNotGet(
            MethodNotGet::default(),
        ));
        assert_eq!(head.kind(), RefusalKind::CannotUpgrade);
        assert_eq!(head.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(head.reason(), "Request method must be `GET`");
    }

    #[test]
    fn an_empty_reason_is_an_empty_body() {
        let response = Refusal::open_timeout().into_response();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(response.headers()["connection"], "close");
        assert!(response.headers().get("content-type").is_none());
        assert_eq!(Refusal::not_found().to_string(), "404 Not Found");
        assert_eq!(
            Refusal::too_many_connections().to_string(),
            "503 Service Unavailable: too many connections"
        );
    }
}
