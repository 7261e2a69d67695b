//! Tokens to the [model](crate::model): the attribute's arguments and the
//! impl block's hooks. Every mistake is pushed as an error on the token that
//! is wrong, with a message that says how to write it, and reading goes on:
//! each argument between commas and each hook is read on its own.

use crate::hint::{did_you_mean, tidy};
use crate::limits::Limits;
use crate::model::{Attribute, Binding, Handler, Hook, HookKind, Param, Route, Shape};
use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{quote, ToTokens};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, FnArg, Ident, ImplItem, ImplItemFn, Item, ItemImpl, LitStr, Pat, Token};

/// The attribute's arguments.
pub fn attribute(tokens: TokenStream, errors: &mut Vec<syn::Error>) -> Attribute {
    let mut attribute = Attribute {
        route: None,
        limits: Limits::default(),
        krate: syn::parse_quote!(::cheese_api),
    };
    let args = split_commas(tokens);
    if args.is_empty() {
        errors.push(syn::Error::new(
            Span::call_site(),
            "expected the route: #[websocket(\"/chat\")]",
        ));
    }
    let mut krate_given = None;
    for (i, (arg, comma)) in args.into_iter().enumerate() {
        if arg.is_empty() {
            let message = "expected a limit such as `max_size = 65536` before this `,`";
            errors.push(syn::Error::new(comma, message));
            continue;
        }
        if i == 0 && !is_key_value(&arg) {
            attribute.route = route(arg, errors);
            continue;
        }
        if i == 0 {
            errors.push(syn::Error::new_spanned(
                &arg,
                "expected the route first, as a string: #[websocket(\"/chat\", max_size = 65536)]",
            ));
        } else if let Ok(lit) = syn::parse2::<LitStr>(arg.clone()) {
            errors.push(syn::Error::new(
                lit.span(),
                "one route per impl block, given first: #[websocket(\"/chat\", max_size = 65536)]",
            ));
            continue;
        }
        match key_value.parse2(arg) {
            Ok((key, value)) if key == "crate" => {
                krate(&key, &value, &mut krate_given, &mut attribute.krate, errors)
            }
            Ok((key, value)) => errors.extend(attribute.limits.add(key, value).err()),
            Err(e) => errors.push(e),
        }
    }
    attribute
}

/// The arguments between top-level commas (commas inside brackets belong
/// to their group), each with the span of the comma after it; no empty one
/// after a trailing comma.
fn split_commas(tokens: TokenStream) -> Vec<(TokenStream, Span)> {
    let mut args = vec![(TokenStream::new(), Span::call_site())];
    for token in tokens {
        match &token {
            TokenTree::Punct(p) if p.as_char() == ',' => {
                args.last_mut().expect("never empty").1 = p.span();
                args.push((TokenStream::new(), Span::call_site()));
            }
            _ => args.last_mut().expect("never empty").0.extend([token]),
        }
    }
    if args.last().is_some_and(|(arg, _)| arg.is_empty()) {
        args.pop();
    }
    args
}

/// Whether `arg` starts `key =`.
fn is_key_value(arg: &TokenStream) -> bool {
    let mut tokens = arg.clone().into_iter();
    matches!(tokens.next(), Some(TokenTree::Ident(_)))
        && matches!(tokens.next(), Some(TokenTree::Punct(p)) if p.as_char() == '=')
}

/// `key = value`, with the error for a missing `=` or value.
fn key_value(input: ParseStream) -> syn::Result<(Ident, Expr)> {
    let key = input.call(Ident::parse_any)?;
    let Some(eq) = input.parse::<Option<Token![=]>>()? else {
        let (at, message) = match tidy(&input.fork().parse::<TokenStream>()?).as_str() {
            "" => (
                key.span(),
                format!("expected `=` and a value after `{key}`: write `{key} = ...`"),
            ),
            value => (
                input.span(),
                format!("expected `=` after `{key}`: write `{key} = {value}`"),
            ),
        };
        return Err(syn::Error::new(at, message));
    };
    if input.is_empty() {
        let message = format!("expected a value after `{key} =`");
        return Err(syn::Error::new(eq.span, message));
    }
    Ok((key, input.parse()?))
}

