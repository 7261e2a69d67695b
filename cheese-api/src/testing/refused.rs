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
///
/// A refusal the framework makes compares equal to its
/// [`Refusal`](crate::Refusal): the same status, the reason as the body,
/// and each of its headers.
///
/// ```
/// # use cheese_api::prelude::*;
/// use cheese_api::testing::TestServer;
/// use cheese_api::Refusal;
/// # #[derive(Default)] struct Chat;
/// # #[websocket("/chat")] impl Chat {}
/// # #[tokio::main] async fn main() {
///
/// let app = App::empty().websocket::<Chat>().allowed_origins(["https://cheese.example"]);
/// let server = TestServer::start(app).await;
/// let refused = server.request("/chat").header("origin", "https://evil.example").connect_expect_refused().await;
/// assert_eq!(refused, Refusal::origin_not_allowed());
/// assert_ne!(refused, Refusal::too_many_connections());
/// assert_eq!(server.connect_expect_refused("/nowhere").await, Refusal::not_found());
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

impl PartialEq<crate::Refusal> for Refused {
    fn eq(&self, refusal: &crate::Refusal) -> bool {
        self.status == refusal.status().as_u16()
            && self.body == refusal.reason()
            && refusal
                .headers()
                .iter()
                .all(|(name, value)| self.headers.get_all(name).iter().any(|v| v == value))
    }
}

impl PartialEq<Refused> for crate::Refusal {
    fn eq(&self, refused: &Refused) -> bool {
        refused == self
    }
}
