//! Route patterns in CheeseAPI's syntax: `/room/<name:str>/<id:int>`.
//!
//! A pattern is a list of `/`-separated segments; a segment is either literal
//! text or a whole `<name:type>` parameter (`<name>` alone means `str`). The
//! built-in types are `str`, `int`, `float` and `uuid`; any other type name is
//! a named pattern the app registers with [`App::pattern`](crate::App::pattern).
//! A value that does not fit its type makes the route not match (404).
//! Where two routes could match the same path, the more specific segment wins,
//! left to right: literal, then `uuid`, `float`, `int`, named patterns, `str`.
//! A trailing slash is ignored on both sides: `/chat` and `/chat/` are one route.

use std::fmt;

/// The type of a `<name:type>` segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamKind {
    /// `str`: any non-empty segment.
    Str,
    /// `int`: optional `-` and ASCII digits that fit an `i64`.
    Int,
    /// `float`: optional `-`, digits, a `.`, digits (`1.5`; `1` is an `int`).
    Float,
    /// `uuid`: the hyphenated form `8-4-4-4-12` of hex digits.
    Uuid,
    /// A named pattern registered on the app.
    Named(String),
}

impl ParamKind {
    fn from_name(name: &str) -> ParamKind {
        match name {
            "str" => ParamKind::Str,
            "int" => ParamKind::Int,
            "float" => ParamKind::Float,
            "uuid" => ParamKind::Uuid,
            other => ParamKind::Named(other.to_owned()),
        }
    }

    /// Higher is more specific; used to order routes of the same shape.
    fn rank(&self) -> u8 {
        match self {
            ParamKind::Uuid => 5,
            ParamKind::Float => 4,
            ParamKind::Int => 3,
            ParamKind::Named(_) => 2,
            ParamKind::Str => 1,
        }
    }

    /// Whether a decoded segment value fits a built-in type (named patterns
    /// are checked by the app).
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

/// One segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Literal text.
    Static(String),
    /// A `<name:type>` parameter.
    Param {
        /// The parameter's name.
        name: String,
        /// Its type.
        kind: ParamKind,
    },
}

/// A parsed route pattern.
///
/// ```
/// use cheese_api::route::Pattern;
///
/// let p = Pattern::parse("/room/<name:str>/<id:int>").unwrap();
/// let params = p.matches("/room/cheddar/42").unwrap();
/// assert_eq!(params, vec![("name".to_string(), "cheddar".to_string()), ("id".to_string(), "42".to_string())]);
/// assert!(p.matches("/room/cheddar/forty-two").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    segments: Vec<Segment>,
}

/// Why a pattern did not parse: a message and the byte range of the pattern
/// it is about (the macro turns it into a span inside the string literal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// What is wrong and how to write it.
    pub message: String,
    /// Byte range in the pattern.
    pub range: std::ops::Range<usize>,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (at bytes {}..{})",
            self.message, self.range.start, self.range.end
        )
    }
}

impl std::error::Error for PatternError {}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Pattern {
    /// Parses a pattern. The `#[websocket]` macro checks the same grammar at
    /// compile time, so a pattern from the attribute always parses.
    pub fn parse(source: &str) -> Result<Pattern, PatternError> {
        let err = |message: String, range: std::ops::Range<usize>| PatternError { message, range };
        if !source.starts_with('/') {
            return Err(err(
                format!("a route must start with `/`: write \"/{source}\""),
                // The first character, whole (it may take several bytes).
                0..source.chars().next().map_or(0, char::len_utf8),
            ));
        }
        let mut segments = Vec::new();
        let body = source.strip_suffix('/').unwrap_or(source);
        let mut offset = 1;
        if body.len() > 1 || (body.len() == 1 && body != "/") {
            for seg in body[1..].split('/') {
                let range = offset..offset + seg.len();
                offset += seg.len() + 1;
                if seg.is_empty() {
                    return Err(err(
                        "empty segment: remove the doubled `/`".into(),
                        range.start - 1..range.start + 1,
                    ));
                }
                if let Some(inner) = seg.strip_prefix('<') {
                    let Some(inner) = inner.strip_suffix('>') else {
                        return Err(err(
                            format!(
                                "unclosed parameter `{seg}`: a parameter is a whole segment `<name:type>`"
                            ),
                            range,
                        ));
                    };
                    let (name, kind) = inner.split_once(':').unwrap_or((inner, "str"));
                    if !is_ident(name) {
                        return Err(err(
                            format!("`{name}` is not a parameter name: use letters, digits and `_`, as in `<name:str>`"),
                            range,
                        ));
                    }
                    if !is_ident(kind) {
                        return Err(err(
                            format!("`{kind}` is not a type: use `str`, `int`, `float`, `uuid` or a named pattern"),
                            range,
                        ));
                    }
                    if segments
                        .iter()
                        .any(|s| matches!(s, Segment::Param { name: n, .. } if n == name))
                    {
                        return Err(err(
                            format!("parameter `{name}` appears twice: give each one its own name"),
                            range,
                        ));
                    }
                    segments.push(Segment::Param {
                        name: name.to_owned(),
                        kind: ParamKind::from_name(kind),
                    });
                } else if let Some(pos) = seg.find(['<', '>']) {
                    return Err(err(
                        "a parameter must be a whole segment: write `/<name:type>/`, with no text around it"
                            .into(),
                        range.start + pos..range.start + pos + 1,
                    ));
                } else {
                    segments.push(Segment::Static(seg.to_owned()));
                }
            }
        }
        Ok(Pattern {
            source: source.to_owned(),
            segments,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The names of the parameters, in order.
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param { name, .. } => Some(name.as_str()),
            Segment::Static(_) => None,
        })
    }

