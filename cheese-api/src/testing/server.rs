//! [`TestServer`]: the app under test, served on a loopback port.

use super::http::{self, TestResponse};
use super::request::encode_target;
use super::{Refused, TestClient, TestRequest};
use crate::{App, Hub, ShutdownHandle};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

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
    /// The served app's hub (none for a plain router).
    hub: Option<Hub>,
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
        TestServer::start_on(app, bind_loopback().await)
    }

    /// Serves `app` on `listener`, which the test bound itself: to set
    /// socket options first (the connections it accepts inherit small
    /// buffers, say) or to choose the port. Otherwise as
    /// [`start`](Self::start).
    ///
    /// # Panics
    /// When the listener has no local address, or outside a Tokio runtime.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// use cheese_api::testing::TestServer;
    /// # #[tokio::main] async fn main() {
    ///
    /// let socket = tokio::net::TcpSocket::new_v4().unwrap();
    /// socket.set_send_buffer_size(8192).unwrap(); // the app's writes wait sooner
    /// socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    /// let server = TestServer::start_on(App::empty(), socket.listen(128).unwrap());
    /// assert_eq!(server.get("/nowhere").await.status, 404);
    /// # }
    /// ```
    pub fn start_on(app: App, listener: TcpListener) -> TestServer {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("TestServer: no local address: {e}"));
        let stop = app.shutdown_handle();
        let hub = Some(app.hub());
        let serving = tokio::spawn(app.serve(listener));
        TestServer {
            addr,
            stop,
            serving: Some(serving),
            hub,
        }
    }

    /// Serves a plain axum [`Router`](axum::Router) with `axum::serve` on
    /// `127.0.0.1` with a free port: for an app that puts
    /// [`App::router`] inside its own axum app.
    ///
    /// [`shutdown`](Self::shutdown) is then axum's graceful shutdown: it
    /// stops accepting and waits for the HTTP requests in flight, but
    /// closes no WebSocket connection (sending 1001 to each is
    /// [`App::serve`]'s, which [`start`](Self::start) uses).
    ///
    /// # Panics
    /// When no loopback port can be bound, or outside a Tokio runtime.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// use axum::routing::get;
    /// use cheese_api::testing::TestServer;
    /// # #[derive(Default)] struct Echo;
    /// # #[websocket("/echo")] impl Echo {
    /// #     async fn message(&mut self, message: Message) { let _ = self.send(message).await; }
    /// # }
    /// # #[tokio::main] async fn main() {
    ///
    /// let router = axum::Router::new()
    ///     .route("/health", get(|| async { "ok" }))
    ///     .merge(App::empty().websocket::<Echo>().router());
    /// let server = TestServer::start_router(router).await;
    /// assert_eq!(server.get("/health").await.body, "ok");
    /// let mut client = server.connect("/echo").await;
    /// client.send("mozzarella").await;
    /// assert_eq!(client.recv_text().await, "mozzarella");
    /// # }
    /// ```
    pub async fn start_router(router: axum::Router) -> TestServer {
        let listener = bind_loopback().await;
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("TestServer: no local address: {e}"));
        let stop = ShutdownHandle {
            stop: Arc::new(Notify::new()),
        };
        let stopped = stop.stop.clone();
        let serving = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { stopped.notified().await })
                .await
        });
        TestServer {
            addr,
            stop,
            serving: Some(serving),
            hub: None,
        }
    }

    /// The served app's [`Hub`]: its rooms, presence and [`stats`](Hub::stats).
    ///
    /// # Panics
    /// For a server started with [`start_router`](Self::start_router) (take
    /// the hub from the [`App`] before making its router).
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// use cheese_api::testing::TestServer;
    /// # #[tokio::main] async fn main() {
    ///
    /// let server = TestServer::start(App::empty()).await;
    /// assert_eq!(server.hub().connections(), 0);
    /// # }
    /// ```
    pub fn hub(&self) -> Hub {
        self.hub
            .clone()
            .expect("TestServer::hub: this server serves a plain router; take the hub from its App")
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
        TestRequest::new(self.addr, path)
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

    /// Sends a plain HTTP `GET` for `path` (which may carry a query) to the
    /// app's HTTP routes ([`App::merge`]) and reads the whole answer.
    ///
    /// # Panics
    /// When the app cannot be reached, does not answer within
    /// [`TestClient::DEFAULT_TIMEOUT`], or answers something that is not
    /// HTTP.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # #[derive(Default)] struct Echo;
    /// # #[websocket("/echo")] impl Echo {}
    /// # #[tokio::main] async fn main() {
    /// let server = TestServer::start(App::empty().websocket::<Echo>()).await;
    /// // A WebSocket route asked for without an upgrade.
    /// assert_eq!(server.get("/echo").await.status, 426);
    /// # }
    /// ```
    pub async fn get(&self, path: &str) -> TestResponse {
        self.http("GET", path, None).await
    }

    /// Sends a plain HTTP `POST` of `body` to `path` and reads the whole
    /// answer.
    ///
    /// # Panics
    /// As [`get`](Self::get).
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// use axum::routing::post;
    /// use cheese_api::testing::TestServer;
    /// # #[tokio::main] async fn main() {
    ///
    /// let shout = axum::Router::new().route("/shout", post(|body: String| async move { body.to_uppercase() }));
    /// let server = TestServer::start(App::empty().merge(shout)).await;
    /// let response = server.post("/shout", "raclette").await;
    /// assert_eq!((response.status, response.body.as_str()), (200, "RACLETTE"));
    /// # }
    /// ```
    pub async fn post(&self, path: &str, body: impl AsRef<[u8]>) -> TestResponse {
        self.http("POST", path, Some(body.as_ref())).await
    }

    async fn http(&self, method: &str, path: &str, body: Option<&[u8]>) -> TestResponse {
        let target = encode_target(path);
        let timeout = TestClient::DEFAULT_TIMEOUT;
        let request = http::request(self.addr, method, &target, body);
        match tokio::time::timeout(timeout, request).await {
            Ok(response) => response,
            Err(_) => panic!("{method} {target}: no answer within {timeout:?}"),
        }
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

/// A listener on `127.0.0.1` with a free port.
async fn bind_loopback() -> TcpListener {
    TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("TestServer: cannot bind 127.0.0.1:0: {e}"))
}
