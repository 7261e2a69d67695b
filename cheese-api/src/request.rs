//! The upgrade request, as CheeseAPI's `Request` offers it to hooks.

use axum::http::{header, request::Parts, HeaderMap, HeaderName, HeaderValue, Method};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::OnceLock;

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
    /// The method: `GET` (HTTP/1.1) or `CONNECT` (HTTP/2's extended
    /// CONNECT), the only two a handshake comes with; a flag, not a
    /// `Method` (24 B) in every open connection.
    connect: bool,
    /// The path with the query string; the path is its first `path_len`
    /// bytes. One string, not two: an open connection keeps this.
    full_path: Box<str>,
    path_len: u32,
    secure: bool,
    /// The headers as `name: value\r\n` lines in one buffer: an open
    /// connection keeps this, not a `HeaderMap` (about 600 bytes more).
    head: Box<[u8]>,
    /// The header map, query arguments and cookies, each built from `head`
    /// or the query when a hook first asks: most connections never do, so
    /// the slot an open connection keeps is one pointer, not three maps.
    parsed: OnceLock<Box<Parsed>>,
    client: Option<SocketAddr>,
    subprotocols: Box<[String]>,
    pub(crate) subprotocol: Option<Box<str>>,
    params: Box<[(Box<str>, Box<str>)]>,
}

/// What a [`Request`] builds only when a hook asks for it.
#[derive(Debug, Clone, Default)]
struct Parsed {
    headers: OnceLock<HeaderMap>,
    args: OnceLock<HashMap<String, String>>,
    cookies: OnceLock<HashMap<String, String>>,
}

impl Request {
    pub(crate) fn from_parts(
        parts: &Parts,
        params: Vec<(String, String)>,
        client: Option<SocketAddr>,
        secure: bool,
    ) -> Request {
        let path = parts.uri.path();
        Request {
            connect: parts.method == Method::CONNECT,
            full_path: parts
                .uri
                .path_and_query()
                .map_or(path, |pq| pq.as_str())
                .into(),
            // hyper refuses a head this long long before.
            path_len: u32::try_from(path.len()).expect("a path under 4 GiB"),
            secure,
            head: head_lines(&parts.headers),
            parsed: OnceLock::new(),
            client,
            subprotocols: offered_subprotocols(&parts.headers).into(),
            subprotocol: None,
            params: params
                .into_iter()
                .map(|(name, value)| (name.into(), value.into()))
                .collect(),
        }
    }

    /// The HTTP method: `GET`, or `CONNECT` for a WebSocket over HTTP/2.
    pub fn method(&self) -> &Method {
        static GET: Method = Method::GET;
        static CONNECT: Method = Method::CONNECT;
        if self.connect {
            &CONNECT
        } else {
            &GET
        }
    }
    /// The path, as sent (percent-encoded), without the query.
    pub fn path(&self) -> &str {
        &self.full_path[..self.path_len as usize]
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
        self.parsed().headers.get_or_init(|| {
            let mut map = HeaderMap::new();
            for (name, value) in self.lines() {
                if let (Ok(name), Ok(value)) =
                    (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
                {
                    map.append(name, value);
                }
            }
            map
        })
    }
    /// One header as text, if present and valid (the first, if repeated).
    pub fn header(&self, name: &str) -> Option<&str> {
        let (_, value) = self
            .lines()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))?;
        std::str::from_utf8(value).ok()
    }
    fn parsed(&self) -> &Parsed {
        self.parsed.get_or_init(Box::default)
    }
    /// The `(name, value)` of each header line, in order.
    fn lines(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.head
            .split(|&b| b == b'\n')
            .filter_map(|line| line.strip_suffix(b"\r"))
            .filter_map(|line| {
                let at = line.iter().position(|&b| b == b':')?;
                Some((&line[..at], &line[at + 2..]))
            })
    }
    /// The query arguments, decoded (the last of repeated keys wins).
    pub fn args(&self) -> &HashMap<String, String> {
        self.parsed().args.get_or_init(|| {
            let query = self.full_path[self.path_len as usize..].strip_prefix('?');
            parse_query(query.unwrap_or(""))
        })
    }
    /// The cookies sent with the request.
    pub fn cookies(&self) -> &HashMap<String, String> {
        self.parsed().cookies.get_or_init(|| {
            self.lines()
                .filter(|(name, _)| name.eq_ignore_ascii_case(b"cookie"))
                .filter_map(|(_, value)| std::str::from_utf8(value).ok())
                .flat_map(|v| v.split(';'))
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    Some((k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
                })
                .collect()
        })
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
            .find(|(n, _)| **n == *name)
            .map(|(_, v)| &**v)
    }
}

/// The headers as `name: value\r\n` lines (names are lower case; a value
/// holds no CR or LF, so the lines are unambiguous). Copied: hyper's values
/// are slices of its whole read buffer (8 KiB or more), which keeping them
/// would keep too.
fn head_lines(headers: &HeaderMap) -> Box<[u8]> {
    let len = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    let mut head = Vec::with_capacity(len);
    for (name, value) in headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.into_boxed_slice()
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

/// The client's address and whether the client reached us over TLS, from
/// the proxy headers when trusted, else from the socket.
pub(crate) fn client_address(
    trust_proxy: bool,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    tls: bool,
) -> (Option<SocketAddr>, bool) {
    if !trust_proxy {
        return (peer, tls);
    }
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let forwarded_ip = text("x-real-ip")
        .or_else(|| text("x-forwarded-for").and_then(|v| v.split(',').next()))
        .and_then(|ip| ip.trim().parse::<IpAddr>().ok());
    let client = forwarded_ip.map(|ip| SocketAddr::new(ip, 0)).or(peer);
    let secure = match text("x-forwarded-proto") {
        Some(proto) => {
            proto.trim().eq_ignore_ascii_case("https") || proto.trim().eq_ignore_ascii_case("wss")
        }
        None => tls,
    };
    (client, secure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_survive_the_compact_copy() {
        let mut sent = HeaderMap::new();
        sent.append("host", HeaderValue::from_static("127.0.0.1:5214"));
        sent.append("x-tag", HeaderValue::from_static("a: b"));
        sent.append("x-tag", HeaderValue::from_static("second"));
        sent.append("x-raw", HeaderValue::from_bytes(b"caf\xe9").unwrap());
        sent.append("x-empty", HeaderValue::from_static(""));
        let (mut parts, ()) = axum::http::Request::builder()
            .uri("/p?q=1")
            .body(())
            .unwrap()
            .into_parts();
        parts.headers = sent.clone();
        let request = Request::from_parts(&parts, Vec::new(), None, false);
        assert_eq!(request.headers(), &sent);
        assert_eq!(request.header("X-Tag"), Some("a: b"));
        assert_eq!(request.header("x-empty"), Some(""));
        assert_eq!(request.header("x-raw"), None); // not UTF-8
        assert_eq!(request.header("missing"), None);
    }
}
