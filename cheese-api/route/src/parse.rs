//! The parser: a pattern's segments, where each stands, and every error,
//! each with a message that says how to write the pattern instead.

use crate::{ParamKind, PatternError, Segment};
use std::ops::Range;

const EMPTY_SEGMENT: &str = "empty segment: remove the doubled `/`";

/// A pattern read whole, errors and all: the segments that parsed with the
/// bytes each spans, and every error in order. [`Pattern::parse_all`]
/// builds on it; the `#[websocket]` macro uses it directly, since it still
/// checks hook parameters against the parameters that did parse.
///
/// [`Pattern::parse_all`]: crate::Pattern::parse_all
///
/// ```
/// use cheese_api_route::{Parsed, ParamKind, Segment};
///
/// let parsed = Parsed::new("/room/<name>/<name>");
/// assert_eq!(parsed.segments.len(), 2);
/// assert_eq!(parsed.segments[1], (Segment::Param { name: "name".into(), kind: ParamKind::Str }, 6..12));
/// assert_eq!(parsed.errors.len(), 1);
/// assert_eq!(parsed.errors[0].also, Some(6..12));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The segments that parsed, with the bytes each spans in the pattern
    /// (`<name:type>` with its brackets). A segment with an error is left out.
    pub segments: Vec<(Segment, Range<usize>)>,
    /// Every error, in order in the pattern; empty when the pattern is valid.
    pub errors: Vec<PatternError>,
}

impl Parsed {
    /// Parses `source`.
    pub fn new(source: &str) -> Parsed {
        let mut parsed = Parsed {
            segments: Vec::new(),
            errors: Vec::new(),
        };
        let (mut offset, rest) = match source.strip_prefix('/') {
            Some(rest) => (1, rest),
            None => {
                // The first character, whole (it may take several bytes);
                // the rest is still read, for its own errors.
                let first = source.chars().next().map_or(0, char::len_utf8);
                let fixed = format!("/{source}");
                parsed.error(
                    format!("a route must start with `/`: write {fixed:?}"),
                    0..first,
                );
                (0, source)
            }
        };
        // One trailing `/` is ignored: "/" alone is the root.
        let body = rest.strip_suffix('/').unwrap_or(rest);
        if body.is_empty() {
            return parsed;
        }
        for seg in body.split('/') {
            let range = offset..offset + seg.len();
            offset = range.end + 1;
            parsed.segment(source, seg, range);
        }
        parsed
    }

    fn error(&mut self, message: String, range: Range<usize>) {
        self.errors.push(PatternError {
            message,
            range,
            also: None,
        });
    }

    /// One `/`-separated segment at `range` of `source`.
    fn segment(&mut self, source: &str, seg: &str, range: Range<usize>) {
        if seg.is_empty() {
            return self.empty(range.start);
        }
        if let Some(inner) = seg.strip_prefix('<').and_then(|s| s.strip_suffix('>')) {
            return self.param(inner, range);
        }
        if seg.starts_with('<') && !seg.contains('>') {
            let message = format!(
                "unclosed parameter `{seg}`: write `{seg}>`; a parameter is a whole segment `<name:type>`"
            );
            return self.error(message, range);
        }
        match (seg.find('<'), seg.rfind('>')) {
            (None, None) => self.segments.push((Segment::Static(seg.to_owned()), range)),
            (Some(open), Some(close)) if open < close => {
                // `a<b>c`: the parameter split out into its own segment.
                let parts = [&seg[..open], &seg[open..=close], &seg[close + 1..]];
                let split: Vec<&str> = parts.into_iter().filter(|p| !p.is_empty()).collect();
                let fixed = format!(
                    "{}{}{}",
                    &source[..range.start],
                    split.join("/"),
                    &source[range.end..]
                );
                let message = format!(
                    "a parameter must be a whole segment, with no text around it: write {fixed:?}"
                );
                self.error(message, range);
            }
            (open, close) => {
                let at = open.into_iter().chain(close).min().unwrap_or(0);
                let c = &seg[at..at + 1];
                let message = format!(
                    "a stray `{c}`: a parameter is a whole segment `/<name:type>/`, and literal text cannot hold `<` or `>`"
                );
                self.error(message, range.start + at..range.start + at + 1);
            }
        }
    }

    /// An empty segment just after `at`: its two slashes, or the run of
    /// slashes it continues.
    fn empty(&mut self, at: usize) {
        let slashes = at - 1..at + 1;
        match self.errors.last_mut() {
            Some(last) if last.message == EMPTY_SEGMENT && last.range.end == at => {
                last.range.end = slashes.end;
            }
            _ => self.error(EMPTY_SEGMENT.to_owned(), slashes),
        }
    }

