//! The `#[websocket]` attribute of [cheese-api](https://docs.rs/cheese-api).
//! Use it through `cheese_api::websocket`; this crate only parses, checks and
//! generates code, and every runtime behaviour lives in `cheese_api`.
//!
//! The attribute goes through three steps over a typed model of the impl
//! block ([`model`]): [`parse`] reads the tokens, collecting every error on
//! the token that is wrong; [`check`] checks the hooks' parameters against
//! the route; [`expand`] generates the trait impls. The route is parsed with
//! the runtime's own grammar, the `cheese-api-route` crate ([`route`] draws
//! its errors inside the string).
//!
//! Set `CHEESE_API_DEBUG=1` while building to print each expansion.

mod check;
mod expand;
mod glue;
mod hint;
mod limits;
mod model;
mod parse;
mod route;

use proc_macro::TokenStream;

/// DOCS
#[proc_macro_attribute]
pub fn websocket(attr: TokenStream, item: TokenStream) -> TokenStream {
    let out = websocket_impl(attr.into(), item.into());
    if std::env::var_os("CHEESE_API_DEBUG").is_some() {
        eprintln!("{out}");
    }
    out.into()
}

/// Parse, check, expand; errors are collected all the way and emitted
/// beside the generated code.
fn websocket_impl(
    attr: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let mut errors = Vec::new();
    let attribute = parse::attribute(attr, &mut errors);
    let Some(mut handler) = parse::handler(item.clone(), &mut errors) else {
        return expand::item_only(item, &errors);
    };
    check::check(&attribute, &mut handler, &mut errors);
    expand::expand(&attribute, handler, &errors)
}
