//! Matching a request path against a pattern: percent-decoding, the
//! built-in types' checks, and the order in which routes are tried.

use crate::{ParamKind, Pattern, Segment};
use std::cmp::Ordering;

impl ParamKind {
    /// How specific the kind is: higher is tried first among routes of the
    /// same shape.
    fn rank(&self) -> u8 {
        match self {
            ParamKind::Uuid => 5,
            ParamKind::Float => 4,
            ParamKind::Int => 3,
            ParamKind::Named(_) => 2,
            ParamKind::Str => 1,
        }
    }

    /// Whether a decoded segment value fits a built-in type (a named
    /// pattern only needs a non-empty value here; the app checks the rest).
    ///
    /// ```
    /// use cheese_api_route::ParamKind;
    ///
    /// assert!(ParamKind::Int.matches_builtin("-7"));
    /// assert!(!ParamKind::Int.matches_builtin("+7"));
    /// assert!(ParamKind::Float.matches_builtin("1.5"));
    /// assert!(!ParamKind::Float.matches_builtin("1"));
    /// assert!(ParamKind::Uuid.matches_builtin("67e55044-10b1-426f-9247-bb680e5fe0c8"));
    /// ```
    pub fn matches_builtin(&self, value: &str) -> bool {
        match self {
            ParamKind::Str | ParamKind::Named(_) => !value.is_empty(),
            ParamKind::Int => {
                let digits = value.strip_prefix('-').unwrap_or(value);
                !digits.is_empty()
                    && digits.bytes().all(|b| b.is_ascii_digit())
                    && value.parse::<i64>().is_ok()
            }
            ParamKind::Float => {
                let unsigned = value.strip_prefix('-').unwrap_or(value);
                match unsigned.split_once('.') {
                    Some((int, frac)) => {
                        !int.is_empty()
                            && !frac.is_empty()
                            && int.bytes().all(|b| b.is_ascii_digit())
                            && frac.bytes().all(|b| b.is_ascii_digit())
                    }
                    None => false,
                }
            }
            ParamKind::Uuid => {
                let b = value.as_bytes();
                b.len() == 36
                    && b.iter().enumerate().all(|(i, c)| match i {
                        8 | 13 | 18 | 23 => *c == b'-',
                        _ => c.is_ascii_hexdigit(),
                    })
            }
        }
    }
}

impl Pattern {
    /// Matches a request path (percent-encoded, as on the wire) against the
    /// built-in types. Returns the decoded parameter values by name.
    ///
    /// ```
    /// use cheese_api_route::Pattern;
    ///
    /// let p = Pattern::parse("/room/<name>").unwrap();
    /// assert_eq!(p.matches("/room/caf%C3%A9/"), Some(vec![("name".to_string(), "café".to_string())]));
    /// assert_eq!(p.matches("/room/%zz"), None);
    /// ```
    pub fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        self.matches_with(path, &|kind, value| kind.matches_builtin(value))
    }

    /// Like [`matches`](Self::matches), with `check` deciding whether a
    /// decoded value fits its segment's type (the app uses it for named
    /// patterns).
    ///
    /// ```
    /// use cheese_api_route::{ParamKind, Pattern};
    ///
    /// let p = Pattern::parse("/tag/<t:slug>").unwrap();
    /// let slug = |kind: &ParamKind, v: &str| match kind {
    ///     ParamKind::Named(n) if n == "slug" => v.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
    ///     other => other.matches_builtin(v),
    /// };
    /// assert!(p.matches_with("/tag/blue-cheese", &slug).is_some());
    /// assert!(p.matches_with("/tag/Blue", &slug).is_none());
    /// ```
    pub fn matches_with(
        &self,
        path: &str,
        check: &dyn Fn(&ParamKind, &str) -> bool,
    ) -> Option<Vec<(String, String)>> {
        let path = path.strip_prefix('/')?;
        let path = path.strip_suffix('/').unwrap_or(path);
        // "" is the root: no segments (split would yield one empty one).
        let mut parts = path.split('/').filter(|_| !path.is_empty());
        let mut params = Vec::new();
        for seg in self.segments() {
            let value = percent_decode(parts.next()?)?;
            match seg {
                Segment::Static(s) if *s != value => return None,
                Segment::Static(_) => {}
                Segment::Param { kind, .. } if !check(kind, &value) => return None,
                Segment::Param { name, .. } => params.push((name.clone(), value)),
            }
        }
        parts.next().is_none().then_some(params)
    }

    /// Orders two patterns: `Less` means `self` is tried first. Segment by
    /// segment, a literal comes before any parameter, then `uuid`, `float`,
    /// `int`, named patterns and `str`.
    ///
    /// ```
    /// use cheese_api_route::Pattern;
    /// use std::cmp::Ordering;
    ///
    /// let int = Pattern::parse("/item/<id:int>").unwrap();
    /// let any = Pattern::parse("/item/<name>").unwrap();
    /// let new = Pattern::parse("/item/new").unwrap();
    /// assert_eq!(int.specificity_cmp(&any), Ordering::Less);
    /// assert_eq!(new.specificity_cmp(&int), Ordering::Less);
    /// ```
    pub fn specificity_cmp(&self, other: &Pattern) -> Ordering {
        let key = |s: &Segment| match s {
            Segment::Static(_) => 6,
            Segment::Param { kind, .. } => kind.rank(),
        };
        let a = self.segments().iter().map(key);
        let b = other.segments().iter().map(key);
        b.cmp(a)
    }
}