    /// `<inner>` at `range`.
    fn param(&mut self, inner: &str, range: Range<usize>) {
        let (name, kind) = inner.split_once(':').unwrap_or((inner, "str"));
        let name_at = range.start + 1..range.start + 1 + name.len();
        let colon = name_at.end..name_at.end + 1;
        let kind_at = colon.end..range.end - 1;
        let mut ok = true;
        if name.is_empty() {
            ok = false;
            self.error(
                "a parameter needs a name: write `<name:type>`, as in `<id:int>`".to_owned(),
                range.clone(),
            );
        } else if !is_ident(name) {
            ok = false;
            self.error(
                format!(
                    "`{name}` is not a parameter name: use ASCII letters, digits and `_`, \
                     not starting with a digit, as in `<name:str>`"
                ),
                name_at,
            );
        }
        if kind.is_empty() {
            ok = false;
            // On the `:`, after any error in the name.
            self.error(
                format!("`<{inner}>` has no type after `:`: write `<{name}:int>`, or `<{name}>` for `str`"),
                colon,
            );
        } else if !is_ident(kind) {
            ok = false;
            self.error(
                format!(
                    "`{kind}` is not a parameter type: use `str`, `int`, `float`, `uuid` \
                     or the name of a pattern added with `App::pattern`"
                ),
                kind_at,
            );
        }
        if ok {
            self.push_param(name, kind, range);
        }
    }

    /// A well-formed `<name:kind>`, unless its name is taken.
    fn push_param(&mut self, name: &str, kind: &str, range: Range<usize>) {
        let first = self.segments.iter().find_map(|(s, at)| match s {
            Segment::Param { name: n, .. } if n == name => Some(at.clone()),
            _ => None,
        });
        match first {
            Some(first) => self.errors.push(PatternError {
                message: format!("parameter `{name}` appears twice: give each one its own name"),
                range,
                also: Some(first),
            }),
            None => self.segments.push((
                Segment::Param {
                    name: name.to_owned(),
                    kind: ParamKind::from_name(kind),
                },
                range,
            )),
        }
    }
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Pattern;

    fn errors(source: &str) -> Vec<(Range<usize>, String)> {
        Parsed::new(source)
            .errors
            .into_iter()
            .map(|e| (e.range, e.message))
            .collect()
    }

    #[test]
    fn errors_point_at_the_segment() {
        assert_eq!(Pattern::parse("/room/<id:int").unwrap_err().range, 6..13);
        assert_eq!(Pattern::parse("/a//b").unwrap_err().range, 2..4);
        assert_eq!(Pattern::parse("/a<b>").unwrap_err().range, 1..5);
        assert!(Pattern::parse("room").is_err());
        assert!(Pattern::parse("/<a>/<a>").is_err());
        assert!(Pattern::parse("/<1a:int>").is_err());
    }

    #[test]
    fn every_error_is_reported() {
        let all = errors("room//<9:in-t>/a<b>c/<>/x>/<id>/<id>");
        let ranges: Vec<_> = all.iter().map(|(r, _)| r.clone()).collect();
        assert_eq!(
            ranges,
            vec![0..1, 4..6, 7..8, 9..13, 15..20, 21..23, 25..26, 32..36]
        );
        assert_eq!(
            all[4].1,
            "a parameter must be a whole segment, with no text around it: \
             write \"room//<9:in-t>/a/<b>/c/<>/x>/<id>/<id>\""
        );
        assert_eq!(
            all[5].1,
            "a parameter needs a name: write `<name:type>`, as in `<id:int>`"
        );
        assert!(all[6].1.starts_with("a stray `>`"), "{}", all[6].1);
    }

    #[test]
    fn a_duplicate_points_at_both() {
        let e = Pattern::parse("/<id:int>/x/<id:str>").unwrap_err();
        assert_eq!((e.range, e.also), (12..20, Some(1..9)));
    }

    #[test]
    fn a_run_of_slashes_is_one_error() {
        assert_eq!(errors("/a///b"), vec![(2..5, EMPTY_SEGMENT.to_owned())]);
        assert_eq!(errors("/a//b//c").len(), 2);
    }

    #[test]
    fn a_missing_type_is_named() {
        let e = Pattern::parse("/<id:>").unwrap_err();
        assert_eq!(e.range, 4..5);
        assert_eq!(
            e.message,
            "`<id:>` has no type after `:`: write `<id:int>`, or `<id>` for `str`"
        );
    }

    #[test]
    fn segments_that_parse_are_kept() {
        let parsed = Parsed::new("chat/<id:int>//<bad name>");
        assert_eq!(
            parsed.segments,
            vec![
                (Segment::Static("chat".into()), 0..4),
                (
                    Segment::Param {
                        name: "id".into(),
                        kind: ParamKind::Int
                    },
                    5..13
                ),
            ]
        );
        assert_eq!(parsed.errors.len(), 3);
    }

    #[test]
    fn suggestions_quote_the_route_as_rust_does() {
        let e = Pattern::parse("a\t\"b").unwrap_err();
        assert_eq!(
            e.message,
            "a route must start with `/`: write \"/a\\t\\\"b\""
        );
    }
}
