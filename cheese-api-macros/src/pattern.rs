//! The route string, checked at compile time with the grammar of the
//! runtime's `cheese_api::route::Pattern::parse` (same rules), so a route
//! that compiles always parses when the app starts.

use proc_macro2::Span;
use std::ops::Range;
use syn::LitStr;

/// A `<name:type>` of the route and where it stands in the string.
pub struct PathParam {
    pub name: String,
    /// The `type` of `<name:type>` (`str` when omitted).
    pub kind: String,
    /// The bytes of `<name:type>` in the route's value.
    pub range: Range<usize>,
}

impl PathParam {
    /// The Rust type a hook parameter for this segment would usually have.
    pub fn rust_type(&self) -> &'static str {
        match self.kind.as_str() {
            "int" => "i64",
            "float" => "f64",
            "uuid" => "Uuid",
            _ => "String",
        }
    }
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
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

/// An error at `ranges` of the route, with the route drawn and those bytes
/// underlined, so the message points inside the string even on stable Rust
/// (where the span can only be the whole literal).
pub fn error(lit: &LitStr, range: Range<usize>, message: &str) -> syn::Error {
    error_at(lit, std::slice::from_ref(&range), message)
}

/// [`error`] with several places underlined.
fn error_at(lit: &LitStr, ranges: &[Range<usize>], message: &str) -> syn::Error {
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
    let text = format!("{message}\n  route: \"{route}\"\n          {carets}");
    let span = match ranges {
        [one] => sub_span(lit, one.clone()),
        _ => lit.span(),
    };
    syn::Error::new(span, text)
}

/// The route with bytes `range` replaced by `with`, for a suggestion.
fn replaced(source: &str, range: Range<usize>, with: &str) -> String {
    format!("{}{with}{}", &source[..range.start], &source[range.end..])
}

/// Parses the route: its parameters, and every error found (the parameters
/// that did parse are returned either way, so later checks can still use them).
pub fn parse(lit: &LitStr) -> (Vec<PathParam>, Option<syn::Error>) {
    let source = lit.value();
    let mut params: Vec<PathParam> = Vec::new();
    if !source.starts_with('/') {
        let e = error(
            lit,
            0..source.chars().next().map_or(0, char::len_utf8),
            &format!(
                "a route must start with `/`: write \"/{}\"",
                drawn(&source).0
            ),
        );
        return (params, Some(e));
    }
    let mut errors: Option<syn::Error> = None;
    let mut push = |e: syn::Error| match errors.as_mut() {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    let body = source.strip_suffix('/').unwrap_or(&source);
    let mut offset = 1;
    if body.len() > 1 {
        for seg in body[1..].split('/') {
            let range = offset..offset + seg.len();
            offset += seg.len() + 1;
            if seg.is_empty() {
                push(error(
                    lit,
                    range.start - 1..range.start + 1,
                    "empty segment: remove the doubled `/`",
                ));
            } else if seg.starts_with('<') && !seg.contains('>') {
                push(error(
                    lit,
                    range,
                    &format!(
                        "unclosed parameter `{seg}`: write `{seg}>`; a parameter is a whole segment `<name:type>`"
                    ),
                ));
            } else if let Some(inner) = seg.strip_prefix('<').and_then(|s| s.strip_suffix('>')) {
                let (name, kind) = inner.split_once(':').unwrap_or((inner, "str"));
                let name_at = range.start + 1..range.start + 1 + name.len();
                let kind_at = name_at.end + 1..range.end - 1;
                if name.is_empty() {
                    push(error(
                        lit,
                        range,
                        "a parameter needs a name: write `<name:type>`, as in `<id:int>`",
                    ));
                } else if !is_ident(name) {
                    push(error(
                        lit,
                        name_at,
                        &format!(
                            "`{name}` is not a parameter name: use letters, digits and `_`, \
                             not starting with a digit, as in `<name:str>`"
                        ),
                    ));
                } else if !is_ident(kind) {
                    push(error(
                        lit,
                        kind_at,
                        &format!(
                            "`{kind}` is not a parameter type: use `str`, `int`, `float`, `uuid` \
                             or the name of a pattern added with `App::pattern`"
                        ),
                    ));
                } else if let Some(first) = params.iter().find(|p| p.name == name) {
                    push(error_at(
                        lit,
                        &[first.range.clone(), range],
                        &format!("parameter `{name}` appears twice: give each one its own name"),
                    ));
                } else {
                    params.push(PathParam {
                        name: name.to_owned(),
                        kind: kind.to_owned(),
                        range,
                    });
                }
            } else {
                let open = seg.find('<');
                let close = seg.rfind('>');
                let message = match (open, close) {
                    (Some(l), Some(r)) if l < r => {
                        let parts = [&seg[..l], &seg[l..=r], &seg[r + 1..]];
                        let split: Vec<&str> =
                            parts.into_iter().filter(|p| !p.is_empty()).collect();
                        format!(
                            "a parameter must be a whole segment, with no text around it: write \"{}\"",
                            drawn(&replaced(&source, range.clone(), &split.join("/"))).0
                        )
                    }
                    (None, None) => continue,
                    _ => "a stray `<` or `>`: a parameter is a whole segment `/<name:type>/`"
                        .to_owned(),
                };
                push(error(lit, range, &message));
            }
        }
    }
    (params, errors)
}