    /// The axum path this pattern is served under: parameters become
    /// positional captures so that routes that differ only in a type share it.
    pub(crate) fn axum_path(&self) -> String {
        let mut path = String::new();
        for (i, seg) in self.segments.iter().enumerate() {
            path.push('/');
            match seg {
                Segment::Static(s) => path.push_str(&s.replace('{', "{{").replace('}', "}}")),
                Segment::Param { .. } => path.push_str(&format!("{{p{i}}}")),
            }
        }
        if path.is_empty() {
            path.push('/');
        }
        path
    }

    /// Matches a request path (percent-encoded, as on the wire) against the
    /// built-in types. Returns the decoded parameter values by name.
    pub fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        self.matches_with(path, &|kind, value| kind.matches_builtin(value))
    }

    /// Like [`matches`](Self::matches), with a custom check for each typed segment.
    pub(crate) fn matches_with(
        &self,
        path: &str,
        check: &dyn Fn(&ParamKind, &str) -> bool,
    ) -> Option<Vec<(String, String)>> {
        let path = path.strip_prefix('/')?;
        let path = path.strip_suffix('/').unwrap_or(path);
        // "" is the root: no segments (split would yield one empty one).
        let mut parts = path.split('/').filter(|_| !path.is_empty());
        let mut params = Vec::new();
        for seg in &self.segments {
            let raw = parts.next()?;
            let value = percent_decode(raw)?;
            match seg {
                Segment::Static(s) => {
                    if *s != value {
                        return None;
                    }
                }
                Segment::Param { name, kind } => {
                    if !check(kind, &value) {
                        return None;
                    }
                    params.push((name.clone(), value));
                }
            }
        }
        parts.next().is_none().then_some(params)
    }

    /// Orders two patterns: `Less` means `self` is tried first.
    pub(crate) fn specificity_cmp(&self, other: &Pattern) -> std::cmp::Ordering {
        let key = |s: &Segment| match s {
            Segment::Static(_) => 6,
            Segment::Param { kind, .. } => kind.rank(),
        };
        let a = self.segments.iter().map(key);
        let b = other.segments.iter().map(key);
        b.cmp(a)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Decodes `%XX` escapes; `None` when an escape is malformed or the result is
/// not UTF-8.
pub(crate) fn percent_decode(raw: &str) -> Option<String> {
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
    fn errors_point_at_the_segment() {
        let e = Pattern::parse("/room/<id:int").unwrap_err();
        assert_eq!(e.range, 6..13);
        let e = Pattern::parse("/a//b").unwrap_err();
        assert_eq!(e.range, 2..4);
        let e = Pattern::parse("/a<b>").unwrap_err();
        assert_eq!(e.range, 2..3);
        assert!(Pattern::parse("room").is_err());
        assert!(Pattern::parse("/<a>/<a>").is_err());
        assert!(Pattern::parse("/<1a:int>").is_err());
    }

    #[test]
    fn specificity() {
        let int = Pattern::parse("/item/<id:int>").unwrap();
        let s = Pattern::parse("/item/<name:str>").unwrap();
        assert_eq!(int.specificity_cmp(&s), std::cmp::Ordering::Less);
        assert_eq!(int.axum_path(), s.axum_path());
    }
}
