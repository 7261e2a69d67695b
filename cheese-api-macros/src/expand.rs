//! Generation only: the checked model becomes `impl WebsocketServer`, the
//! hidden `Hooks` glue and the `inventory` registration, with absolute paths
//! into cheese-api (`::cheese_api`, or the `crate = "..."` path). No
//! runtime behaviour lives here.
//!
//! On errors the same code is generated, with only the hooks that had none
//! (the others stay plain methods), and the errors beside it: the user's
//! other code still type-checks, so one mistake is one error. A generic
//! impl block gets `WebsocketServer` only; a trait impl, nothing.

use crate::glue::Glue;
use crate::model::{Attribute, Handler, HookKind, Shape};
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::ItemImpl;

/// The user's item unchanged and the errors, for an item nothing can be
/// generated for (not an impl block, a trait impl, a generic impl).
pub fn item_only(item: impl ToTokens, errors: &[syn::Error]) -> TokenStream {
    let errors = errors.iter().map(syn::Error::to_compile_error);
    quote!(#item #(#errors)*)
}

/// The impl block, what can be generated for its shape, and the errors.
pub fn expand(attribute: &Attribute, mut handler: Handler, errors: &[syn::Error]) -> TokenStream {
    if handler.shape == Shape::TraitImpl {
        return item_only(&handler.item, errors);
    }
    let krate = &attribute.krate;
    let self_ty = handler.item.self_ty.clone();
    // The user's impl assumes the bounds too, so a hook's `self.send(..)`
    // type-checks even when the type lacks one: that is reported once, at
    // the registration.
    let where_clause = handler.item.generics.make_where_clause();
    where_clause
        .predicates
        .push(handler_bounds(krate, &self_ty));
    if handler.shape == Shape::Generic {
        where_clause
            .predicates
            .push(syn::parse_quote!(#self_ty: 'static));
    }
    let item = &handler.item;
    let server = server_impl(attribute, item);
    let errors = errors.iter().map(syn::Error::to_compile_error);
    if handler.shape == Shape::Generic {
        return quote!(#item #server #(#errors)*);
    }
    let hooks = hooks_impl(attribute, &handler);
    let register = registration(krate, &self_ty);
    quote! {
        #item

        #[allow(non_snake_case, unused_variables, clippy::all)]
        const _: () = {
            #server
            #hooks
            #register
        };

        #(#errors)*
    }
}

/// `impl WebsocketServer`: the route and the limits.
fn server_impl(attribute: &Attribute, item: &ItemImpl) -> TokenStream {
    let krate = &attribute.krate;
    let self_ty = &item.self_ty;
    let (generics, _, where_clause) = item.generics.split_for_impl();
    let path = attribute
        .route
        .as_ref()
        .map_or_else(|| quote!("/"), |r| r.lit.to_token_stream());
    let limits = attribute.limits.expand(krate);
    quote! {
        impl #generics #krate::WebsocketServer for #self_ty #where_clause {
            const PATH: &'static str = #path;
            const LIMITS: #krate::Limits = #limits;
        }
    }
}

/// The hidden `Hooks` impl with the glue of every complete hook, and the
/// traits that carry its error messages.
fn hooks_impl(attribute: &Attribute, handler: &Handler) -> TokenStream {
    let krate = &attribute.krate;
    let self_ty = &handler.item.self_ty;
    let (_, _, where_clause) = handler.item.generics.split_for_impl();
    let mut glue = Glue::new(krate, self_ty, attribute.route.as_ref());
    for hook in handler.hooks.iter().filter(|h| h.complete) {
        glue.hook(hook);
    }
    let has_subprotocol = handler
        .hooks
        .iter()
        .any(|h| h.complete && h.kind == HookKind::Subprotocol);
    let Glue {
        traits,
        fields,
        inits,
        methods,
        ..
    } = glue;
    quote! {
        #(#traits)*

        #[doc(hidden)]
        pub struct __CheeseExtracted { #(#fields,)* }

        impl #krate::__private::Hooks for #self_ty #where_clause {
            type Extracted = __CheeseExtracted;
            const HAS_SUBPROTOCOL: bool = #has_subprotocol;

            async fn __extract(
                __parts: &mut #krate::__private::Parts,
                __request: &#krate::Request,
            ) -> ::core::result::Result<__CheeseExtracted, #krate::__private::Response> {
                ::core::result::Result::Ok(__CheeseExtracted { #(#inits,)* })
            }

            #(#methods)*
        }
    }
}

/// `for<'a> T: DefaultHandler + SendHandler`: what `WebsocketServer`
/// requires of `T` beyond `'static`, through traits whose message names the
/// fix. The unused `'a` keeps rustc from rejecting the bound outright when
/// it is false ("trivially false where clause"): it is then only unmet
/// where `T` is used as a handler.
fn handler_bounds(krate: &syn::Path, self_ty: &syn::Type) -> syn::WherePredicate {
    syn::parse_quote! {
        for<'__cheese> #self_ty: #krate::__private::DefaultHandler + #krate::__private::SendHandler
    }
}

/// `App::new`'s registration of the type. It requires `Default` and `Send`
/// first, through `__private::register`, so a type that lacks one gets one
/// error, on the type's name in `impl T`, saying so.
fn registration(krate: &syn::Path, self_ty: &syn::Type) -> TokenStream {
    let span = self_ty.span();
    let register = quote_spanned!(span=> #krate::__private::register::<#self_ty>());
    quote! {
        #krate::__private::inventory::submit! { #register }
    }
}
