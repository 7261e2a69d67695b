//! The route string: parsed with the grammar the runtime uses
//! (`cheese_api_route`), and its errors drawn inside the string: a sub-span
//! where the compiler has them (nightly), and on every compiler the route
//! written out with the bytes in question underlined.

use crate::model::{PathParam, Route};
use cheese_api_route::{Parsed, Segment};
use proc_macro2::Span;
use std::ops::Range;
use syn::LitStr;

/// Parses the route, pushing each of its errors onto `errors`. The
/// parameters that did parse are kept either way, so hooks can still be
/// checked against them.
pub fn parse(lit: LitStr, errors: &mut Vec<syn::Error>) -> Route {
    let parsed = Parsed::new(&lit.value());
    let ok = parsed.errors.is_empty();
    for e in &parsed.errors {
        errors.push(error(&lit, &e.ranges(), &e.message));
    }
    let params = parsed
        .segments
        .into_iter()
        .filter_map(|(segment, range)| match segment {
            Segment::Param { name, kind } => Some(PathParam { name, kind, range }),
            Segment::Static(_) => None,
        })
        .collect();
    Route { lit, params, ok }
}

/// An error about bytes `ranges` of the route: the message, then the route
/// with those bytes underlined, at a span inside the literal when there is
/// one range and the compiler supports sub-spans (else the whole literal).
pub fn error(lit: &LitStr, ranges: &[Range<usize>], message: &str) -> syn::Error {
    let span = match ranges {
        [one] => sub_span(lit, one.clone()),
        _ => lit.span(),
    };
    syn::Error::new(span, format!("{message}\n{}", underlined(lit, ranges)))
}

/// `  route: "..."` and a line of carets under `ranges`.
pub fn underlined(lit: &LitStr, ranges: &[Range<usize>]) -> String {
    let value = lit.value();
    let (route, _) = drawn(&value);
    let mut carets = String::new();
    let mut column = 0;
    for range in ranges {
        let (_, start) = drawn(&value[..range.start]);
        let (_, width) = drawn(&value[range.clone()]);
        carets.push_str(&" ".repeat(start.saturating_sub(column)));
        carets.push_str(&"^".repeat(width.max(1)));
        column = start + width.max(1);
    }
    format!("  route: \"{route}\"\n          {carets}")
}

/// A span for bytes `range` of the route's text: exact where the compiler
/// supports sub-spans (nightly), else the whole literal.
fn sub_span(lit: &LitStr, range: Range<usize>) -> Span {
    let token = lit.token();
    let text = token.to_string();
    let plain = text.starts_with('"') && !text.contains('\\');
    let exact = if plain {
        token.subspan(range.start + 1..range.end + 1)
    } else {
        None
    };
    exact.unwrap_or_else(|| lit.span())
}

/// How many terminal columns `c` takes: 2 for East Asian wide characters
/// and emoji, 0 for combining marks, else 1 (what rustc's own renderer does,
/// closely enough for a route).
fn char_width(c: char) -> usize {
    match c as u32 {
        0x0300..=0x036F | 0x200B..=0x200F | 0xFE00..=0xFE0F => 0,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

/// `s` as it is drawn in a message (control characters escaped, as in the
/// source) and its width in columns.
pub fn drawn(s: &str) -> (String, usize) {
    let mut out = String::new();
    let mut width = 0;
    for c in s.chars() {
        if c.is_control() || c == '"' || c == '\\' {
            let escaped: String = c.escape_default().collect();
            width += escaped.len();
            out.push_str(&escaped);
        } else {
            width += char_width(c);
            out.push(c);
        }
    }
    (out, width)
}
