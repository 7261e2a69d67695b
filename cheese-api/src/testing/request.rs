//! [`TestRequest`]: a handshake to configure (query, headers,
//! subprotocols) before it is sent, and the URL encoding a browser applies.

use super::http::handshake;
use super::{Refused, TestClient};
use axum::http::{HeaderName, HeaderValue};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request as ClientRequest;

/// A handshake being prepared: [`TestServer::request`](super::TestServer::request), then
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
    /// A plain handshake to `path` on the server at `addr`.
    pub(super) fn new(addr: SocketAddr, path: &str) -> TestRequest {
        TestRequest {
            addr,
            path: path.to_owned(),
            query: Vec::new(),
            headers: Vec::new(),
            subprotocols: Vec::new(),
            timeout: TestClient::DEFAULT_TIMEOUT,
        }
    }

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
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => panic!("connect {path}: cannot reach {addr}: {e}"),
            Err(_) => panic!("connect {path}: cannot reach {addr} within {timeout:?}"),
        };
        self.connect_on(stream).await
    }

    /// Sends the handshake over `stream`, a TCP connection to the server
    /// that the test opened itself: to set socket options first, such as
    /// small buffers that make a client which does not read push back on
    /// the app at once. Otherwise as [`connect`](Self::connect).
    ///
    /// # Panics
    /// As [`connect`](Self::connect).
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
    /// let socket = tokio::net::TcpSocket::new_v4().unwrap();
    /// socket.set_recv_buffer_size(4096).unwrap(); // the kernel holds little for us
    /// let stream = socket.connect(server.addr()).await.unwrap();
    /// let mut client = server.request("/echo").connect_on(stream).await.unwrap();
    /// client.send("petit").await;
    /// assert_eq!(client.recv_text().await, "petit");
    /// # }
    /// ```
    pub async fn connect_on(self, stream: TcpStream) -> Result<TestClient, Refused> {
        let path = self.path_and_query();
        let timeout = self.timeout;
        let request = self.into_client_request(&path);
        match tokio::time::timeout(timeout, handshake(stream, request, &path)).await {
            Ok(Ok((ws, subprotocol, headers))) => Ok(TestClient {
                ws,
                path,
                timeout,
                subprotocol,
                headers,
                closed: false,
                pings: 0,
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
        let mut path = encode_target(&self.path);
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

/// `path` (which may carry a query) as a request target: with a leading
/// `/`, percent-encoded as a browser would ([`encode_path`]).
pub(super) fn encode_target(path: &str) -> String {
    let mut target = String::new();
    if !path.starts_with('/') {
        target.push('/');
    }
    encode_path(path, &mut target);
    target
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
