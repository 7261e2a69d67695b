//! The impl block as a typed model: which hooks it has and how each
//! parameter is bound. Every misuse is collected as an error on the token
//! that is wrong, with a message that says how to write it.

use crate::limits::closest;
use crate::pattern::{self, PathParam};
use proc_macro2::Span;
use quote::ToTokens;
use syn::{FnArg, ImplItem, ItemImpl, LitStr, Pat, ReturnType, Type};

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
    /// The parentheses of the signature, where a missing parameter goes.
    pub parens: Span,
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
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

/// Tokens as a person writes them: `Box<Self>`, not `Box < Self >`.
fn tidy(tokens: &impl ToTokens) -> String {
    let mut s = tokens.to_token_stream().to_string();
    for (from, to) in [
        (" < ", "<"),
        ("< ", "<"),
        (" <", "<"),
        (" >", ">"),
        ("& ", "&"),
        (" :: ", "::"),
        (" ,", ","),
        ("' ", "'"),
    ] {
        s = s.replace(from, to);
    }
    s
}

/// The route type that fits a Rust type, for a suggested `<name:type>`.
fn route_kind(ty: &Type) -> &'static str {
    let name = tidy(ty);
    match name.trim_start_matches('&') {
        "f32" | "f64" => "float",
        "Uuid" | "uuid::Uuid" => "uuid",
        "str" | "String" | "char" | "bool" => "str",
        _ => "int",
    }
}

/// Whether `ty` is `&mut Self`, with any lifetime.
fn is_mut_self_ref(ty: &Type) -> bool {
    matches!(ty, Type::Reference(r) if r.mutability.is_some()
        && matches!(&*r.elem, Type::Path(p) if p.qself.is_none() && p.path.is_ident("Self")))
}

pub fn names_bound_by(hook: &Hook, path: &[PathParam]) -> String {
    names_bound(hook.kind, path)
}

