//! The `#[websocket]` attribute of [cheese-api](https://docs.rs/cheese-api).
//! Use it through `cheese_api::websocket`; this crate only parses, checks and
//! generates code, and every runtime behaviour lives in `cheese_api`.
//!
//! Set `CHEESE_API_DEBUG=1` while building to print each expansion.

mod expand;
mod hooks;
mod limits;
mod pattern;

use proc_macro::TokenStream;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, Ident, ItemImpl, LitStr, Token};

struct Args {
    route: LitStr,
    limits: Vec<(Ident, Expr)>,
}

impl Parse for Args {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let route: LitStr = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected the route first, as a string: #[websocket(\"/room/<name:str>\")]",
            )
        })?;
        let mut limits = Vec::new();
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let key: Ident = input.call(syn::ext::IdentExt::parse_any)?;
            input.parse::<Token![=]>().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    format!("expected `=` after `{key}`: write `{key} = value`"),
                )
            })?;
            limits.push((key, input.parse()?));
        }
        Ok(Args { route, limits })
    }
}

/// Turns an impl block into a WebSocket handler served at the route; see the
/// `cheese_api` crate for hooks, parameters and limits.
#[proc_macro_attribute]
pub fn websocket(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item2: proc_macro2::TokenStream = item.clone().into();
    let out = match (syn::parse::<Args>(attr), syn::parse::<ItemImpl>(item)) {
        (Err(e), _) => with_item(item2, vec![e]),
        (_, Err(e)) => with_item(
            item2,
            vec![syn::Error::new(
                e.span(),
                "#[websocket(\"/path\")] goes on an impl block: `impl MyWebsocket { ... }`",
            )],
        ),
        (Ok(args), Ok(item)) => {
            let mut errors = Vec::new();
            let (path, route_error) = pattern::parse(&args.route);
            let route_ok = route_error.is_none();
            errors.extend(route_error);
            let mut limits = limits::Limits::default();
            for (key, value) in args.limits {
                if let Err(e) = limits.add(key, value) {
                    errors.push(e);
                }
            }
            let hooks = hooks::parse(&item, &args.route, &path, route_ok, &mut errors);
            if errors.is_empty() {
                expand::expand(&item, &args.route, limits.expand(), &hooks, &path)
            } else {
                with_item(quote::quote!(#item), errors)
            }
        }
    };
    if std::env::var_os("CHEESE_API_DEBUG").is_some() {
        eprintln!("{out}");
    }
    out.into()
}

/// The user's item unchanged plus every error, so the rest of the code still
/// type-checks and the IDE keeps working.
fn with_item(item: proc_macro2::TokenStream, errors: Vec<syn::Error>) -> proc_macro2::TokenStream {
    let errors = errors.into_iter().map(|e| e.to_compile_error());
    quote::quote!(#item #(#errors)*)
}
