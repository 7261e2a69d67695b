//! Testing an app: start it on a loopback port and talk to it over a real
//! WebSocket, as a browser would (cargo feature `testing`).
//!
//! Enable the feature for your tests only:
//!
//! ```toml
//! [dev-dependencies]
//! cheese-api = { version = "0.1", features = ["testing"] }
//! ```
//!
//! [`TestServer::start`] serves an [`App`] on `127.0.0.1` with a free port;
//! [`TestServer::connect`] opens a [`TestClient`], and
//! [`TestServer::request`] builds a handshake with a query, headers and
//! subprotocols, which the app accepts (a [`TestClient`]) or refuses (a
//! [`Refused`]: the status, headers and body a browser would get).
//!
//! Every wait is bounded: [`TestClient::recv`] and the other `expect_*`
//! methods panic with a message that says what was expected, on which path,
//! and what came instead, after [`TestClient::DEFAULT_TIMEOUT`] (5 s; see
//! [`TestClient::with_timeout`]). A broken promise fails the test; it never
//! hangs it.
//!
//! A whole test:
//!
//! ```
//! use cheese_api::prelude::*;
//! use cheese_api::testing::TestServer;
//!
//! #[derive(Default)]
//! struct Hello;
//!
//! #[websocket("/")]
//! impl Hello {
//!     async fn connection(&mut self) {
//!         let _ = self.send("这里是CheeseAPI！").await;
//!     }
//!     async fn message(&mut self, message: Message) {
//!         if message == "over" {
//!             let _ = self.close(1000, "bye").await;
//!         } else {
//!             let _ = self.send(message).await;
//!         }
//!     }
//! }
//!
//! # /*
//! #[tokio::test]
//! # */
//! async fn hello_greets_echoes_and_says_bye() {
//!     let server = TestServer::start(App::empty().websocket::<Hello>()).await;
//!     let mut client = server.connect("/").await;
//!
//!     assert_eq!(client.recv_text().await, "这里是CheeseAPI！");
//!     client.send("cheddar").await;
//!     assert_eq!(client.recv().await, "cheddar");
//!     client.send(vec![0u8, 1, 255]).await;
//!     assert_eq!(client.recv().await, Message::binary(vec![0u8, 1, 255]));
//!
//!     client.send("over").await;
//!     assert_eq!(client.expect_close(1000).await, "bye");
//!     server.shutdown().await;
//! }
//! # #[tokio::main]
//! # async fn main() { hello_greets_echoes_and_says_bye().await }
//! ```
//!
//! The client is tokio-tungstenite's, driven so that it accepts what a
//! browser accepts: a server that declines every offered subprotocol is
//! accepted with [`subprotocol`](TestClient::subprotocol) `None` (a browser
//! does the same; tungstenite's own `connect` fails there).

use crate::{App, IntoMessage, Message, SendError, ShutdownHandle};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use futures_util::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::{
    generate_request, Request as ClientRequest, Response as ClientResponse,
};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::handshake::machine::TryParse;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

/// An app served on `127.0.0.1` with a free port, for the length of a test.
///
/// Dropping it starts the app's graceful shutdown (as
/// [`shutdown`](Self::shutdown) does, without waiting for it).
///
/// ```
/// # use cheese_api::prelude::*;
/// use cheese_api::testing::TestServer;
/// # #[derive(Default)] struct Echo;
/// # #[websocket("/echo")] impl Echo {
/// #     async fn message(&mut self, message: Message) { let _ = self.send(message).await; }
/// # }
/// # #[tokio::main] async fn main() {
///
/// let server = TestServer::start(App::empty().websocket::<Echo>()).await;
/// let mut client = server.connect("/echo").await;
/// client.send("gouda").await;
/// assert_eq!(client.recv_text().await, "gouda");
/// # }
/// ```
pub struct TestServer {
    addr: SocketAddr,
    stop: ShutdownHandle,
    serving: Option<JoinHandle<std::io::Result<()>>>,
}