/// The first argument, which must be the route as a string.
fn route(arg: TokenStream, errors: &mut Vec<syn::Error>) -> Option<Route> {
    if let Ok(lit) = syn::parse2::<LitStr>(arg.clone()) {
        return Some(crate::route::parse(lit, errors));
    }
    let mut tokens = arg.clone().into_iter();
    let first = tokens.next();
    let error = match &first {
        Some(TokenTree::Literal(l)) if syn::parse2::<LitStr>(l.to_token_stream()).is_ok() => {
            let next = tokens.next().map_or_else(Span::call_site, |t| t.span());
            syn::Error::new(next, "expected `,` after the route")
        }
        Some(TokenTree::Literal(_)) => syn::Error::new_spanned(
            &arg,
            "the route is a string that starts with `/`: write #[websocket(\"/chat\")]",
        ),
        _ => {
            let written = tidy(&arg).replace(' ', "");
            let route = match written.starts_with('/') {
                true => written,
                false => format!("/{written}"),
            };
            let message = format!("the route is a string: write #[websocket({route:?})]");
            syn::Error::new_spanned(&arg, message)
        }
    };
    errors.push(error);
    None
}

/// `crate = "path"`: the path cheese-api is known by, for a renamed
/// dependency.
fn krate(
    key: &Ident,
    value: &Expr,
    given: &mut Option<Span>,
    krate: &mut syn::Path,
    errors: &mut Vec<syn::Error>,
) {
    if given.replace(key.span()).is_some() {
        errors.push(syn::Error::new(
            key.span(),
            "`crate` is given twice: keep one of them",
        ));
        return;
    }
    let path = match value {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) => s.parse::<syn::Path>().ok(),
        _ => None,
    };
    match path {
        Some(path) => *krate = path,
        None => errors.push(syn::Error::new_spanned(
            value,
            "`crate` takes the path cheese-api is known by, as a string: `crate = \"my_cheese\"`",
        )),
    }
}

/// The item under the attribute: an impl block, or an error that says where
/// the attribute goes.
pub fn handler(item: TokenStream, errors: &mut Vec<syn::Error>) -> Option<Handler> {
    match syn::parse2::<ItemImpl>(item.clone()) {
        Ok(item) => Some(impl_block(item, errors)),
        Err(_) => {
            errors.push(not_an_impl(item));
            None
        }
    }
}

fn not_an_impl(item: TokenStream) -> syn::Error {
    let on = |what: &str, keyword: &dyn ToTokens, ident: &Ident| {
        let message = format!(
            "#[websocket] goes on the impl block of a handler type, not on {what}: \
             write it above `impl {} {{ ... }}`",
            if what == "a function" {
                "MyWebsocket".to_owned()
            } else {
                ident.to_string()
            }
        );
        syn::Error::new_spanned(quote!(#keyword #ident), message)
    };
    match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(f)) => on("a function", &f.sig.fn_token, &f.sig.ident),
        Ok(Item::Struct(s)) => on("a struct", &s.struct_token, &s.ident),
        Ok(Item::Enum(e)) => on("an enum", &e.enum_token, &e.ident),
        Ok(Item::Trait(t)) => on("a trait", &t.trait_token, &t.ident),
        _ => syn::Error::new_spanned(
            item.into_iter().next(),
            "#[websocket] goes on the impl block of a handler type: `impl MyWebsocket { ... }`",
        ),
    }
}

fn impl_block(item: ItemImpl, errors: &mut Vec<syn::Error>) -> Handler {
    let shape = shape(&item, errors);
    let mut hooks: Vec<Hook> = Vec::new();
    let mut other_methods = false;
    // A trait impl's methods are the trait's: the one error is its shape.
    let methods = item.items.iter().filter_map(|i| match i {
        ImplItem::Fn(f) if shape != Shape::TraitImpl => Some(f),
        _ => None,
    });
    for f in methods {
        match hook(f, errors) {
            Some(mut h) => {
                // A second hook of one name: rustc reports the duplicate.
                h.complete &= !hooks.iter().any(|other| other.kind == h.kind);
                hooks.push(h);
            }
            None => other_methods = true,
        }
    }
    Handler {
        item,
        hooks,
        other_methods,
        shape,
    }
}