/// Reads the hooks of `item`, pushing every misuse onto `errors`. When the
/// route itself has errors (`route_ok` is false), names are not checked
/// against it, so one typo in the route is one error, not a cascade.
pub fn parse(
    item: &ItemImpl,
    route: &LitStr,
    path: &[PathParam],
    route_ok: bool,
    errors: &mut Vec<syn::Error>,
) -> Vec<Hook> {
    let err = |errors: &mut Vec<syn::Error>, span: Span, msg: String| {
        errors.push(syn::Error::new(span, msg))
    };
    if let Some((_, trait_path, _)) = &item.trait_ {
        errors.push(syn::Error::new_spanned(
            trait_path,
            "#[websocket] goes on an inherent impl block: `impl MyWebsocket { ... }`",
        ));
    }
    if !item.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &item.generics,
            "a #[websocket] impl block cannot be generic: one concrete type per route",
        ));
    }
    let mut hooks = Vec::new();
    // Route names offered as "did you mean" for a misspelt parameter: the
    // misspelling is the one error to fix, so they are not also "never used".
    let mut suggested: Vec<&str> = Vec::new();
    // A misnamed hook may be the one meant to take a route parameter.
    let mut unknown_hook = false;
    for impl_item in &item.items {
        let ImplItem::Fn(f) = impl_item else { continue };
        let sig = &f.sig;
        let name = sig.ident.to_string();
        let Some(kind) = HookKind::from_name(&name) else {
            unknown_hook = true;
            let hint = match closest(&name, HOOKS.iter().copied()) {
                Some(c) => format!(": did you mean `{c}`?"),
                None => String::new(),
            };
            err(
                errors,
                sig.ident.span(),
                format!(
                    "unknown hook `{name}`{hint}\n\
                     the hooks are `handshake`, `subprotocol`, `connection`, `message` and \
                     `disconnection`;\nput other methods in a separate `impl` block"
                ),
            );
            continue;
        };
        if sig.asyncness.is_none() {
            err(
                errors,
                sig.fn_token.span,
                format!("hook `{name}` must be an `async fn`: write `async fn {name}`"),
            );
        }
        // Lifetimes (`async fn f<'a>(&'a mut self)`) are harmless; types are not.
        if sig
            .generics
            .params
            .iter()
            .any(|g| !matches!(g, syn::GenericParam::Lifetime(_)))
        {
            errors.push(syn::Error::new_spanned(
                &sig.generics,
                format!("hook `{name}` cannot be generic: give each parameter a concrete type"),
            ));
        }
        match sig.inputs.first() {
            Some(FnArg::Receiver(r)) if is_mut_self_ref(&r.ty) => {}
            Some(FnArg::Receiver(r)) => {
                let written = match (&r.reference, &r.colon_token) {
                    (_, Some(_)) => format!("self: {}", tidy(&r.ty)),
                    (Some(_), None) => "&self".to_owned(),
                    (None, None) if r.mutability.is_some() => "mut self".to_owned(),
                    (None, None) => "self".to_owned(),
                };
                errors.push(syn::Error::new_spanned(
                    r,
                    format!(
                        "hook `{name}` must take `&mut self`, not `{written}`: \
                         write `async fn {name}(&mut self, ...)`"
                    ),
                ));
            }
            _ => err(
                errors,
                sig.paren_token.span.join(),
                format!(
                    "hook `{name}` must take `&mut self` first: write `async fn {name}(&mut self, ...)`"
                ),
            ),
        }
        let mut params = Vec::new();
        for input in sig.inputs.iter() {
            let FnArg::Typed(pt) = input else { continue };
            let Pat::Ident(pi) = &*pt.pat else {
                errors.push(syn::Error::new_spanned(
                    &pt.pat,
                    "write a plain name here, such as `request` or `message`: \
                     parameters are bound by their name",
                ));
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
                        format!(
                            "only the `message` hook takes `message`: remove it from `{name}`, and \
                             receive messages in `async fn message(&mut self, message: Message)`"
                        ),
                    );
                    continue;
                }
                Binding::Message
            } else if path.iter().any(|p| p.name == pname) {
                Binding::Path(pname.clone())
            } else if is_plain_value(&pt.ty) {
                if !route_ok {
                    continue;
                }
                let hint = closest(&pname, path.iter().map(|p| p.name.as_str()));
                let first = match hint {
                    Some(c) => format!("`{pname}` is not a name of the route: did you mean `{c}`?"),
                    None => format!("`{pname}` is not a name of the route"),
                };
                err(
                    errors,
                    ident.span(),
                    format!(
                        "{first}\nthe `{name}` hook binds {}; any other parameter must be an \
                         axum extractor, and `{}` is not one",
                        names_bound(kind, path),
                        tidy(&pt.ty)
                    ),
                );
                let second = match hint.and_then(|c| path.iter().find(|p| p.name == c)) {
                    Some(p) => {
                        suggested.push(&p.name);
                        pattern::error(
                            route,
                            p.range.clone(),
                            &format!("the route names this parameter `{}`, not `{pname}`", p.name),
                        )
                    }
                    None => syn::Error::new(
                        route.span(),
                        format!(
                            "the route has no `<{pname}>` segment: add one, as in \"{}/<{pname}:{}>\"",
                            pattern::drawn(route.value().trim_end_matches('/')).0,
                            route_kind(&pt.ty)
                        ),
                    ),
                };
                errors.push(second);
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
            parens: sig.paren_token.span.join(),
        });
    }
    // A path name no hook can read is a mistake (Rocket's "unused parameter").
    let takes_request = hooks.iter().any(|h| {
        h.params
            .iter()
            .any(|p| matches!(p.binding, Binding::Request))
    });
    if route_ok && !takes_request && !unknown_hook {
        for p in path {
            let used = hooks.iter().any(|h| {
                h.params
                    .iter()
                    .any(|q| matches!(&q.binding, Binding::Path(n) if *n == p.name))
            });
            if used || suggested.contains(&p.name.as_str()) {
                continue;
            }
            let (name, ty) = (&p.name, p.rust_type());
            errors.push(pattern::error(
                route,
                p.range.clone(),
                &format!(
                    "route parameter `<{name}>` is never used: bind it as a parameter `{name}` of a \
                     hook, or take `request: &Request` and call `request.param::<{ty}>(\"{name}\")`"
                ),
            ));
            errors.push(match hooks.first() {
                Some(h) => syn::Error::new(
                    h.parens,
                    format!(
                        "no hook takes `{name}`: add `{name}: {ty}` here, as in \
                         `async fn {}(&mut self, {name}: {ty})`",
                        h.ident
                    ),
                ),
                None => syn::Error::new_spanned(
                    &item.self_ty,
                    format!(
                        "no hook takes `{name}`: add one, as in \
                         `async fn connection(&mut self, {name}: {ty}) {{}}`"
                    ),
                ),
            });
        }
    }
    hooks
}