impl fmt::Debug for TestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// Binds `127.0.0.1:0` and serves `app` there ([`App::serve`]) on a
    /// spawned task.
    ///
    /// # Panics
    /// When no loopback port can be bound, or outside a Tokio runtime.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// use cheese_api::testing::TestServer;
    /// # #[tokio::main] async fn main() {
    ///
    /// let server = TestServer::start(App::empty()).await;
    /// assert!(server.addr().ip().is_loopback());
    /// # }
    /// ```
    pub async fn start(app: App) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("TestServer: cannot bind 127.0.0.1:0: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("TestServer: no local address: {e}"));
        let stop = app.shutdown_handle();
        let serving = tokio::spawn(app.serve(listener));
        TestServer {
            addr,
            stop,
            serving: Some(serving),
        }
    }

    /// The address the app listens on.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # #[tokio::main] async fn main() {
    /// let server = TestServer::start(App::empty()).await;
    /// let tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    /// # drop(tcp);
    /// # }
    /// ```
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `ws://` URL of `path` on this server, for another client.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # #[tokio::main] async fn main() {
    /// let server = TestServer::start(App::empty()).await;
    /// let port = server.addr().port();
    /// assert_eq!(server.url("/chat?room=1"), format!("ws://127.0.0.1:{port}/chat?room=1"));
    /// # }
    /// ```
    pub fn url(&self, path: &str) -> String {
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!("ws://{}{slash}{path}", self.addr)
    }

    /// Opens a WebSocket to `path` (which may carry a query: `/chat?room=1`).
    ///
    /// # Panics
    /// When the app refuses the handshake (the message shows the status and
    /// body; use [`request`](Self::request) or
    /// [`connect_expect_refused`](Self::connect_expect_refused) to test
    /// refusals), or gives no answer within [`TestClient::DEFAULT_TIMEOUT`].
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # #[derive(Default)] struct Echo;
    /// # #[websocket("/echo")] impl Echo {
    /// #     async fn message(&mut self, message: Message) { let _ = self.send(message).await; }
    /// # }
    /// # #[tokio::main] async fn main() {
    /// let server = TestServer::start(App::empty().websocket::<Echo>()).await;
    /// let mut client = server.connect("/echo").await;
    /// client.send("brie").await;
    /// assert_eq!(client.recv_text().await, "brie");
    /// # }
    /// ```
    pub async fn connect(&self, path: &str) -> TestClient {
        match self.request(path).connect().await {
            Ok(client) => client,
            Err(refused) => panic!("connect {path}: the handshake was refused: {refused}"),
        }
    }

    /// A handshake to `path` to configure before
    /// [`connect`](TestRequest::connect): query, headers, subprotocols.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # #[derive(Default)] struct Echo;
    /// # #[websocket("/echo")] impl Echo {
    /// #     async fn message(&mut self, message: Message) { let _ = self.send(message).await; }
    /// # }
    /// # #[tokio::main] async fn main() {
    /// let server = TestServer::start(App::empty().websocket::<Echo>()).await;
    /// let client = server
    ///     .request("/echo")
    ///     .query("token", "letmein")
    ///     .header("origin", "https://cheese.example")
    ///     .subprotocols(&["chat.v2", "chat.v1"])
    ///     .connect()
    ///     .await
    ///     .unwrap();
    /// assert_eq!(client.subprotocol(), None); // Echo has no `subprotocol` hook
    /// # }
    /// ```
    pub fn request(&self, path: &str) -> TestRequest {
        TestRequest {
            addr: self.addr,
            path: path.to_owned(),
            query: Vec::new(),
            headers: Vec::new(),
            subprotocols: Vec::new(),
            timeout: TestClient::DEFAULT_TIMEOUT,
        }
    }

    /// Sends a handshake to `path` that the app must refuse; returns what
    /// came back.
    ///
    /// # Panics
    /// When the app accepts the handshake.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # #[tokio::main] async fn main() {
    /// let server = TestServer::start(App::empty()).await;
    /// assert_eq!(server.connect_expect_refused("/nowhere").await.status, 404);
    /// # }
    /// ```
    pub async fn connect_expect_refused(&self, path: &str) -> Refused {
        self.request(path).connect_expect_refused().await
    }

    /// Shuts the app down gracefully, as Ctrl-C would, and waits until
    /// [`App::serve`] returned: it stops accepting, closes every open
    /// connection with 1001, and waits for their closing handshakes and
    /// `disconnection` hooks.
    ///
    /// A client that is not reading does not answer the 1001, so the app
    /// waits its `close_timeout` for it: drop your clients first, or read
    /// the 1001 while this runs (spawn it).
    ///
    /// # Panics
    /// When `serve` returned an error or panicked.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # #[derive(Default)] struct Echo;
    /// # #[websocket("/echo")] impl Echo {
    /// #     async fn message(&mut self, message: Message) { let _ = self.send(message).await; }
    /// # }
    /// # #[tokio::main] async fn main() {
    /// let server = TestServer::start(App::empty().websocket::<Echo>()).await;
    /// let client = server.connect("/echo").await;
    /// let stopping = tokio::spawn(server.shutdown());
    /// assert_eq!(client.expect_close(1001).await, "server shutting down");
    /// stopping.await.unwrap();
    /// # }
    /// ```
    pub async fn shutdown(mut self) {
        self.stop.shutdown();
        if let Some(serving) = self.serving.take() {
            match serving.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => panic!("TestServer: serve returned an error: {e}"),
                Err(e) => panic!("TestServer: serve failed: {e}"),
            }
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if self.serving.is_some() {
            self.stop.shutdown();
        }
    }
}

/// A handshake being prepared: [`TestServer::request`], then
/// [`connect`](Self::connect).
///
/// ```
/// # use cheese_api::prelude::*;
/// # use cheese_api::testing::TestServer;
/// # #[derive(Default)] struct Echo;
/// # #[websocket("/echo")] impl Echo {
/// #     async fn message(&mut self, message: Message) { let _ = self.send(message).await; }
/// # }
/// # #[tokio::main] async fn main() {
/// let server = TestServer::start(App::empty().websocket::<Echo>()).await;
/// let mut client = server.request("/echo").query("room", "blue cheese").connect().await.unwrap();
/// client.send("hi").await;
/// assert_eq!(client.recv_text().await, "hi");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TestRequest {
    addr: SocketAddr,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(HeaderName, HeaderValue)>,
    subprotocols: Vec<String>,
    timeout: Duration,
}

