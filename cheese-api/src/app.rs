//! The application: every registered `#[websocket]` route, served on its own
//! or as an `axum::Router` inside your app.

use crate::handler::Hooks;
use crate::http::security::{Guard, Origins};
use crate::http::serve::ShutdownHandle;
use crate::http::upgrade::serve_boxed;
use crate::route::Pattern;
use crate::runtime::Runtime;
use axum::response::Response;
use axum::Router;
use futures_util::future::BoxFuture;
use std::any::TypeId;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

/// Serves an upgrade request that matched a route, with its path values.
pub(crate) type Serve = fn(
    axum::extract::Request,
    Vec<(String, String)>,
    Arc<Runtime>,
    Arc<Guard>,
) -> BoxFuture<'static, Response>;

/// A registered `#[websocket]` handler and its per-route settings.
#[derive(Clone)]
pub(crate) struct Route {
    pub(crate) type_id: TypeId,
    pub(crate) type_name: &'static str,
    pub(crate) pattern: Pattern,
    pub(crate) serve: Serve,
    pub(crate) close_timeout: std::time::Duration,
    pub(crate) origins: Option<Origins>,
    pub(crate) max_connections: Option<usize>,
    /// Open connections on this route, for `max_connections`.
    pub(crate) count: Arc<AtomicUsize>,
}

/// A named pattern's check of a segment value.
pub(crate) type Check = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// A `#[websocket]` handler registered at its attribute (collected with
/// `inventory`); [`App::new`] serves them all.
#[doc(hidden)]
pub struct Registration {
    add: fn(App) -> App,
}

impl Registration {
    #[doc(hidden)]
    pub const fn of<T: Hooks>() -> Registration {
        Registration {
            add: App::websocket::<T>,
        }
    }
}

inventory::collect!(Registration);

