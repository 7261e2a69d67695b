//! The HTTP side of a request, up to `101 Switching Protocols` (over
//! HTTP/2, the `200` to an extended CONNECT): the accept
//! loop and graceful shutdown ([`serve`]), the router that matches a path to
//! a route ([`router`]), the checks before the upgrade ([`security`]), every
//! refusal's answer and its log line ([`refusal`]), the handshake through axum's `WebSocketUpgrade`
//! ([`upgrade`]), TLS and HTTP/2 over it (`tls`, `http2`), and the read-ahead
//! layer under hyper's HTTP/1.1 ([`read_ahead`]).

#[cfg(feature = "tls")]
pub(crate) mod http2;
pub(crate) mod read_ahead;
pub(crate) mod refusal;
pub(crate) mod router;
pub(crate) mod security;
pub(crate) mod serve;
#[cfg(feature = "tls")]
pub mod tls;
pub(crate) mod upgrade;