impl TestRequest {
    /// Adds `key=value` to the query string, percent-encoded (as
    /// `URLSearchParams` would), after any query already in the path.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// #[derive(serde::Deserialize)]
    /// struct Room { room: String }
    ///
    /// #[derive(Default)]
    /// struct Rooms;
    /// #[websocket("/rooms")]
    /// impl Rooms {
    ///     async fn connection(&mut self, q: Query<Room>) {
    ///         let _ = self.send(format!("joined {}", q.room)).await;
    ///     }
    /// }
    /// # #[tokio::main] async fn main() {
    ///
    /// let server = TestServer::start(App::empty().websocket::<Rooms>()).await;
    /// let mut client = server.request("/rooms").query("room", "blue & white").connect().await.unwrap();
    /// assert_eq!(client.recv_text().await, "joined blue & white");
    /// # }
    /// ```
    pub fn query(mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> TestRequest {
        self.query
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Adds a request header (`Authorization`, `Origin`, `Cookie`, ...);
    /// the same name twice sends both values. A name the handshake sets
    /// itself (`Host`, `Sec-WebSocket-Key`, ...) replaces its value.
    ///
    /// # Panics
    /// When `name` or `value` cannot be an HTTP header.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// #[derive(Default)]
    /// struct Whoami;
    /// #[websocket("/whoami")]
    /// impl Whoami {
    ///     async fn connection(&mut self, request: &Request) {
    ///         let origin = request.origin().unwrap_or("none").to_owned();
    ///         let _ = self.send(origin).await;
    ///     }
    /// }
    /// # #[tokio::main] async fn main() {
    ///
    /// let server = TestServer::start(App::empty().websocket::<Whoami>()).await;
    /// let mut client = server
    ///     .request("/whoami")
    ///     .header("origin", "https://cheese.example")
    ///     .connect()
    ///     .await
    ///     .unwrap();
    /// assert_eq!(client.recv_text().await, "https://cheese.example");
    /// # }
    /// ```
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> TestRequest {
        let (name, value) = (name.as_ref(), value.as_ref());
        let header = HeaderName::from_bytes(name.as_bytes())
            .unwrap_or_else(|e| panic!("header {name:?}: not a header name: {e}"));
        let value = HeaderValue::from_bytes(value.as_bytes())
            .unwrap_or_else(|e| panic!("header {name}: {value:?} is not a header value: {e}"));
        self.headers.push((header, value));
        self
    }

    /// Offers these subprotocols, in order of preference
    /// (`Sec-WebSocket-Protocol: a, b`).
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// #[derive(Default)]
    /// struct Chat;
    /// #[websocket("/chat")]
    /// impl Chat {
    ///     async fn subprotocol(&mut self, request: &Request) -> Option<String> {
    ///         request.subprotocols().iter().find(|p| p.starts_with("chat.")).cloned()
    ///     }
    /// }
    /// # #[tokio::main] async fn main() {
    ///
    /// let server = TestServer::start(App::empty().websocket::<Chat>()).await;
    /// let client = server.request("/chat").subprotocols(&["x", "chat.v2"]).connect().await.unwrap();
    /// assert_eq!(client.subprotocol(), Some("chat.v2"));
    /// # }
    /// ```
    pub fn subprotocols<I>(mut self, offers: I) -> TestRequest
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.subprotocols
            .extend(offers.into_iter().map(|p| p.as_ref().to_owned()));
        self
    }

    /// How long the handshake may take, and the client's
    /// [`timeout`](TestClient::with_timeout) after it. Default:
    /// [`TestClient::DEFAULT_TIMEOUT`].
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # use std::time::Duration;
    /// # #[tokio::main] async fn main() {
    /// let server = TestServer::start(App::empty()).await;
    /// let refused = server.request("/").timeout(Duration::from_secs(1)).connect().await;
    /// assert_eq!(refused.unwrap_err().status, 404);
    /// # }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> TestRequest {
        self.timeout = timeout;
        self
    }

