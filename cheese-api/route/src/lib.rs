//! The route grammar of cheese-api, written once: the `#[websocket("...")]`
//! macro checks a route with it at compile time, and the runtime parses the
//! same string with it when the app starts, so the two never disagree.
//!
//! # The grammar
//!
//! A pattern starts with `/` and is a list of `/`-separated segments; a
//! segment is either literal text or a whole `<name:type>` parameter:
//!
//! - `<name>` alone means `<name:str>`; a name is ASCII letters, digits and
//!   `_`, not starting with a digit, and appears once per pattern;
//! - the built-in types are `str` (any non-empty segment), `int` (an `i64`,
//!   optional `-`), `float` (`1.5`, `-0.25`: digits, a `.`, digits) and
//!   `uuid` (hyphenated hex, `8-4-4-4-12`); any other type name is a named
//!   pattern the app registers (`App::pattern` in cheese-api);
//! - a trailing slash is ignored on both sides: `/chat` and `/chat/` are one
//!   route, and both match the paths `/chat` and `/chat/`;
//! - a request path is matched segment by segment after percent-decoding
//!   (`caf%C3%A9` is `café`); a value that does not fit its type makes the
//!   route not match;
//! - where two routes of the same length could match one path, the more
//!   specific segment wins, left to right: literal, then `uuid`, `float`,
//!   `int`, named patterns, `str` ([`Pattern::specificity_cmp`]).
//!
//! ```
//! use cheese_api_route::{ParamKind, Pattern, Segment};
//!
//! let p = Pattern::parse("/room/<name>/<id:int>/").unwrap();
//! assert_eq!(p.segments()[2], Segment::Param { name: "id".into(), kind: ParamKind::Int });
//! assert_eq!(p.matches("/room/cheddar/42"), Some(vec![
//!     ("name".to_string(), "cheddar".to_string()),
//!     ("id".to_string(), "42".to_string()),
//! ]));
//! assert_eq!(p.matches("/room/cheddar/forty-two"), None);
//! ```
//!
//! # Errors
//!
//! The parser reports every error of a pattern, not just the first, each
//! with a message that says how to write it and the byte ranges it is about
//! ([`PatternError`]); the macro underlines those bytes inside the string
//! literal.
//!
//! ```
//! use cheese_api_route::Pattern;
//!
//! let errors = Pattern::parse_all("/a<b>c/<id>/<id:int>").unwrap_err();
//! assert_eq!(errors[0].message, "a parameter must be a whole segment, with no text around it: write \"/a/<b>/c/<id>/<id:int>\"");
//! assert_eq!(errors[0].range, 1..6);
//! assert_eq!(errors[1].message, "parameter `id` appears twice: give each one its own name");
//! assert_eq!((errors[1].range.clone(), errors[1].also.clone()), (12..20, Some(7..11)));
//! ```

mod matching;
mod parse;

pub use matching::percent_decode;
pub use parse::Parsed;

use std::fmt;
use std::ops::Range;

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
    /// The kind a type name stands for: a built-in, or a named pattern.
    ///
    /// ```
    /// use cheese_api_route::ParamKind;
    ///
    /// assert_eq!(ParamKind::from_name("int"), ParamKind::Int);
    /// assert_eq!(ParamKind::from_name("slug"), ParamKind::Named("slug".into()));
    /// ```
    pub fn from_name(name: &str) -> ParamKind {
        match name {
            "str" => ParamKind::Str,
            "int" => ParamKind::Int,
            "float" => ParamKind::Float,
            "uuid" => ParamKind::Uuid,
            other => ParamKind::Named(other.to_owned()),
        }
    }

    /// The type name as written in a pattern.
    ///
    /// ```
    /// use cheese_api_route::ParamKind;
    ///
    /// assert_eq!(ParamKind::Float.name(), "float");
    /// assert_eq!(ParamKind::Named("slug".into()).name(), "slug");
    /// ```
    pub fn name(&self) -> &str {
        match self {
            ParamKind::Str => "str",
            ParamKind::Int => "int",
            ParamKind::Float => "float",
            ParamKind::Uuid => "uuid",
            ParamKind::Named(name) => name,
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
/// use cheese_api_route::Pattern;
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

/// Why a pattern did not parse: what is wrong and how to write it, and the
/// bytes of the pattern it is about (the macro turns them into a span
/// inside the string literal and underlines them).
///
/// ```
/// use cheese_api_route::Pattern;
///
/// let e = Pattern::parse("/room/<id:int").unwrap_err();
/// assert_eq!(e.range, 6..13);
/// assert_eq!(e.to_string(), "unclosed parameter `<id:int`: write `<id:int>`; a parameter is a whole segment `<name:type>` (at bytes 6..13)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// What is wrong and how to write it.
    pub message: String,
    /// The bytes of the pattern the error is about.
    pub range: Range<usize>,
    /// Other bytes it is about, before `range`: where a parameter given twice
    /// is first given. `None` for other errors.
    pub also: Option<Range<usize>>,
}

impl PatternError {
    /// Every range the error is about, in order in the pattern.
    ///
    /// ```
    /// use cheese_api_route::Pattern;
    ///
    /// let e = Pattern::parse("/<id>/<id:int>").unwrap_err();
    /// assert_eq!(e.ranges(), vec![1..5, 6..14]);
    /// ```
    pub fn ranges(&self) -> Vec<Range<usize>> {
        let mut all: Vec<_> = self.also.iter().cloned().collect();
        all.push(self.range.clone());
        all.sort_by_key(|r| r.start);
        all
    }
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

impl Pattern {
    /// Parses a pattern; the error is the first one in the pattern (see
    /// [`parse_all`](Self::parse_all) for all of them). The `#[websocket]`
    /// macro checks the same grammar at compile time, so a pattern from the
    /// attribute always parses.
    ///
    /// ```
    /// use cheese_api_route::Pattern;
    ///
    /// assert!(Pattern::parse("/chat/<room>").is_ok());
    /// assert_eq!(Pattern::parse("chat").unwrap_err().message, "a route must start with `/`: write \"/chat\"");
    /// ```
    pub fn parse(source: &str) -> Result<Pattern, PatternError> {
        Self::parse_all(source).map_err(|mut errors| errors.swap_remove(0))
    }

    /// Parses a pattern, reporting every error, in order in the pattern.
    ///
    /// ```
    /// use cheese_api_route::Pattern;
    ///
    /// let errors = Pattern::parse_all("room//<9>").unwrap_err();
    /// let ranges: Vec<_> = errors.iter().map(|e| e.range.clone()).collect();
    /// assert_eq!(ranges, vec![0..1, 4..6, 7..8]);
    /// ```
    pub fn parse_all(source: &str) -> Result<Pattern, Vec<PatternError>> {
        let parsed = Parsed::new(source);
        if !parsed.errors.is_empty() {
            return Err(parsed.errors);
        }
        Ok(Pattern {
            source: source.to_owned(),
            segments: parsed.segments.into_iter().map(|(s, _)| s).collect(),
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
    ///
    /// ```
    /// use cheese_api_route::Pattern;
    ///
    /// let p = Pattern::parse("/u/<name>/x/<id:int>").unwrap();
    /// assert_eq!(p.param_names().collect::<Vec<_>>(), ["name", "id"]);
    /// ```
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param { name, .. } => Some(name.as_str()),
            Segment::Static(_) => None,
        })
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}
