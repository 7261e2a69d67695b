//! The `#[websocket]` attribute of [cheese-api](https://docs.rs/cheese-api).
//! Use it through `cheese_api::websocket`; this crate only parses, checks and
//! generates code, and every runtime behaviour lives in `cheese_api`.
//!
//! The attribute goes through three steps over a typed model of the impl
//! block (`model.rs`): `parse.rs` reads the tokens, collecting every error
//! on the token that is wrong; `check.rs` checks the hooks' parameters
//! against the route; `expand.rs` and `glue.rs` generate the trait impls.
//! The route is parsed with the runtime's own grammar, the
//! `cheese-api-route` crate (`route.rs` draws its errors inside the string).
//!
//! Set `CHEESE_API_DEBUG=1` while building to print each expansion.

mod check;
mod expand;
mod glue;
mod hint;
mod limits;
mod model;
mod parse;
mod route;

use proc_macro::TokenStream;

/// Turns an impl block into a WebSocket handler served at a route: the
/// attribute implements [`WebsocketServer`] for the type (its route, its
/// limits, `send`/`close`/`join` in hooks) and registers it with
/// [`App::new`].
///
/// ```
/// # extern crate renamed_cheese as cheese_api; // this crate's tests know cheese-api by another name
/// use cheese_api::prelude::*;
///
/// #[derive(Default)] // one instance per connection
/// struct Room {
///     name: String,
/// }
///
/// #[websocket("/room/<name>/<id:int>", max_size = 65536, ping_interval = None)]
/// impl Room {
///     async fn handshake(&mut self, request: &Request) -> Result<(), StatusCode> {
///         match request.headers().contains_key("authorization") {
///             true => Ok(()),
///             false => Err(StatusCode::UNAUTHORIZED),
///         }
///     }
///     async fn connection(&mut self, name: String, id: i64) {
///         self.join(&name);
///         self.name = name;
///         let _ = self.send(format!("you are guest {id}")).await;
///     }
///     async fn message(&mut self, message: Message) {
///         let _ = self.hub().to_room(&self.name).send(message);
///     }
///     async fn disconnection(&mut self) {}
/// }
///
/// assert_eq!(Room::PATH, "/room/<name>/<id:int>");
/// assert_eq!(Room::LIMITS.max_size, Some(65536));
/// assert_eq!(Room::LIMITS.ping_interval, None);
/// assert_eq!(Room::LIMITS.max_queue, Some(32)); // not given: the default
/// assert!(App::new().paths().contains(&"/room/<name>/<id:int>"));
/// ```
///
/// # The route
///
/// The first argument, a string: CheeseAPI's syntax,
/// `/room/<name:str>/<id:int>`.
///
/// - A segment is literal text or a whole `<name:type>` parameter;
///   `<name>` alone means `<name:str>`. A name is ASCII letters, digits and
///   `_`, not starting with a digit, and appears once.
/// - Types: `str` (any non-empty segment), `int` (an `i64`, optional `-`),
///   `float` (`1.5`, `-0.25`: digits, a `.`, digits), `uuid` (hyphenated
///   hex, `8-4-4-4-12`). Any other type name is a named pattern, added with
///   `App::pattern("slug", |value| ...)`; a route that uses one the app does
///   not have panics when the app builds its router.
/// - A value is percent-decoded before it is checked (`caf%C3%A9` is
///   `café`); a value that does not fit its type makes the route not match
///   (404).
/// - A trailing slash is ignored on both sides: `/chat` and `/chat/` are
///   one route and match both paths.
/// - Where two routes could match one path, the more specific segment wins,
///   left to right: literal, then `uuid`, `float`, `int`, named patterns,
///   `str`. So `/item/new`, `/item/<id:int>` and `/item/<name>` all work.
///
/// The route is parsed at compile time with the same parser the server
/// uses at run time (the `cheese-api-route` crate): a malformed route is a
/// compile error that underlines the characters in question and says how to
/// write them, and a route that compiles is read the same way when the app
/// starts.
///
/// # Limits
///
/// `key = value` after the route. Timeouts are seconds (an integer or a
/// float); sizes are bytes (literals, with `+ - * / <<`: `1 << 20`). A key
/// not given keeps its default, the Python `websockets` library's; `T::LIMITS`
/// shows the resolved values, and [`Limits`] documents each one in full.
///
/// | key | default | meaning |
/// |---|---|---|
/// | `open_timeout` | `10` | longest time from accepting the TCP connection to a finished handshake, pre-upgrade hooks included; a slower client is dropped. `None`: no limit |
/// | `ping_interval` | `20` | the server pings every interval. `None`: no pings |
/// | `ping_timeout` | `20` | no pong within this after a ping closes with 1011 "keepalive ping timeout". `None`: never |
/// | `close_timeout` | `None` | longest wait, once a close has started, for the peer's close frame and the end of the TCP connection. `None` means 10 s, as in `websockets` |
/// | `max_size` | `1 << 20` | largest incoming message, whole or in fragments; larger closes with 1009. `None`: any size, in frames of at most 16 MiB |
/// | `max_queue` | `32` | received messages waiting for the `message` hook; when full the server stops reading, so TCP slows the client down. `None`: unbounded |
/// | `read_limit` | `1 << 16` | the most read from the socket at once, ahead of parsing |
/// | `write_limit` | `1 << 16` | outgoing buffer high-water mark: `send` waits while more is queued |
///
/// # Hooks
///
/// Methods of the impl block, all optional, all `async fn` taking
/// `&mut self` first; any other method belongs in a separate impl block.
///
/// | hook | runs | returns |
/// |---|---|---|
/// | `handshake` | before the upgrade, after the extractors | `()`, or `Result<(), R: IntoResponse>`: `Err` is the HTTP answer that refuses (401, 403, ...) |
/// | `subprotocol` | before the upgrade, if the client offered subprotocols | `Option<String>` (or `Option<&'static str>`): one of the offers, or `None` for none |
/// | `connection` | right after the upgrade | `()` or `Result<(), E: Display>` |
/// | `message` | for each complete data message, one at a time, in order | `()` or `Result<(), E: Display>` |
/// | `disconnection` | once for every connection whose `connection` ran | `()` |
///
/// An `Err` from `connection` or `message`, or a panic in any hook, is
/// logged and closes the connection with 1011; `disconnection` still runs.
///
/// # Parameters
///
/// Bound by their name, like CheeseAPI's keyword arguments; a hook takes
/// only what it uses, in any order:
///
/// - `request` (`&Request`): the upgrade request (path, headers, query,
///   client, `request.param::<T>("name")`);
/// - `message`, in the `message` hook only: the message as [`Message`],
///   `String` (text only), `Vec<u8>` or `Bytes` (binary only), or `Json<T>`;
///   the wrong kind closes with 1003, JSON that does not fit `T` with 1007;
/// - a name of the route: its decoded value, parsed with `FromStr` into the
///   parameter's type (`i64`, `f64`, `String`, `Uuid`, ...);
/// - any other name: an axum extractor (`FromRequestParts<()>`: `Query<T>`,
///   `HeaderMap`, `Extension<T>`, your own), extracted once from the upgrade
///   request before the handshake; its rejection refuses the handshake. In
///   the `message` hook it must also be `Clone` (it is handed to each call).
///
/// A route name that no hook takes is an error, unless a hook takes
/// `request` (which can read it).
///
/// # The type
///
/// `Default` (each connection gets its own instance) and `Send` (connections
/// run on Tokio's worker threads), with no generic parameters or lifetimes.
///
/// # `crate = "..."`
///
/// The generated code names cheese-api by the absolute path `::cheese_api`.
/// If your `Cargo.toml` gives the dependency another name, say which:
///
/// ```toml
/// [dependencies]
/// cheese = { package = "cheese-api", version = "0.1" }
/// ```
///
/// ```
/// # extern crate renamed_cheese as cheese;
/// #[derive(Default)]
/// struct Echo;
///
/// #[cheese::websocket("/echo", crate = "cheese")]
/// impl Echo {
///     async fn message(&mut self, message: cheese::Message) {
///         let _ = cheese::WebsocketServer::send(self, message).await;
///     }
/// }
/// # assert_eq!(<Echo as cheese::WebsocketServer>::PATH, "/echo");
/// ```
///
/// # Errors
///
/// Every misuse is a compile error on the token that is wrong, with a
/// message that says how to write it: a malformed route (underlined inside
/// the string), an unknown or misspelt hook or limit, a value out of range,
/// a parameter the hook cannot bind, a return type a hook cannot have. All
/// of them are reported at once, and only once: the code is still generated
/// around a mistake, so the rest of the block keeps type-checking.
/// Set `CHEESE_API_DEBUG=1` while building to print what the attribute
/// generates.
///
/// [`WebsocketServer`]: https://docs.rs/cheese-api/latest/cheese_api/trait.WebsocketServer.html
/// [`App::new`]: https://docs.rs/cheese-api/latest/cheese_api/struct.App.html#method.new
/// [`Limits`]: https://docs.rs/cheese-api/latest/cheese_api/struct.Limits.html
/// [`Message`]: https://docs.rs/cheese-api/latest/cheese_api/enum.Message.html
#[proc_macro_attribute]
pub fn websocket(attr: TokenStream, item: TokenStream) -> TokenStream {
    let out = websocket_impl(attr.into(), item.into());
    if std::env::var_os("CHEESE_API_DEBUG").is_some() {
        eprintln!("{out}");
    }
    out.into()
}

/// Parse, check, expand; errors are collected all the way and emitted
/// beside the generated code.
fn websocket_impl(
    attr: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let mut errors = Vec::new();
    let attribute = parse::attribute(attr, &mut errors);
    let Some(mut handler) = parse::handler(item.clone(), &mut errors) else {
        return expand::item_only(item, &errors);
    };
    check::check(&attribute, &mut handler, &mut errors);
    expand::expand(&attribute, handler, &errors)
}