    /// Sends the handshake: `Ok` with a client when the app upgrades (101),
    /// `Err` with the answer when it refuses (any other status).
    ///
    /// A browser's rules decide what counts as an upgrade: the app may
    /// choose one of the offered subprotocols or none.
    ///
    /// # Panics
    /// When the app cannot be reached, answers nothing within the
    /// [`timeout`](Self::timeout), answers something that is not HTTP, or
    /// answers 101 in a way a browser rejects (a wrong
    /// `Sec-WebSocket-Accept`, a subprotocol that was not offered, a
    /// missing `Upgrade: websocket`).
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # #[derive(Default)] struct Echo;
    /// # #[websocket("/echo")] impl Echo {
    /// #     async fn message(&mut self, message: Message) { let _ = self.send(message).await; }
    /// # }
    /// # #[tokio::main] async fn main() {
    /// let server = TestServer::start(App::empty().websocket::<Echo>()).await;
    /// assert!(server.request("/echo").connect().await.is_ok());
    /// assert_eq!(server.request("/cheddar").connect().await.unwrap_err().status, 404);
    /// # }
    /// ```
    pub async fn connect(self) -> Result<TestClient, Refused> {
        let path = self.path_and_query();
        let (addr, timeout) = (self.addr, self.timeout);
        let request = self.into_client_request(&path);
        match tokio::time::timeout(timeout, handshake(addr, request, &path)).await {
            Ok(Ok((ws, subprotocol, headers))) => Ok(TestClient {
                ws,
                path,
                timeout,
                subprotocol,
                headers,
                closed: false,
            }),
            Ok(Err(refused)) => Err(refused),
            Err(_) => panic!("connect {path}: no answer to the handshake within {timeout:?}"),
        }
    }

    /// Sends the handshake, which the app must refuse; returns the answer.
    ///
    /// # Panics
    /// When the app accepts it, and as [`connect`](Self::connect) does.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// #[derive(Default)]
    /// struct Chat;
    /// #[websocket("/chat")]
    /// impl Chat {
    ///     async fn subprotocol(&mut self) -> Option<String> {
    ///         Some("never-offered".into()) // not an offer: refused with 400
    ///     }
    /// }
    /// # #[tokio::main] async fn main() {
    ///
    /// let server = TestServer::start(App::empty().websocket::<Chat>()).await;
    /// let refused = server.request("/chat").subprotocols(&["chat.v1"]).connect_expect_refused().await;
    /// assert_eq!(refused.status, 400);
    /// # }
    /// ```
    pub async fn connect_expect_refused(self) -> Refused {
        let path = self.path_and_query();
        match self.connect().await {
            Ok(client) => panic!(
                "connect {path}: expected the handshake to be refused, but it was accepted \
                 (subprotocol {:?})",
                client.subprotocol()
            ),
            Err(refused) => refused,
        }
    }

    fn path_and_query(&self) -> String {
        let mut path = String::new();
        if !self.path.starts_with('/') {
            path.push('/');
        }
        encode_path(&self.path, &mut path);
        for (i, (key, value)) in self.query.iter().enumerate() {
            path.push(if i == 0 && !path.contains('?') {
                '?'
            } else {
                '&'
            });
            encode_component(key, &mut path);
            path.push('=');
            encode_component(value, &mut path);
        }
        path
    }

    fn into_client_request(self, path: &str) -> ClientRequest {
        let url = format!("ws://{}{path}", self.addr);
        let mut request = url
            .as_str()
            .into_client_request()
            .unwrap_or_else(|e| panic!("connect {path}: {url} is not a WebSocket URL: {e}"));
        let headers = request.headers_mut();
        if !self.subprotocols.is_empty() {
            let offer = self.subprotocols.join(", ");
            let offer = HeaderValue::from_str(&offer)
                .unwrap_or_else(|e| panic!("subprotocols {offer:?}: not a header value: {e}"));
            headers.insert(axum::http::header::SEC_WEBSOCKET_PROTOCOL, offer);
        }
        // A name the handshake sets itself is replaced; others accumulate.
        let mut replaced = Vec::new();
        for (name, value) in self.headers {
            if headers.contains_key(&name) && !replaced.contains(&name) {
                headers.remove(&name);
                replaced.push(name.clone());
            }
            headers.append(name, value);
        }
        request
    }
}

/// Percent-encodes what a browser encodes in a URL's path and query
/// (spaces, controls, non-ASCII, ...), leaving `/`, `?`, `%` and the rest.
fn encode_path(path: &str, out: &mut String) {
    for &b in path.as_bytes() {
        if b <= b' ' || b >= 0x7f || b"\"<>`{}|\\^#".contains(&b) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
}

/// Percent-encodes everything but the unreserved characters of RFC 3986.
fn encode_component(s: &str, out: &mut String) {
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

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

/// One WebSocket connection to a [`TestServer`], speaking as a browser
/// would; every wait is bounded by its [timeout](Self::with_timeout).
///
/// Pings are answered and pings and pongs are skipped: the methods see only
/// data messages and the close. Dropping a client ends its TCP connection
/// without a closing handshake (the app sees 1006, like a killed tab); end
/// with [`close`](Self::close) or [`expect_close`](Self::expect_close) to
/// close properly.
///
/// ```
/// # use cheese_api::prelude::*;
/// # use cheese_api::testing::TestServer;
/// # #[derive(Default)] struct Echo;
/// # #[websocket("/echo")] impl Echo {
/// #     async fn message(&mut self, message: Message) { let _ = self.send(message).await; }
/// # }
/// # #[tokio::main] async fn main() {
/// let server = TestServer::start(App::empty().websocket::<Echo>()).await;
/// let mut client = server.connect("/echo").await;
/// client.send("roquefort").await;
/// assert_eq!(client.recv_text().await, "roquefort");
/// client.close(1000, "done").await;
/// # }
/// ```
pub struct TestClient {
    ws: WebSocketStream<TcpStream>,
    path: String,
    timeout: Duration,
    subprotocol: Option<String>,
    headers: HeaderMap,
    closed: bool,
}

impl fmt::Debug for TestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestClient")
            .field("path", &self.path)
            .field("subprotocol", &self.subprotocol)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// What the connection did next, pings and pongs skipped.
enum Event {
    Data(Message),
    Close(Option<(u16, String)>),
    Ended(String),
    TimedOut,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Data(m) => write!(f, "the message {m:?}"),
            Event::Close(Some((code, reason))) => write!(f, "close {code} {reason:?}"),
            Event::Close(None) => f.write_str("a close frame with no code (1005)"),
            Event::Ended(why) => f.write_str(why),
            Event::TimedOut => f.write_str("nothing"),
        }
    }
}

