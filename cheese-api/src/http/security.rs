//! What a route refuses before the upgrade: cross-site origins (403), more
//! connections than its cap (503), and where the client's address comes
//! from (the socket, or proxy headers when the app trusts them).

use crate::http::refusal::Refusal;
use axum::http::{header, HeaderMap};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// An origin allow-list: exact origins (`https://chat.example.com`), a
/// wildcard for subdomains (`https://*.example.com`), or `*` for any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origins {
    exact: Vec<String>,
    suffixes: Vec<(String, String)>,
    any: bool,
}

impl Origins {
    /// Parses the allow-list; entries are compared case-insensitively,
    /// without a trailing slash.
    ///
    /// ```
    /// use cheese_api::Origins;
    ///
    /// let o = Origins::new(["https://example.com", "https://*.example.com"]);
    /// assert!(o.allows("https://example.com"));
    /// assert!(o.allows("https://chat.example.com"));
    /// assert!(!o.allows("https://evil-example.com"));
    /// assert!(!o.allows("http://chat.example.com"));
    /// ```
    pub fn new<I, S>(origins: I) -> Origins
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list = Origins::default();
        for origin in origins {
            let origin = origin
                .as_ref()
                .trim()
                .trim_end_matches('/')
                .to_ascii_lowercase();
            if origin == "*" {
                list.any = true;
            } else if let Some((scheme, host)) = origin.split_once("://*.") {
                list.suffixes
                    .push((format!("{scheme}://"), format!(".{host}")));
            } else {
                list.exact.push(origin);
            }
        }
        list
    }

    /// Whether `origin` is allowed.
    pub fn allows(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        self.any
            || self.exact.contains(&origin)
            || self.suffixes.iter().any(|(scheme, suffix)| {
                origin.strip_prefix(scheme.as_str()).is_some_and(|host| {
                    host.len() > suffix.len() && host.ends_with(suffix.as_str())
                })
            })
    }
}

/// The checks of one route, with the app-wide settings folded in.
pub(crate) struct Guard {
    pub(crate) origins: Option<Origins>,
    pub(crate) app_cap: Option<(usize, Arc<AtomicUsize>)>,
    pub(crate) route_cap: Option<(usize, Arc<AtomicUsize>)>,
    pub(crate) trust_proxy: bool,
    /// Refused origins already logged (each once, at most 1024 kept).
    pub(crate) logged: Arc<Mutex<HashSet<String>>>,
}

/// A reserved connection slot; released when dropped.
pub(crate) struct Slot(Vec<Arc<AtomicUsize>>);

impl Drop for Slot {
    fn drop(&mut self) {
        for count in &self.0 {
            count.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Slot {
    /// Also counts the connection in `count` until the slot is released.
    #[cfg(feature = "tls")]
    pub(crate) fn count_in(&mut self, count: Arc<AtomicUsize>) {
        count.fetch_add(1, Ordering::AcqRel);
        self.0.push(count);
    }
}

impl Guard {
    /// 403 for an `Origin` that is not allowed. A request with no `Origin`
    /// is not from a browser page and cannot be a cross-site hijack.
    pub(crate) fn check_origin(&self, headers: &HeaderMap, path: &str) -> Result<(), Refusal> {
        let (Some(allowed), Some(origin)) = (&self.origins, headers.get(header::ORIGIN)) else {
            return Ok(());
        };
        let origin = origin.to_str().unwrap_or("");
        if allowed.allows(origin) {
            return Ok(());
        }
        let mut logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
        if logged.len() < 1024 && logged.insert(origin.to_owned()) {
            tracing::warn!(
                origin,
                path,
                "refused a WebSocket upgrade from an origin not allowed (403)"
            );
        }
        Err(Refusal::origin_not_allowed())
    }

    /// Takes a connection slot under the app's and the route's caps, or 503.
    pub(crate) fn reserve(&self) -> Result<Slot, Refusal> {
        let mut slot = Slot(Vec::new());
        for (cap, count) in [&self.app_cap, &self.route_cap].into_iter().flatten() {
            if count.fetch_add(1, Ordering::AcqRel) >= *cap {
                count.fetch_sub(1, Ordering::AcqRel);
                return Err(Refusal::too_many_connections());
            }
            slot.0.push(count.clone());
        }
        Ok(slot)
    }

    /// The client's address and whether the client reached us over TLS
    /// ([`client_address`](crate::request::client_address) with this route's setting).
    pub(crate) fn client(
        &self,
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
        tls: bool,
    ) -> (Option<SocketAddr>, bool) {
        crate::request::client_address(self.trust_proxy, headers, peer, tls)
    }
}
