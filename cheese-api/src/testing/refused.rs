//! [`Refused`]: what the app answered instead of upgrading.

use axum::http::HeaderMap;
use std::fmt;

/// A handshake the app refused: what a browser's network panel would show
/// for it (the page's script only sees the connection fail).
///
/// ```
/// # use cheese_api::prelude::*;
/// # use cheese_api::testing::TestServer;
/// #[derive(Default)]
/// struct Vault;
/// #[websocket("/vault")]
/// impl Vault {
///     async fn handshake(&mut self) -> Result<(), (StatusCode, &'static str)> {
///         Err((StatusCode::UNAUTHORIZED, "who are you?"))
///     }
/// }
/// # #[tokio::main] async fn main() {
///
/// let server = TestServer::start(App::empty().websocket::<Vault>()).await;
/// let refused = server.connect_expect_refused("/vault").await;
/// assert_eq!(refused.status, 401);
/// assert_eq!(refused.body, "who are you?");
/// assert_eq!(refused.headers["content-type"], "text/plain; charset=utf-8");
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The HTTP status (401, 403, 404, 503, ...).
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The response body, decoded (`Content-Length` or chunked) and read as
    /// UTF-8 (invalid bytes become U+FFFD).
    pub body: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(reason) = axum::http::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
        {
            write!(f, " {reason}")?;
        }
        if !self.body.is_empty() {
            write!(f, ": {:?}", self.body)?;
        }
        Ok(())
    }
}

impl std::error::Error for Refused {}