impl TestClient {
    /// How long [`recv`](Self::recv) and the other waits take before they
    /// panic, unless set with [`with_timeout`](Self::with_timeout): 5 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

    /// Sets how long each wait (receive, send, close) may take before it
    /// panics.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # use std::time::Duration;
    /// # #[derive(Default)] struct Echo;
    /// # #[websocket("/echo")] impl Echo {
    /// #     async fn message(&mut self, message: Message) { let _ = self.send(message).await; }
    /// # }
    /// # #[tokio::main] async fn main() {
    /// let server = TestServer::start(App::empty().websocket::<Echo>()).await;
    /// let mut client = server.connect("/echo").await.with_timeout(Duration::from_millis(500));
    /// client.send("feta").await;
    /// assert_eq!(client.recv_text().await, "feta"); // or panic after 0.5 s
    /// # }
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> TestClient {
        self.timeout = timeout;
        self
    }

    /// The subprotocol the app chose, if any.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # #[derive(Default)] struct Echo;
    /// # #[websocket("/echo")] impl Echo {}
    /// # #[tokio::main] async fn main() {
    /// let server = TestServer::start(App::empty().websocket::<Echo>()).await;
    /// // A route without a `subprotocol` hook declines every offer; a browser
    /// // connects anyway, and so does the test client.
    /// let client = server.request("/echo").subprotocols(&["chat.v1"]).connect().await.unwrap();
    /// assert_eq!(client.subprotocol(), None);
    /// # }
    /// ```
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// The headers of the app's 101 answer.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # #[derive(Default)] struct Echo;
    /// # #[websocket("/echo")] impl Echo {}
    /// # #[tokio::main] async fn main() {
    /// let server = TestServer::start(App::empty().websocket::<Echo>()).await;
    /// let client = server.connect("/echo").await;
    /// assert_eq!(client.response_headers()["upgrade"], "websocket");
    /// # }
    /// ```
    pub fn response_headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Sends a message: `&str` and `String` as text, `Vec<u8>`, `&[u8]` and
    /// [`Bytes`](crate::Bytes) as binary, [`Json`](crate::Json) as JSON
    /// text, or a [`Message`].
    ///
    /// # Panics
    /// When the connection is closed, a `Json` value cannot be serialized,
    /// or the app does not take the message within the timeout (it stopped
    /// reading). Use [`try_send`](Self::try_send) when the app may already
    /// have closed.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # #[derive(Default)] struct Echo;
    /// # #[websocket("/echo")] impl Echo {
    /// #     async fn message(&mut self, message: Message) { let _ = self.send(message).await; }
    /// # }
    /// # #[tokio::main] async fn main() {
    /// let server = TestServer::start(App::empty().websocket::<Echo>()).await;
    /// let mut client = server.connect("/echo").await;
    /// client.send("text").await;
    /// client.send(vec![1u8, 2, 3]).await;
    /// client.send(Json(serde_json::json!({"cheese": "comté"}))).await;
    /// assert_eq!(client.recv().await, "text");
    /// assert_eq!(client.recv().await, Message::binary(vec![1u8, 2, 3]));
    /// assert_eq!(client.recv_json::<serde_json::Value>().await["cheese"], "comté");
    /// # }
    /// ```
    pub async fn send(&mut self, message: impl IntoMessage) {
        if let Err(e) = self.try_send(message).await {
            panic!("send on {}: {e}", self.path);
        }
    }

    /// Sends a binary message.
    ///
    /// # Panics
    /// As [`send`](Self::send).
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # #[derive(Default)] struct Echo;
    /// # #[websocket("/echo")] impl Echo {
    /// #     async fn message(&mut self, message: Message) { let _ = self.send(message).await; }
    /// # }
    /// # #[tokio::main] async fn main() {
    /// let server = TestServer::start(App::empty().websocket::<Echo>()).await;
    /// let mut client = server.connect("/echo").await;
    /// client.send_binary(b"\x00\xff".as_slice()).await;
    /// assert_eq!(client.recv().await.as_bytes(), b"\x00\xff");
    /// # }
    /// ```
    pub async fn send_binary(&mut self, data: impl Into<crate::Bytes>) {
        self.send(Message::binary(data)).await;
    }