/// An inherent impl of one concrete type, or the error that says so.
fn shape(item: &ItemImpl, errors: &mut Vec<syn::Error>) -> Shape {
    if let Some((_, trait_path, _)) = &item.trait_ {
        let ty = tidy(&item.self_ty);
        let message = format!(
            "#[websocket] goes on an inherent impl block: write `impl {ty} {{ ... }}` \
             with the hooks, and keep `impl {} for {ty}` apart",
            tidy(trait_path)
        );
        errors.push(syn::Error::new_spanned(trait_path, message));
        return Shape::TraitImpl;
    }
    if !item.generics.params.is_empty() {
        let borrows = item
            .generics
            .params
            .iter()
            .all(|g| matches!(g, syn::GenericParam::Lifetime(_)));
        let message = match borrows {
            true => {
                "a #[websocket] type cannot borrow: it lives as long as its connection, \
                     so give it owned fields (`String`, not `&'a str`)"
            }
            false => "a #[websocket] impl block cannot be generic: one concrete type per route",
        };
        errors.push(syn::Error::new_spanned(&item.generics, message));
        return Shape::Generic;
    }
    Shape::Inherent
}

/// One method: a hook, or `None` (an error) for any other name.
fn hook(f: &ImplItemFn, errors: &mut Vec<syn::Error>) -> Option<Hook> {
    let sig = &f.sig;
    let name = sig.ident.to_string();
    let Some(kind) = HookKind::from_name(&name) else {
        errors.push(syn::Error::new(
            sig.ident.span(),
            format!(
                "unknown hook `{name}`{}\n\
                 the hooks are `handshake`, `subprotocol`, `connection`, `message` and \
                 `disconnection`;\nput other methods in a separate `impl` block",
                did_you_mean(&name, HookKind::NAMES.iter().copied())
            ),
        ));
        return None;
    };
    let before = errors.len();
    signature(sig, &name, errors);
    let params = sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(pt) => param(pt, errors),
            FnArg::Receiver(_) => None,
        })
        .collect();
    Some(Hook {
        kind,
        ident: sig.ident.clone(),
        params,
        output: sig.output.clone(),
        complete: errors.len() == before,
    })
}

/// `async`, no type parameters, `&mut self` first.
fn signature(sig: &syn::Signature, name: &str, errors: &mut Vec<syn::Error>) {
    if sig.asyncness.is_none() {
        errors.push(syn::Error::new(
            sig.fn_token.span,
            format!("hook `{name}` must be an `async fn`: write `async fn {name}`"),
        ));
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
    let message = |written: &str| {
        format!(
            "hook `{name}` must take `&mut self`{written}: write `async fn {name}(&mut self, ...)`"
        )
    };
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
                message(&format!(", not `{written}`")),
            ));
        }
        _ => errors.push(syn::Error::new(
            sig.paren_token.span.join(),
            message(" first"),
        )),
    }
}

/// Whether `ty` is `&mut Self`, with any lifetime.
fn is_mut_self_ref(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Reference(r) if r.mutability.is_some()
        && matches!(&*r.elem, syn::Type::Path(p) if p.qself.is_none() && p.path.is_ident("Self")))
}

/// A parameter, bound by its name: `request`, `message`, or any other
/// (a route name or an extractor, told apart by [`check`](crate::check)).
fn param(pt: &syn::PatType, errors: &mut Vec<syn::Error>) -> Option<Param> {
    let Pat::Ident(pi) = &*pt.pat else {
        errors.push(syn::Error::new_spanned(
            &pt.pat,
            "parameters are bound by their name: write a plain name here, such as `message`, \
             or leave the parameter out if the hook does not use it",
        ));
        return None;
    };
    let binding = match pi.ident.to_string().as_str() {
        "request" => Binding::Request,
        "message" => Binding::Message,
        _ => Binding::Extractor,
    };
    Some(Param {
        ident: pi.ident.clone(),
        ty: (*pt.ty).clone(),
        binding,
    })
}
