//! The route string, checked at compile time with the grammar of the
//! runtime's `cheese_api::route::Pattern::parse` (same rules, same messages),
//! so a route that compiles always parses when the app starts.

use proc_macro2::Span;
use syn::LitStr;

/// A `<name:type>` of the route and where it stands in the string.
pub struct PathParam {
    pub name: String,
    pub span: Span,
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A span for bytes `range` of the route's text: exact where the compiler
/// supports sub-spans (nightly), else the whole literal.
fn sub_span(lit: &LitStr, range: std::ops::Range<usize>) -> Span {
    let token = lit.token();
    let plain = token.to_string().starts_with('"') && !token.to_string().contains('\\');
    let exact = if plain {
        token.subspan(range.start + 1..range.end + 1)
    } else {
        None
    };
    exact.unwrap_or_else(|| lit.span())
}

/// An error at `range` of the route, with the route drawn and the bytes
/// underlined, so the message points inside the string even on stable Rust.
fn error(lit: &LitStr, range: std::ops::Range<usize>, message: String) -> syn::Error {
    let value = lit.value();
    let width = value[range.clone()].chars().count().max(1);
    let pad = value[..range.start].chars().count();
    let drawn = format!(
        "{message}\n  route: \"{value}\"\n          {}{}",
        " ".repeat(pad),
        "^".repeat(width)
    );
    syn::Error::new(sub_span(lit, range), drawn)
}

/// Parses the route; returns its parameters or every error found.
pub fn parse(lit: &LitStr) -> Result<Vec<PathParam>, syn::Error> {
    let source = lit.value();
    if !source.starts_with('/') {
        return Err(error(
            lit,
            0..source.len().min(1),
            format!("a route must start with `/`: write \"/{source}\""),
        ));
    }
    let mut params: Vec<PathParam> = Vec::new();
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
                    "empty segment: remove the doubled `/`".into(),
                ));
            } else if let Some(inner) = seg.strip_prefix('<') {
                let Some(inner) = inner.strip_suffix('>') else {
                    push(error(
                        lit,
                        range,
                        format!("unclosed parameter `{seg}`: a parameter is a whole segment `<name:type>`"),
                    ));
                    continue;
                };
                let (name, kind) = inner.split_once(':').unwrap_or((inner, "str"));
                if !is_ident(name) {
                    push(error(
                        lit,
                        range,
                        format!("`{name}` is not a parameter name: use letters, digits and `_`, as in `<name:str>`"),
                    ));
                } else if !is_ident(kind) {
                    push(error(
                        lit,
                        range,
                        format!("`{kind}` is not a type: use `str`, `int`, `float`, `uuid` or a named pattern"),
                    ));
                } else if params.iter().any(|p| p.name == name) {
                    push(error(
                        lit,
                        range,
                        format!("parameter `{name}` appears twice: give each one its own name"),
                    ));
                } else {
                    params.push(PathParam {
                        name: name.to_owned(),
                        span: sub_span(lit, range),
                    });
                }
            } else if let Some(pos) = seg.find(['<', '>']) {
                push(error(
                    lit,
                    range.start + pos..range.start + pos + 1,
                    "a parameter must be a whole segment: write `/<name:type>/`, with no text around it".into(),
                ));
            }
        }
    }
    match errors {
        Some(e) => Err(e),
        None => Ok(params),
    }
}