    /// Sends a message like [`send`](Self::send), but returns an error
    /// instead of panicking when the connection is closed (the app may have
    /// closed it already, and tungstenite's client noticed) or the value
    /// cannot be serialized.
    ///
    /// # Panics
    /// When the app does not take the message within the timeout.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # #[derive(Default)] struct Echo;
    /// # #[websocket("/echo")] impl Echo {
    /// #     async fn message(&mut self, message: Message) { let _ = self.send(message).await; }
    /// # }
    /// # #[tokio::main] async fn main() {
    /// let server = TestServer::start(App::empty().websocket::<Echo>()).await;
    /// let mut client = server.connect("/echo").await;
    /// assert!(client.try_send("still open?").await.is_ok());
    /// # }
    /// ```
    pub async fn try_send(&mut self, message: impl IntoMessage) -> Result<(), SendError> {
        let message = match message.into_message().map_err(SendError::Json)? {
            Message::Text(text) => WsMessage::text(text.as_str()),
            Message::Binary(bytes) => WsMessage::Binary(bytes),
        };
        if self.closed {
            return Err(SendError::Closed);
        }
        match tokio::time::timeout(self.timeout, self.ws.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(SendError::Closed),
            Err(_) => panic!(
                "send on {}: the app did not take the message within {:?} (is it reading?)",
                self.path, self.timeout
            ),
        }
    }

    /// The next data message, text or binary.
    ///
    /// # Panics
    /// When nothing arrives within the timeout, or the app closes or the
    /// connection ends instead (the message says which, with the close code
    /// and reason).
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # #[derive(Default)] struct Echo;
    /// # #[websocket("/echo")] impl Echo {
    /// #     async fn message(&mut self, message: Message) { let _ = self.send(message).await; }
    /// # }
    /// # #[tokio::main] async fn main() {
    /// let server = TestServer::start(App::empty().websocket::<Echo>()).await;
    /// let mut client = server.connect("/echo").await;
    /// client.send("emmental").await;
    /// let message = client.recv().await;
    /// assert!(message.is_text());
    /// assert_eq!(message, "emmental");
    /// # }
    /// ```
    pub async fn recv(&mut self) -> Message {
        match self.next_event(self.timeout).await {
            Event::Data(message) => message,
            Event::TimedOut => panic!(
                "recv on {}: no message within {:?}",
                self.path, self.timeout
            ),
            other => panic!("recv on {}: expected a message, got {other}", self.path),
        }
    }

    /// The next message, which must be text.
    ///
    /// # Panics
    /// As [`recv`](Self::recv), and when the message is binary.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # #[derive(Default)] struct Echo;
    /// # #[websocket("/echo")] impl Echo {
    /// #     async fn message(&mut self, message: Message) { let _ = self.send(message).await; }
    /// # }
    /// # #[tokio::main] async fn main() {
    /// let server = TestServer::start(App::empty().websocket::<Echo>()).await;
    /// let mut client = server.connect("/echo").await;
    /// client.send("parmesan").await;
    /// let text: String = client.recv_text().await;
    /// assert_eq!(text, "parmesan");
    /// # }
    /// ```
    pub async fn recv_text(&mut self) -> String {
        match self.recv().await {
            Message::Text(text) => text.as_str().to_owned(),
            other => panic!(
                "recv_text on {}: expected a text message, got {other:?}",
                self.path
            ),
        }
    }

    /// The next message (text or binary), parsed as JSON into `T`.
    ///
    /// # Panics
    /// As [`recv`](Self::recv), and when the message is not JSON that fits
    /// `T` (the message shows serde's error and the payload).
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # #[derive(Default)] struct Echo;
    /// # #[websocket("/echo")] impl Echo {
    /// #     async fn message(&mut self, message: Message) { let _ = self.send(message).await; }
    /// # }
    /// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    /// struct Cheese { name: String, age_months: u32 }
    /// # #[tokio::main] async fn main() {
    ///
    /// let server = TestServer::start(App::empty().websocket::<Echo>()).await;
    /// let mut client = server.connect("/echo").await;
    /// let comte = Cheese { name: "comté".into(), age_months: 18 };
    /// client.send(Json(&comte)).await;
    /// assert_eq!(client.recv_json::<Cheese>().await, comte);
    /// # }
    /// ```
    pub async fn recv_json<T: DeserializeOwned>(&mut self) -> T {
        let message = self.recv().await;
        serde_json::from_slice(message.as_bytes()).unwrap_or_else(|e| {
            panic!(
                "recv_json on {}: expected JSON for {}, got {message:?}: {e}",
                self.path,
                std::any::type_name::<T>()
            )
        })
    }