/// Decodes `%XX` escapes; `None` when an escape is malformed or the result
/// is not UTF-8.
///
/// ```
/// use cheese_api_route::percent_decode;
///
/// assert_eq!(percent_decode("caf%C3%A9").as_deref(), Some("café"));
/// assert_eq!(percent_decode("%+4"), None);
/// assert_eq!(percent_decode("%FF"), None);
/// ```
pub fn percent_decode(raw: &str) -> Option<String> {
    if !raw.contains('%') {
        return Some(raw.to_owned());
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            // Two hex digits exactly: `from_str_radix` alone would also take
            // a sign, decoding `%+4` as byte 4.
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_trailing_slash() {
        let root = Pattern::parse("/").unwrap();
        assert!(root.segments().is_empty());
        assert_eq!(root.matches("/"), Some(vec![]));
        assert_eq!(root.matches("/x"), None);
        let chat = Pattern::parse("/chat").unwrap();
        assert_eq!(chat.matches("/chat/"), Some(vec![]));
        assert_eq!(chat.matches("/chat"), Some(vec![]));
        assert_eq!(chat.matches("/chat/x"), None);
        assert_eq!(
            Pattern::parse("/chat/").unwrap().matches("/chat"),
            Some(vec![])
        );
    }

    #[test]
    fn typed_segments() {
        let p = Pattern::parse("/x/<a:int>/<b:float>/<c:uuid>").unwrap();
        let m = p
            .matches("/x/-7/1.5/67e55044-10b1-426f-9247-bb680e5fe0c8")
            .unwrap();
        assert_eq!(m[0], ("a".into(), "-7".into()));
        assert!(p
            .matches("/x/7/1/67e55044-10b1-426f-9247-bb680e5fe0c8")
            .is_none());
        assert!(p
            .matches("/x/7/1.0/67e55044-10b1-426f-9247-bb680e5fe0c")
            .is_none());
        assert!(p
            .matches("/x/99999999999999999999/1.0/67e55044-10b1-426f-9247-bb680e5fe0c8")
            .is_none());
    }

    #[test]
    fn percent_decoding() {
        let p = Pattern::parse("/room/<name>").unwrap();
        assert_eq!(p.matches("/room/caf%C3%A9").unwrap()[0].1, "café");
        assert!(p.matches("/room/%zz").is_none());
        assert!(p.matches("/room/%FF").is_none());
    }

    #[test]
    fn specificity() {
        let int = Pattern::parse("/item/<id:int>").unwrap();
        let s = Pattern::parse("/item/<name:str>").unwrap();
        assert_eq!(int.specificity_cmp(&s), Ordering::Less);
        assert_eq!(s.specificity_cmp(&int), Ordering::Greater);
        assert_eq!(int.specificity_cmp(&int), Ordering::Equal);
    }
}
