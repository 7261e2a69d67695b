//! The attribute's limit keys: `max_size = 65536, ping_interval = None, ...`.
//!
//! Each key is checked on its own token (unknown, duplicate, impossible
//! value) and the result is emitted as a `cheese_api::Limits` constant with
//! every key not given left at `Limits::DEFAULT`.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Expr, Ident, Lit};

use crate::hint::did_you_mean;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Seconds, integer or float; `None` allowed.
    Timeout,
    /// Bytes or a count; `None` allowed.
    OptionalSize,
    /// Bytes; `None` not allowed.
    Size,
}

const KEYS: &[(&str, Kind)] = &[
    ("open_timeout", Kind::Timeout),
    ("ping_interval", Kind::Timeout),
    ("ping_timeout", Kind::Timeout),
    ("close_timeout", Kind::Timeout),
    ("max_size", Kind::OptionalSize),
    ("max_queue", Kind::OptionalSize),
    ("read_limit", Kind::Size),
    ("write_limit", Kind::Size),
];

enum Value {
    None,
    Nanos(u64),
    Size(u64),
}

/// The limits given in the attribute.
#[derive(Default)]
pub struct Limits {
    given: Vec<(Ident, Value)>,
}

fn key_list() -> String {
    KEYS.iter()
        .map(|(k, _)| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What `None` means for a timeout: the `websockets` library's meaning,
/// which for `close_timeout` is not "disabled" but 10 seconds.
fn none_means(name: &str) -> &'static str {
    match name {
        "close_timeout" => "`None` for 10 seconds (the default)",
        _ => "`None` to disable it",
    }
}

/// What a key takes, for messages: "a whole number of bytes, like ...".
fn expected(name: &str, kind: Kind) -> String {
    match (name, kind) {
        (_, Kind::Timeout) => format!("seconds, like `10` or `0.5`, or {}", none_means(name)),
        ("max_queue", _) => {
            "a whole number of messages, like `32`, or `None` for no limit".to_owned()
        }
        (_, Kind::OptionalSize) => {
            "a whole number of bytes, like `65536` or `1 << 16`, or `None` for no limit".to_owned()
        }
        (_, Kind::Size) => "a whole number of bytes, like `65536` or `1 << 16`".to_owned(),
    }
}

fn bad(expr: &Expr, message: String) -> syn::Error {
    syn::Error::new_spanned(expr, message)
}

/// Evaluates a constant integer expression: literals, `+ - * / <<` and parentheses.
fn eval_int(expr: &Expr, name: &str, kind: Kind) -> Result<u128, syn::Error> {
    match expr {
        Expr::Lit(l) => match &l.lit {
            Lit::Int(i) => i.base10_parse::<u128>().map_err(|_| {
                bad(
                    expr,
                    format!("`{name}` is too large: give {}", expected(name, kind)),
                )
            }),
            _ => Err(bad(
                expr,
                format!("`{name}` takes {}", expected(name, kind)),
            )),
        },
        Expr::Paren(p) => eval_int(&p.expr, name, kind),
        Expr::Group(g) => eval_int(&g.expr, name, kind),
        Expr::Unary(u) if matches!(u.op, syn::UnOp::Neg(_)) => Err(bad(
            expr,
            format!("`{name}` cannot be negative: give {}", expected(name, kind)),
        )),
        Expr::Binary(b) => eval_binary(b, expr, name, kind),
        _ => Err(bad(
            expr,
            format!(
                "`{name}` takes a literal, not a constant or a call: {}",
                expected(name, kind)
            ),
        )),
    }
}

/// `left op right` of [`eval_int`], with the error for an overflow, a
/// negative result or a division by zero.
fn eval_binary(
    b: &syn::ExprBinary,
    expr: &Expr,
    name: &str,
    kind: Kind,
) -> Result<u128, syn::Error> {
    use syn::BinOp;
    let (l, r) = (
        eval_int(&b.left, name, kind)?,
        eval_int(&b.right, name, kind)?,
    );
    let v = match b.op {
        BinOp::Add(_) => l.checked_add(r),
        BinOp::Sub(_) => l.checked_sub(r),
        BinOp::Mul(_) => l.checked_mul(r),
        BinOp::Div(_) => l.checked_div(r),
        BinOp::Shl(_) => u32::try_from(r)
            .ok()
            .and_then(|r| l.checked_shl(r).filter(|v| v >> r == l)),
        _ => {
            let message = format!("only `+ - * / <<` are allowed in `{name}`");
            return Err(syn::Error::new_spanned(b.op, message));
        }
    };
    v.ok_or_else(|| {
        let why = match b.op {
            BinOp::Sub(_) => "is negative",
            BinOp::Div(_) => "divides by zero",
            _ => "overflows",
        };
        bad(
            expr,
            format!("`{name}` {why} here: give {}", expected(name, kind)),
        )
    })
}

fn eval_seconds(expr: &Expr, name: &str) -> Result<f64, syn::Error> {
    match expr {
        Expr::Lit(l) => match &l.lit {
            Lit::Float(f) => f.base10_parse::<f64>(),
            Lit::Int(i) => i.base10_parse::<u64>().map(|v| v as f64),
            _ => Err(bad(
                expr,
                format!("`{name}` takes {}", expected(name, Kind::Timeout)),
            )),
        },
        Expr::Paren(p) => eval_seconds(&p.expr, name),
        Expr::Group(g) => eval_seconds(&g.expr, name),
        Expr::Unary(u) if matches!(u.op, syn::UnOp::Neg(_)) => Err(bad(
            expr,
            format!(
                "`{name}` cannot be negative: give {}",
                expected(name, Kind::Timeout)
            ),
        )),
        _ => Err(bad(
            expr,
            format!(
                "`{name}` takes a literal, not a constant or a call: {}",
                expected(name, Kind::Timeout)
            ),
        )),
    }
}

fn is_none(expr: &Expr) -> bool {
    matches!(expr, Expr::Path(p) if p.path.is_ident("None"))
}

/// The checked value of `name = expr`.
fn value_of(expr: &Expr, name: &str, kind: Kind) -> Result<Value, syn::Error> {
    match kind {
        _ if is_none(expr) && kind == Kind::Size => Err(bad(
            expr,
            format!(
                "`{name}` cannot be `None`: give {} (default {})",
                expected(name, kind),
                1 << 16
            ),
        )),
        _ if is_none(expr) => Ok(Value::None),
        Kind::Timeout => seconds(expr, name).map(Value::Nanos),
        Kind::Size | Kind::OptionalSize => size(expr, name, kind).map(Value::Size),
    }
}

/// A timeout in nanoseconds: more than zero, at most 1e9 seconds.
fn seconds(expr: &Expr, name: &str) -> Result<u64, syn::Error> {
    let secs = eval_seconds(expr, name)?;
    if !secs.is_finite() || secs <= 0.0 {
        let expected = expected(name, Kind::Timeout);
        let message = format!("`{name}` must be more than zero seconds: give {expected}");
        return Err(bad(expr, message));
    }
    if secs > 1e9 {
        let message = format!(
            "`{name}` is too long: give at most 1e9 seconds, or {}",
            none_means(name)
        );
        return Err(bad(expr, message));
    }
    Ok((secs * 1e9).round() as u64)
}

/// A size or a count: more than zero (`write_limit` may be zero), within
/// `usize`.
fn size(expr: &Expr, name: &str, kind: Kind) -> Result<u64, syn::Error> {
    let n = eval_int(expr, name, kind)?;
    if n == 0 && name != "write_limit" {
        let message = format!(
            "`{name}` must be more than zero: give {}",
            expected(name, kind)
        );
        return Err(bad(expr, message));
    }
    u64::try_from(n)
        .ok()
        .filter(|n| usize::try_from(*n).is_ok())
        .ok_or_else(|| {
            bad(
                expr,
                format!("`{name}` is too large: give {}", expected(name, kind)),
            )
        })
}

impl Limits {
    /// Checks and records `key = value`.
    pub fn add(&mut self, key: Ident, value: Expr) -> Result<(), syn::Error> {
        let name = key.to_string();
        let Some(&(_, kind)) = KEYS.iter().find(|(k, _)| *k == name) else {
            let hint = did_you_mean(&name, KEYS.iter().map(|(k, _)| *k));
            return Err(syn::Error::new(
                key.span(),
                format!(
                    "unknown limit `{name}`{hint}\nthe limits are {}",
                    key_list()
                ),
            ));
        };
        if self.given.iter().any(|(k, _)| *k == key) {
            return Err(syn::Error::new(
                key.span(),
                format!("`{name}` is given twice: keep one of them"),
            ));
        }
        let value = value_of(&value, &name, kind)?;
        self.given.push((key, value));
        Ok(())
    }

    /// `::cheese_api::Limits { .. }` with the given keys over the defaults;
    /// `krate` is the path of cheese-api.
    pub fn expand(&self, krate: &syn::Path) -> TokenStream {
        let fields = self.given.iter().map(|(key, value)| {
            let kind = KEYS.iter().find(|(k, _)| key == k).map(|(_, k)| *k);
            let value = match (value, kind) {
                (Value::None, _) => quote!(::core::option::Option::None),
                (Value::Nanos(n), _) => {
                    quote!(::core::option::Option::Some(#krate::__private::Duration::from_nanos(#n)))
                }
                (Value::Size(n), Some(Kind::Size)) => {
                    let n = *n as usize;
                    quote!(#n)
                }
                (Value::Size(n), _) => {
                    let n = *n as usize;
                    quote!(::core::option::Option::Some(#n))
                }
            };
            let key = Ident::new(&key.to_string(), Span::call_site());
            quote!(#key: #value,)
        });
        quote!(#krate::Limits { #(#fields)* ..#krate::Limits::DEFAULT })
    }
}