    /// Expects the app to close the connection with `code`; returns the
    /// close reason. Answers the close, as a browser does, and checks that
    /// the app then ends the TCP connection.
    ///
    /// # Panics
    /// When a data message arrives first, the code differs, the close frame
    /// has no code, nothing arrives within the timeout, or the app does not
    /// end the TCP connection within the timeout after the close.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// #[derive(Default)]
    /// struct Strict;
    /// #[websocket("/strict")]
    /// impl Strict {
    ///     async fn message(&mut self, message: String) {
    ///         let _ = self.close(4000, &format!("no {message} here")).await;
    ///     }
    /// }
    /// # #[tokio::main] async fn main() {
    ///
    /// let server = TestServer::start(App::empty().websocket::<Strict>()).await;
    /// let mut client = server.connect("/strict").await;
    /// client.send("cheddar").await;
    /// assert_eq!(client.expect_close(4000).await, "no cheddar here");
    /// # }
    /// ```
    pub async fn expect_close(mut self, code: u16) -> String {
        match self.next_event(self.timeout).await {
            Event::Close(Some((got, reason))) => {
                assert!(
                    got == code,
                    "expect_close on {}: expected close {code}, got close {got} {reason:?}",
                    self.path
                );
                self.finish_close("expect_close").await;
                reason
            }
            Event::TimedOut => panic!(
                "expect_close on {}: expected close {code}, got nothing within {:?}",
                self.path, self.timeout
            ),
            other => panic!(
                "expect_close on {}: expected close {code}, got {other}",
                self.path
            ),
        }
    }

    /// Asserts that no message and no close arrives for `duration`.
    ///
    /// # Panics
    /// When something arrives, or the connection ends, within `duration`.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # use std::time::Duration;
    /// # #[derive(Default)] struct Echo;
    /// # #[websocket("/echo")] impl Echo {
    /// #     async fn message(&mut self, message: Message) { let _ = self.send(message).await; }
    /// # }
    /// # #[tokio::main] async fn main() {
    /// let server = TestServer::start(App::empty().websocket::<Echo>()).await;
    /// let mut client = server.connect("/echo").await;
    /// client.expect_nothing(Duration::from_millis(100)).await; // Echo only answers
    /// # }
    /// ```
    pub async fn expect_nothing(&mut self, duration: Duration) {
        match self.next_event(duration).await {
            Event::TimedOut => {}
            other => panic!(
                "expect_nothing on {}: expected nothing for {duration:?}, got {other}",
                self.path
            ),
        }
    }

    /// Closes the connection with `code` and `reason` and waits for the
    /// app's answer (messages still in flight are dropped) and the end of
    /// the TCP connection.
    ///
    /// # Panics
    /// When the app does not answer the close, or does not end the TCP
    /// connection, within the timeout.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # #[derive(Default)] struct Echo;
    /// # #[websocket("/echo")] impl Echo {
    /// #     async fn message(&mut self, message: Message) { let _ = self.send(message).await; }
    /// # }
    /// # #[tokio::main] async fn main() {
    /// let server = TestServer::start(App::empty().websocket::<Echo>()).await;
    /// let client = server.connect("/echo").await;
    /// client.close(1000, "bye").await;
    /// # }
    /// ```
    pub async fn close(mut self, code: u16, reason: &str) {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        match tokio::time::timeout(self.timeout, self.ws.close(Some(frame))).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("close on {}: sending the close failed: {e}", self.path),
            Err(_) => panic!(
                "close on {}: the close was not sent within {:?}",
                self.path, self.timeout
            ),
        }
        let deadline = Instant::now() + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_event(left).await {
                Event::Data(_) => continue,
                Event::Close(_) => break,
                Event::TimedOut => panic!(
                    "close on {}: the app did not answer the close within {:?}",
                    self.path, self.timeout
                ),
                Event::Ended(why) => panic!(
                    "close on {}: the app did not answer the close: {why}",
                    self.path
                ),
            }
        }
        self.finish_close("close").await;
    }

    /// After a close frame was received (and answered by tungstenite), waits
    /// for the app to end the TCP connection.
    async fn finish_close(&mut self, what: &str) {
        self.closed = true;
        let end = tokio::time::timeout(self.timeout, async {
            loop {
                match self.ws.next().await {
                    None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                }
            }
        })
        .await;
        assert!(
            end.is_ok(),
            "{what} on {}: the app did not end the TCP connection within {:?} after the close",
            self.path,
            self.timeout
        );
    }

    async fn next_event(&mut self, wait: Duration) -> Event {
        if self.closed {
            return Event::Ended("the connection is already closed".into());
        }
        let deadline = Instant::now() + wait;
        loop {
            let next = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Event::TimedOut,
                Ok(next) => next,
            };
            return match next {
                Some(Ok(WsMessage::Text(text))) => Event::Data(Message::text(text.as_str())),
                Some(Ok(WsMessage::Binary(bytes))) => Event::Data(Message::binary(bytes)),
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_))) => continue,
                Some(Ok(WsMessage::Close(frame))) => {
                    Event::Close(frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned())))
                }
                Some(Err(e)) => {
                    self.closed = true;
                    Event::Ended(format!("the connection failed: {e}"))
                }
                None => {
                    self.closed = true;
                    Event::Ended("the connection ended without a close frame".into())
                }
            };
        }
    }
}

