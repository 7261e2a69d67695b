//! The impl block as a typed model: which hooks it has and how each
//! parameter is bound. Every misuse is collected as an error on the token
//! that is wrong, with a message that says how to write it.

use crate::limits::closest;
use crate::pattern::PathParam;
use proc_macro2::Span;
use syn::{spanned::Spanned, FnArg, ImplItem, ItemImpl, LitStr, Pat, ReturnType, Type};

pub const HOOKS: &[&str] = &[
    "handshake",
    "subprotocol",
    "connection",
    "message",
    "disconnection",
];

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    Handshake,
    Subprotocol,
    Connection,
    Message,
    Disconnection,
}

impl HookKind {
    fn from_name(name: &str) -> Option<HookKind> {
        Some(match name {
            "handshake" => HookKind::Handshake,
            "subprotocol" => HookKind::Subprotocol,
            "connection" => HookKind::Connection,
            "message" => HookKind::Message,
            "disconnection" => HookKind::Disconnection,
            _ => return None,
        })
    }
}

pub enum Binding {
    Request,
    Message,
    Path(String),
    Extractor,
}

pub struct Param {
    pub ident: syn::Ident,
    pub ty: Type,
    pub binding: Binding,
}

pub struct Hook {
    pub kind: HookKind,
    pub ident: syn::Ident,
    pub params: Vec<Param>,
    pub output: ReturnType,
}

/// Types that are values, never axum extractors: a parameter of such a type
/// that no name binds is a typo for a path name.
fn is_plain_value(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) => is_plain_value(&r.elem),
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().is_some_and(|s| {
            s.arguments.is_empty()
                && matches!(
                    s.ident.to_string().as_str(),
                    "i8" | "i16"
                        | "i32"
                        | "i64"
                        | "i128"
                        | "isize"
                        | "u8"
                        | "u16"
                        | "u32"
                        | "u64"
                        | "u128"
                        | "usize"
                        | "f32"
                        | "f64"
                        | "bool"
                        | "char"
                        | "str"
                        | "String"
                        | "Uuid"
                )
        }),
        _ => false,
    }
}

fn names_bound(kind: HookKind, path: &[PathParam]) -> String {
    let mut names = vec!["`request`".to_owned()];
    if kind == HookKind::Message {
        names.push("`message`".to_owned());
    }
    names.extend(path.iter().map(|p| format!("`{}`", p.name)));
    names.join(", ")
}

pub fn names_bound_by(hook: &Hook, path: &[PathParam]) -> String {
    names_bound(hook.kind, path)
}

/// Reads the hooks of `item`, pushing every misuse onto `errors`.
pub fn parse(
    item: &ItemImpl,
    route: &LitStr,
    path: &[PathParam],
    errors: &mut Vec<syn::Error>,
) -> Vec<Hook> {
    let err = |errors: &mut Vec<syn::Error>, span: Span, msg: String| {
        errors.push(syn::Error::new(span, msg))
    };
    if let Some((_, trait_path, _)) = &item.trait_ {
        err(
            errors,
            trait_path.span(),
            "#[websocket] goes on an inherent impl block: `impl MyWebsocket { ... }`".into(),
        );
    }
    if !item.generics.params.is_empty() {
        err(
            errors,
            item.generics.span(),
            "a #[websocket] impl block cannot be generic: one concrete type per route".into(),
        );
    }
    let mut hooks = Vec::new();
    for impl_item in &item.items {
        let ImplItem::Fn(f) = impl_item else { continue };
        let sig = &f.sig;
        let name = sig.ident.to_string();
        let Some(kind) = HookKind::from_name(&name) else {
            let hint = match closest(&name, HOOKS.iter().copied()) {
                Some(c) => format!("did you mean `{c}`? "),
                None => String::new(),
            };
            err(
                errors,
                sig.ident.span(),
                format!(
                    "unknown hook `{name}`: {hint}the hooks are `handshake`, `subprotocol`, `connection`, \
                     `message` and `disconnection`; put other methods in a separate impl block"
                ),
            );
            continue;
        };
        if sig.asyncness.is_none() {
            err(
                errors,
                sig.fn_token.span,
                format!("hook `{name}` must be async: write `async fn {name}`"),
            );
        }
        if !sig.generics.params.is_empty() {
            err(
                errors,
                sig.generics.span(),
                format!("hook `{name}` cannot be generic"),
            );
        }
        let mut inputs = sig.inputs.iter();
        match inputs.next() {
            Some(FnArg::Receiver(r))
                if r.reference.is_some() && r.mutability.is_some() && r.colon_token.is_none() => {}
            Some(FnArg::Receiver(r)) => err(
                errors,
                r.span(),
                format!("hook `{name}` must take `&mut self`, the connection's own instance"),
            ),
            _ => err(
                errors,
                sig.paren_token.span.join(),
                format!(
                    "hook `{name}` must take `&mut self` first: `async fn {name}(&mut self, ...)`"
                ),
            ),
        }
        let mut params = Vec::new();
        for input in sig.inputs.iter() {
            let FnArg::Typed(pt) = input else { continue };
            let Pat::Ident(pi) = &*pt.pat else {
                err(
                    errors,
                    pt.pat.span(),
                    "write a plain name here: parameters are bound by their name".into(),
                );
                continue;
            };
            let ident = pi.ident.clone();
            let pname = ident.to_string();
            let binding = if pname == "request" {
                Binding::Request
            } else if pname == "message" {
                if kind != HookKind::Message {
                    err(
                        errors,
                        ident.span(),
                        format!("`message` is a parameter of the `message` hook only; `{name}` cannot take it"),
                    );
                    continue;
                }
                Binding::Message
            } else if path.iter().any(|p| p.name == pname) {
                Binding::Path(pname.clone())
            } else if is_plain_value(&pt.ty) {
                let routes_names: Vec<String> = path.iter().map(|p| p.name.clone()).collect();
                let hint = match closest(&pname, routes_names.iter().map(String::as_str)) {
                    Some(c) => format!("; did you mean `{c}`?"),
                    None => String::new(),
                };
                err(
                    errors,
                    ident.span(),
                    format!(
                        "`{pname}` is not a name of the route{hint} the `{name}` hook binds {}",
                        names_bound(kind, path)
                    ),
                );
                err(
                    errors,
                    route.span(),
                    format!("the route has no `<{pname}>` segment"),
                );
                continue;
            } else {
                Binding::Extractor
            };
            params.push(Param {
                ident,
                ty: (*pt.ty).clone(),
                binding,
            });
        }
        hooks.push(Hook {
            kind,
            ident: sig.ident.clone(),
            params,
            output: sig.output.clone(),
        });
    }
    // A path name no hook can read is a mistake (Rocket's "unused parameter").
    let takes_request = hooks.iter().any(|h| {
        h.params
            .iter()
            .any(|p| matches!(p.binding, Binding::Request))
    });
    if !takes_request {
        for p in path {
            let used = hooks.iter().any(|h| {
                h.params
                    .iter()
                    .any(|q| matches!(&q.binding, Binding::Path(n) if *n == p.name))
            });
            if !used {
                errors.push(syn::Error::new(
                    p.span,
                    format!(
                        "route parameter `<{}>` is never used: bind it as a parameter `{}` of a hook, \
                         or take `request: &Request` and call `request.param(\"{}\")`",
                        p.name, p.name, p.name
                    ),
                ));
                let at = hooks
                    .first()
                    .map_or(item.self_ty.span(), |h| h.ident.span());
                errors.push(syn::Error::new(
                    at,
                    format!("expected a parameter named `{}` here", p.name),
                ));
            }
        }
    }
    hooks
}