/// A cheese-api application.
///
/// ```no_run
/// use cheese_api::prelude::*;
///
/// #[derive(Default)]
/// struct Echo;
///
/// #[websocket("/")]
/// impl Echo {
///     async fn message(&mut self, message: Message) {
///         let _ = self.send(message).await;
///     }
/// }
///
/// #[tokio::main]
/// async fn main() -> std::io::Result<()> {
///     App::new().run().await // every #[websocket] in the binary, on 127.0.0.1:5214
/// }
/// ```
#[derive(Clone)]
pub struct App {
    pub(crate) routes: Vec<Route>,
    pub(crate) patterns: HashMap<String, Check>,
    pub(crate) extra: Router,
    pub(crate) host: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) handshake_timeout: std::time::Duration,
    pub(crate) stop: Arc<tokio::sync::Notify>,
    pub(crate) origins: Option<Origins>,
    pub(crate) max_connections: Option<usize>,
    pub(crate) live: Arc<AtomicUsize>,
    pub(crate) trust_proxy: bool,
    pub(crate) max_header_bytes: usize,
    pub(crate) max_headers: Option<usize>,
    pub(crate) refused_origins: Arc<Mutex<HashSet<String>>>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::http::tls::TlsConfig>,
    pub(crate) extensions: Vec<Arc<dyn Fn(Router) -> Router + Send + Sync>>,
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl App {
    /// An app with every `#[websocket]` handler in the binary.
    pub fn new() -> App {
        inventory::iter::<Registration>
            .into_iter()
            .fold(App::empty(), |app, r| (r.add)(app))
    }

    /// An app with no handlers; add them with [`websocket`](Self::websocket).
    ///
    /// ```
    /// use cheese_api::prelude::*;
    ///
    /// #[derive(Default)]
    /// struct Chat;
    /// #[websocket("/chat")]
    /// impl Chat {}
    ///
    /// let app = App::empty().websocket::<Chat>();
    /// assert_eq!(app.paths(), vec!["/chat"]);
    /// ```
    pub fn empty() -> App {
        App {
            routes: Vec::new(),
            patterns: HashMap::new(),
            extra: Router::new(),
            host: None,
            port: None,
            runtime: Arc::new(Runtime::new()),
            handshake_timeout: Self::DEFAULT_HANDSHAKE_TIMEOUT,
            stop: Arc::new(tokio::sync::Notify::new()),
            origins: None,
            max_connections: None,
            live: Arc::new(AtomicUsize::new(0)),
            trust_proxy: false,
            max_header_bytes: Self::DEFAULT_MAX_HEADER_BYTES,
            max_headers: None,
            refused_origins: Arc::new(Mutex::new(HashSet::new())),
            #[cfg(feature = "tls")]
            tls: None,
            extensions: Vec::new(),
        }
    }

    /// Registers a handler (again registering one is a no-op).
    pub fn websocket<T: Hooks>(mut self) -> App {
        if self.routes.iter().any(|r| r.type_id == TypeId::of::<T>()) {
            return self;
        }
        let pattern = Pattern::parse(T::PATH)
            .unwrap_or_else(|e| panic!("route of {}: {e}", std::any::type_name::<T>()));
        self.routes.push(Route {
            type_id: TypeId::of::<T>(),
            type_name: std::any::type_name::<T>(),
            pattern,
            serve: serve_boxed::<T>,
            close_timeout: T::LIMITS.effective_close_timeout(),
            origins: None,
            max_connections: None,
            count: Arc::new(AtomicUsize::new(0)),
        });
        self
    }

    /// Keeps history for the rooms whose name matches `pattern` (`*`
    /// matches any run of characters: `"chat:*"`, `"lobby"`, `"*"`; the
    /// first pattern given that matches a room wins): their messages get
    /// a [`Position`](crate::Position), are kept within `history`'s bounds,
    /// and a client that reconnects gets what it missed with
    /// [`Socket::join_since`](crate::Socket::join_since). Rooms without
    /// history cost nothing extra. See the guide's rooms page.
    ///
    /// ```
    /// use cheese_api::{App, History};
    /// use std::time::Duration;
    ///
    /// let app = App::empty()
    ///     .history("chat:*", History::last(100).ttl(Duration::from_secs(600)))
    ///     .history("alerts", History::last(10));
    /// # let _ = app;
    /// ```
    pub fn history(self, pattern: &str, history: crate::History) -> App {
        self.runtime.hub.add_history(pattern, history);
        self
    }

    /// Adds a named pattern for route segments `<name:kind>`: a segment
    /// matches when `check` accepts its decoded value.
    ///
    /// ```
    /// use cheese_api::prelude::*;
    ///
    /// #[derive(Default)]
    /// struct Page;
    /// #[websocket("/page/<slug:slug>")]
    /// impl Page {
    ///     async fn connection(&mut self, slug: String) {
    ///         let _ = self.send(format!("page {slug}")).await;
    ///     }
    /// }
    ///
    /// let app = App::empty()
    ///     .pattern("slug", |s| s.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
    ///     .websocket::<Page>();
    /// let _router = app.router();
    /// ```
    pub fn pattern(
        mut self,
        kind: &str,
        check: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> App {
        self.patterns.insert(kind.to_owned(), Arc::new(check));
        self
    }

    /// Allows upgrades only from these browser origins, on every route
    /// (exact `https://chat.example.com`, subdomains `https://*.example.com`,
    /// or `*`); others get 403, each refused origin logged once. Requests
    /// without an `Origin` header (not from a browser page) are allowed.
    /// Default: any origin. This is the defence against cross-site
    /// WebSocket hijacking when you authenticate with cookies.
    pub fn allowed_origins<I, S>(mut self, origins: I) -> App
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.origins = Some(Origins::new(origins));
        self
    }

    /// Like [`allowed_origins`](Self::allowed_origins) for route `T` only
    /// (it replaces the app-wide list there).
    pub fn route_allowed_origins<T: Hooks, I, S>(mut self, origins: I) -> App
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.route_mut::<T>().origins = Some(Origins::new(origins));
        self
    }

    /// At most `max` open WebSocket connections in the app; over it an
    /// upgrade gets 503 and nothing else changes. Default: no cap.
    pub fn max_connections(mut self, max: usize) -> App {
        self.max_connections = Some(max);
        self
    }

    /// At most `max` open connections on route `T` (503 over it).
    pub fn route_max_connections<T: Hooks>(mut self, max: usize) -> App {
        self.route_mut::<T>().max_connections = Some(max);
        self
    }

    /// Takes the client's address from `X-Real-Ip` or `X-Forwarded-For`
    /// and the scheme from `X-Forwarded-Proto`. Only for an app behind a
    /// proxy that sets them: anyone can send these headers. Default: off.
    pub fn trust_proxy_headers(mut self, trust: bool) -> App {
        self.trust_proxy = trust;
        self
    }

    /// The most bytes of request line and headers read before the upgrade;
    /// more gets 431. Default: [`DEFAULT_MAX_HEADER_BYTES`](Self::DEFAULT_MAX_HEADER_BYTES);
    /// at least 8192.
    pub fn max_header_bytes(mut self, max: usize) -> App {
        self.max_header_bytes = max.max(8192);
        self
    }

    /// The most request headers; more gets 431. Default: 100 (hyper's).
    pub fn max_headers(mut self, max: usize) -> App {
        self.max_headers = Some(max);
        self
    }

    /// The default of [`max_header_bytes`](Self::max_header_bytes): 16 KiB.
    pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;

    fn route_mut<T: Hooks>(&mut self) -> &mut Route {
        let at = match self
            .routes
            .iter()
            .position(|r| r.type_id == TypeId::of::<T>())
        {
            Some(at) => at,
            None => {
                *self = std::mem::replace(self, App::empty()).websocket::<T>();
                self.routes.len() - 1
            }
        };
        &mut self.routes[at]
    }

    /// The app-wide handshake timeout when none is set: 10 s.
    pub const DEFAULT_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

    /// How long a client may take to send a request's headers, for every
    /// request (the slowloris guard; a route's own `open_timeout` then
    /// bounds its whole handshake). A slower client is disconnected with no
    /// response. Over HTTP/2 (with TLS, feature `tls`) it is how long a
    /// connection may go with no request and no WebSocket before GOAWAY.
    /// Default: [`DEFAULT_HANDSHAKE_TIMEOUT`](Self::DEFAULT_HANDSHAKE_TIMEOUT).
    pub fn handshake_timeout(mut self, timeout: std::time::Duration) -> App {
        self.handshake_timeout = timeout;
        self
    }

    /// The app's [`Hub`](crate::Hub): rooms and broadcast, for code outside
    /// hooks (an axum handler can also take `Hub` as an extractor).
    pub fn hub(&self) -> crate::Hub {
        self.runtime.hub.clone()
    }

    /// Serves every route over TLS (wss://) with this configuration
    /// (feature `tls`). The TLS handshake counts toward
    /// [`handshake_timeout`](Self::handshake_timeout). Clients that choose
    /// HTTP/2 by ALPN get their WebSockets as streams of one connection
    /// (RFC 8441); [`TlsConfig::http2`](crate::tls::TlsConfig::http2)
    /// turns that off.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: crate::http::tls::TlsConfig) -> App {
        self.tls = Some(config);
        self
    }

    /// Shares `value` with every hook and handler of the app: a hook takes it
    /// as a parameter `name: Extension<T>` (axum's extractor), extracted
    /// once before the upgrade. This is how app-wide state (a database
    /// pool, configuration) reaches hooks.
    ///
    /// ```
    /// use cheese_api::prelude::*;
    /// use std::sync::Arc;
    ///
    /// struct Config { greeting: String }
    ///
    /// #[derive(Default)]
    /// struct Greeter;
    ///
    /// #[websocket("/greet")]
    /// impl Greeter {
    ///     async fn connection(&mut self, config: Extension<Arc<Config>>) {
    ///         let _ = self.send(config.greeting.clone()).await;
    ///     }
    /// }
    ///
    /// let app = App::empty()
    ///     .websocket::<Greeter>()
    ///     .extension(Arc::new(Config { greeting: "hi".into() }));
    /// # let _ = app.router();
    /// ```
    pub fn extension<T: Clone + Send + Sync + 'static>(mut self, value: T) -> App {
        self.extensions.push(Arc::new(move |router: Router| {
            router.layer(axum::Extension(value.clone()))
        }));
        self
    }

    /// A snapshot of the app's counters (see [`Stats`](crate::Stats)).
    pub fn stats(&self) -> crate::Stats {
        self.runtime.hub.stats()
    }

    /// Links this app's rooms to other nodes through `backplane`, such as
    /// [`MemoryBackplane`](crate::MemoryBackplane) or, with the `redis`
    /// feature, `RedisBackplane`. A second call replaces the first: the
    /// first is told to let go of every channel and member of this node
    /// (its `unsubscribe` and `untrack`), so nothing reaches the app
    /// through it any more.
    pub fn backplane(self, backplane: impl crate::Backplane) -> App {
        self.runtime.hub.set_backplane(Arc::new(backplane));
        self
    }

    /// A handle that stops [`serve`](Self::serve)/[`run`](Self::run)
    /// gracefully, as Ctrl-C or SIGTERM do.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            stop: self.stop.clone(),
        }
    }

    /// Serves `router`'s HTTP routes beside the WebSocket ones.
    pub fn merge(mut self, router: Router) -> App {
        self.extra = self.extra.merge(router);
        self
    }

    /// The host to bind (default `127.0.0.1`, or `CHEESE_HOST`).
    pub fn host(mut self, host: impl Into<String>) -> App {
        self.host = Some(host.into());
        self
    }

    /// The port to bind (default 5214, or `CHEESE_PORT`).
    pub fn port(mut self, port: u16) -> App {
        self.port = Some(port);
        self
    }

    /// The registered route patterns, in registration order.
    pub fn paths(&self) -> Vec<&str> {
        self.routes.iter().map(|r| r.pattern.as_str()).collect()
    }

    /// Serves the app on `listener` until Ctrl-C, SIGTERM or
    /// [`shutdown_handle`](Self::shutdown_handle), then shuts down
    /// gracefully: stop accepting, answer new upgrades with 503, close every
    /// connection with 1001, wait for the closing handshakes (each bounded by
    /// its route's `close_timeout`) and every `disconnection`.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        let router = self.router();
        let longest_close = self
            .routes
            .iter()
            .map(|r| r.close_timeout)
            .max()
            .unwrap_or(crate::Limits::DEFAULT_CLOSE_TIMEOUT);
        // Closing handshakes, then a margin for `disconnection` hooks.
        let drain = longest_close + std::time::Duration::from_secs(5);
        let http = crate::http::serve::HttpLimits {
            header_timeout: self.handshake_timeout,
            max_header_bytes: self.max_header_bytes,
            max_headers: self.max_headers,
            #[cfg(feature = "tls")]
            tls: self.tls.map(|c| tokio_rustls::TlsAcceptor::from(c.0)),
        };
        crate::http::serve::serve(listener, router, self.runtime, self.stop, http, drain).await
    }

    /// Binds `host:port` (defaults `127.0.0.1:5214`, overridden by
    /// `CHEESE_HOST`/`CHEESE_PORT`, then by [`host`](Self::host)/[`port`](Self::port))
    /// and serves until Ctrl-C or SIGTERM. Installs a readable log subscriber
    /// (stderr, `info`, `RUST_LOG` respected) unless the program set its own,
    /// and logs the bound address: `ws://` with the WebSocket routes, and
    /// `http://` too when routes were [`merge`](Self::merge)d (a page to open).
    pub async fn run(self) -> std::io::Result<()> {
        let host = self
            .host
            .clone()
            .or_else(|| std::env::var("CHEESE_HOST").ok())
            .unwrap_or_else(|| "127.0.0.1".to_owned());
        let port = match self.port {
            Some(port) => port,
            None => match std::env::var("CHEESE_PORT") {
                Ok(p) => p.parse().map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("CHEESE_PORT={p} is not a port"),
                    )
                })?,
                Err(_) => 5214,
            },
        };
        install_default_subscriber();
        let listener = tokio::net::TcpListener::bind((host.as_str(), port)).await?;
        let addr = listener.local_addr()?;
        tracing::info!(
            "cheese-api serving {} on ws://{addr}",
            self.paths().join(", ")
        );
        if self.extra.has_routes() {
            tracing::info!("cheese-api serving HTTP routes on http://{addr}/");
        }
        self.serve(listener).await
    }
}

/// Logs to stderr at `info` (or as `RUST_LOG` says) unless the program set
/// up its own `tracing` subscriber.
fn install_default_subscriber() {
    if tracing::dispatcher::has_been_set() {
        return;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .try_init();
}
