//! The upgrade request, as CheeseAPI's `Request` offers it to hooks.

use axum::http::{header, request::Parts, HeaderMap, HeaderValue, Method};
use bytes::BytesMut;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;

/// The HTTP request that opened the connection; a hook gets it by naming a
/// parameter `request: &Request`.
///
/// ```
/// use cheese_api::prelude::*;
///
/// #[derive(Default)]
/// struct Room;
///
/// #[websocket("/room/<name:str>")]
/// impl Room {
///     async fn connection(&mut self, request: &Request) {
///         let name: String = request.param("name").unwrap();
///         let nick = request.args().get("nick").cloned().unwrap_or_default();
///         let _ = self.send(format!("{nick} joined {name} from {:?}", request.client())).await;
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    path: String,
    full_path: String,
    secure: bool,
    headers: HeaderMap,
    args: HashMap<String, String>,
    cookies: HashMap<String, String>,
    client: Option<SocketAddr>,
    subprotocols: Vec<String>,
    pub(crate) subprotocol: Option<String>,
    params: Vec<(String, String)>,
}

impl Request {
    pub(crate) fn from_parts(
        parts: &Parts,
        params: Vec<(String, String)>,
        client: Option<SocketAddr>,
        secure: bool,
    ) -> Request {
        let query = parts.uri.query().unwrap_or("");
        let args = parse_query(query);
        let cookies = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                Some((k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
            })
            .collect();
        let subprotocols = offered_subprotocols(&parts.headers);
        Request {
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
            full_path: parts
                .uri
                .path_and_query()
                .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned()),
            secure,
            headers: own_headers(&parts.headers),
            args,
            cookies,
            client,
            subprotocols,
            subprotocol: None,
            params,
        }
    }

    /// The HTTP method (`GET`).
    pub fn method(&self) -> &Method {
        &self.method
    }
    /// The path, as sent (percent-encoded), without the query.
    pub fn path(&self) -> &str {
        &self.path
    }
    /// The path with the query string.
    pub fn full_path(&self) -> &str {
        &self.full_path
    }
    /// `"wss"` over TLS, else `"ws"`.
    pub fn scheme(&self) -> &'static str {
        if self.secure {
            "wss"
        } else {
            "ws"
        }
    }
    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
    /// One header as text, if present and valid.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }
    /// The query arguments, decoded (the last of repeated keys wins).
    pub fn args(&self) -> &HashMap<String, String> {
        &self.args
    }
    /// The cookies sent with the request.
    pub fn cookies(&self) -> &HashMap<String, String> {
        &self.cookies
    }
    /// The peer's address, when the server knows it (`App::run` does; a
    /// router merged into your own server needs
    /// `into_make_service_with_connect_info::<SocketAddr>()`).
    pub fn client(&self) -> Option<SocketAddr> {
        self.client
    }
    /// The `Origin` header, if any.
    pub fn origin(&self) -> Option<&str> {
        self.header("origin")
    }
    /// The subprotocols the client offered, in its order.
    pub fn subprotocols(&self) -> &[String] {
        &self.subprotocols
    }
    /// The subprotocol chosen by the `subprotocol` hook, once chosen.
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }
    /// A path parameter parsed into `T`; `None` if absent or unparsable.
    pub fn param<T: FromStr>(&self, name: &str) -> Option<T> {
        self.param_str(name)?.parse().ok()
    }
    /// A path parameter as decoded text.
    pub fn param_str(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A copy of `headers` that owns its values in one allocation. hyper's
/// values are slices of its whole read buffer (8 KiB or more), so keeping
/// them for the connection's life would keep that buffer too.
fn own_headers(headers: &HeaderMap) -> HeaderMap {
    let bytes: usize = headers.values().map(|v| v.len()).sum();
    let mut all = BytesMut::with_capacity(bytes);
    for value in headers.values() {
        all.extend_from_slice(value.as_bytes());
    }
    let mut all = all.freeze();
    let mut owned = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let mut copy = HeaderValue::from_maybe_shared(all.split_to(value.len()))
            .expect("the bytes of a header value");
        copy.set_sensitive(value.is_sensitive());
        owned.append(name.clone(), copy);
    }
    owned
}

/// The subprotocols a handshake offers, in order (`Sec-WebSocket-Protocol`,
/// comma-separated, possibly repeated).
pub(crate) fn offered_subprotocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

fn parse_query(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode_component(k), decode_component(v))
        })
        .collect()
}

fn decode_component(s: &str) -> String {
    let s = s.replace('+', " ");
    crate::route::percent_decode(&s).unwrap_or(s)
}