/// The WebSocket handshake with a browser's rules, over tungstenite's
/// request writer and response parser: unlike `tokio_tungstenite::connect`
/// it accepts an app that declines every offered subprotocol, and reads the
/// whole body of a refusal, not just the bytes that came with the head.
async fn handshake(
    addr: SocketAddr,
    request: ClientRequest,
    path: &str,
) -> Result<(WebSocketStream<TcpStream>, Option<String>, HeaderMap), Refused> {
    let offered = crate::request::offered_subprotocols(request.headers());
    let (bytes, key) = generate_request(request)
        .unwrap_or_else(|e| panic!("connect {path}: not a valid handshake request: {e}"));
    let mut stream = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect {path}: cannot reach {addr}: {e}"));
    let _ = stream.set_nodelay(true);
    stream
        .write_all(&bytes)
        .await
        .unwrap_or_else(|e| panic!("connect {path}: sending the handshake failed: {e}"));

    let mut buf = Vec::with_capacity(4096);
    let (head_len, response) = loop {
        match ClientResponse::try_parse(&buf) {
            Ok(Some(parsed)) => break parsed,
            Ok(None) => {}
            Err(e) => panic!("connect {path}: the answer is not an HTTP response: {e}"),
        }
        assert!(
            buf.len() <= 64 * 1024,
            "connect {path}: the answer's head is over 64 KiB"
        );
        let n = stream
            .read_buf(&mut buf)
            .await
            .unwrap_or_else(|e| panic!("connect {path}: reading the answer failed: {e}"));
        assert!(
            n > 0,
            "connect {path}: the app closed the connection without answering the handshake"
        );
    };
    let tail = buf.split_off(head_len);
    let status = response.status().as_u16();
    let headers = response.headers().clone();

    if status != 101 {
        let body = read_body(&mut stream, status, &headers, tail)
            .await
            .unwrap_or_else(|e| {
                panic!("connect {path}: reading the HTTP {status} body failed: {e}")
            });
        return Err(Refused {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }

    let has_token = |name: &str, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    assert!(
        has_token("upgrade", "websocket"),
        "connect {path}: the 101 has no `Upgrade: websocket` (a browser fails the connection)"
    );
    assert!(
        has_token("connection", "upgrade"),
        "connect {path}: the 101 has no `Connection: Upgrade` (a browser fails the connection)"
    );
    let accept = derive_accept_key(key.as_bytes());
    assert!(
        headers
            .get("sec-websocket-accept")
            .is_some_and(|v| v == accept.as_str()),
        "connect {path}: the 101's Sec-WebSocket-Accept is {:?}, expected {accept:?} \
         (a browser fails the connection)",
        headers.get("sec-websocket-accept")
    );
    let subprotocol = match headers.get("sec-websocket-protocol") {
        None => None,
        Some(chosen) => {
            let chosen = chosen.to_str().unwrap_or_default().to_owned();
            assert!(
                offered.contains(&chosen),
                "connect {path}: the app chose the subprotocol {chosen:?}, which was not \
                 offered (offers: {offered:?}); a browser fails the connection"
            );
            Some(chosen)
        }
    };
    let ws = WebSocketStream::from_partially_read(stream, tail, Role::Client, None).await;
    Ok((ws, subprotocol, headers))
}

/// Reads the body of a non-101 answer: by `Transfer-Encoding: chunked`, by
/// `Content-Length`, or up to the end of the connection.
async fn read_body(
    stream: &mut TcpStream,
    status: u16,
    headers: &HeaderMap,
    mut buf: Vec<u8>,
) -> std::io::Result<Vec<u8>> {
    use std::io::{Error, ErrorKind};
    async fn more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
        buf.reserve(4096);
        match stream.read_buf(buf).await? {
            0 => Err(Error::new(
                ErrorKind::UnexpectedEof,
                "the connection ended inside the body",
            )),
            _ => Ok(()),
        }
    }
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(Vec::new());
    }
    let chunked = headers
        .get_all("transfer-encoding")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        let mut body = Vec::new();
        let mut at = 0;
        loop {
            let line_end = loop {
                if let Some(i) = buf[at..].windows(2).position(|w| w == b"\r\n") {
                    break at + i;
                }
                more(stream, &mut buf).await?;
            };
            let line = String::from_utf8_lossy(&buf[at..line_end]);
            let size = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| {
                Error::new(ErrorKind::InvalidData, format!("bad chunk size {line:?}"))
            })?;
            at = line_end + 2;
            if size == 0 {
                return Ok(body); // trailers, if any, are not read
            }
            while buf.len() < at + size + 2 {
                more(stream, &mut buf).await?;
            }
            body.extend_from_slice(&buf[at..at + size]);
            at += size + 2;
        }
    }
    let length = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    match length {
        Some(length) => {
            while buf.len() < length {
                more(stream, &mut buf).await?;
            }
            buf.truncate(length);
        }
        None => {
            stream.read_to_end(&mut buf).await?;
        }
    }
    Ok(buf)
}
