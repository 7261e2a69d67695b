//! Code generation: the checked model becomes `impl WebsocketServer` and the
//! hidden `Hooks` glue, plus the `inventory` registration. No runtime
//! behaviour lives here; the generated code only binds parameters and calls
//! into `::cheese_api::__private`.

use crate::hooks::{names_bound_by, Binding, Hook, HookKind};
use crate::pattern::PathParam;
use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::{ItemImpl, LitStr, ReturnType, Type};

/// The first and last token spans of `tokens`. Generated code that starts
/// with a token at the first and ends with one at the last gets an error
/// span covering all of `tokens`, even on stable Rust where spans cannot be
/// joined (the trick `syn::Error::new_spanned` uses).
fn ends(tokens: &impl ToTokens, fallback: Span) -> (Span, Span) {
    let mut iter = tokens.to_token_stream().into_iter();
    let first = iter.next().map_or(fallback, |t| t.span());
    let last = iter.last().map_or(first, |t| t.span());
    (first, last)
}

/// `<#ty as #trait_path>::#method`, spanned over the whole of `over`, so an
/// unmet `#ty: #trait_path` is reported there with the trait's own message.
fn qualified(
    ty: &impl ToTokens,
    trait_path: TokenStream,
    method: &str,
    over: (Span, Span),
) -> TokenStream {
    let (first, last) = over;
    let open = quote_spanned!(first=> <);
    let method = syn::Ident::new(method, last);
    let rest = quote_spanned!(last=> >::#method);
    quote!(#open #ty as #trait_path #rest)
}

/// Whether `ty` can be named in an expression inside the generated impl:
/// not if it mentions `impl Trait` or a lifetime of the hook's own (`'a`).
fn nameable(ty: &Type) -> bool {
    fn walk(tokens: TokenStream) -> bool {
        let mut tick = false;
        for t in tokens {
            match &t {
                TokenTree::Ident(i) if i == "impl" => return false,
                TokenTree::Ident(i) if tick && i != "static" && i != "_" => return false,
                TokenTree::Group(g) if !walk(g.stream()) => return false,
                _ => {}
            }
            tick = matches!(&t, TokenTree::Punct(p) if p.as_char() == '\'');
        }
        true
    }
    walk(ty.to_token_stream())
}

pub fn expand(
    item: &ItemImpl,
    route: &LitStr,
    limits: TokenStream,
    hooks: &[Hook],
    path: &[PathParam],
) -> TokenStream {
    let self_ty = &item.self_ty;
    let mut fields = Vec::new();
    let mut inits = Vec::new();
    let mut param_traits = Vec::new();
    let mut methods = Vec::new();

    for hook in hooks {
        let hook_name = hook.ident.to_string();
        let once = hook.kind != HookKind::Message;
        let mut args = Vec::new();
        let mut convert_message = quote!();
        for p in &hook.params {
            let ty = &p.ty;
            let (ty_first, ty_last) = ends(ty, p.ident.span());
            let param_span = (p.ident.span(), ty_last);
            match &p.binding {
                Binding::Request => args.push(quote!(__request)),
                Binding::Message => {
                    let convert = qualified(
                        ty,
                        quote!(::cheese_api::__private::FromMessage),
                        "from_message",
                        (ty_first, ty_last),
                    );
                    convert_message = quote! {
                        let __message = #convert(__message)
                            .map_err(::cheese_api::__private::HookError::Rejected)?;
                    };
                    args.push(quote!(__message));
                }
                Binding::Path(_) | Binding::Extractor => {
                    let field = format_ident!("{}_{}", hook_name, p.ident);
                    let names = names_bound_by(hook, path);
                    let pname = p.ident.to_string();
                    let value = match &p.binding {
                        Binding::Path(name) => {
                            let check = format_ident!("__CheesePath_{}_{}", hook_name, p.ident);
                            let message = format!(
                                "route parameter `{name}` cannot be parsed into `{{Self}}`"
                            );
                            param_traits.push(quote! {
                                #[diagnostic::on_unimplemented(
                                    message = #message,
                                    label = "`{Self}` does not implement `FromStr`",
                                    note = "a route parameter can have any type that implements `FromStr`, such as `i64`, `f64`, `String` or `Uuid`"
                                )]
                                #[allow(non_camel_case_types)]
                                trait #check: ::core::marker::Sized {
                                    fn __parse(
                                        request: &::cheese_api::Request,
                                        name: &str,
                                    ) -> ::core::result::Result<Self, ::cheese_api::__private::Response>;
                                }
                                #[diagnostic::do_not_recommend]
                                impl<T: ::core::str::FromStr> #check for T {
                                    fn __parse(
                                        request: &::cheese_api::Request,
                                        name: &str,
                                    ) -> ::core::result::Result<Self, ::cheese_api::__private::Response> {
                                        ::cheese_api::__private::path_param::<T>(request, name)
                                    }
                                }
                            });
                            let parse = qualified(ty, quote!(#check), "__parse", param_span);
                            quote!(#parse(__request, #name)?)
                        }
                        _ => {
                            let check = format_ident!("__CheeseParam_{}_{}", hook_name, p.ident);
                            let get = format_ident!("__cheese_extract_{}_{}", hook_name, p.ident);
                            let message = format!(
                                "parameter `{pname}` of the `{hook_name}` hook is neither a name this hook binds nor an axum extractor"
                            );
                            let note = format!("the `{hook_name}` hook binds {names}");
                            // A marker trait that carries the message, and a
                            // getter bound on it. No `impl Future` is projected
                            // through the blanket impl, so rustc reports the
                            // unmet `T: #check` with this message rather than
                            // axum's `FromRequestParts` note.
                            param_traits.push(quote! {
                                #[diagnostic::on_unimplemented(
                                    message = #message,
                                    label = "`{Self}` is not an axum extractor (`FromRequestParts<()>`)",
                                    note = #note,
                                    note = "any other parameter must be an axum extractor, such as `Query<T>`, `HeaderMap` or your own `FromRequestParts<()>` type"
                                )]
                                #[allow(non_camel_case_types)]
                                trait #check: ::cheese_api::__private::FromRequestParts<()> {}
                                #[diagnostic::do_not_recommend]
                                impl<T: ::cheese_api::__private::FromRequestParts<()>> #check for T {}
                                async fn #get<T: #check>(
                                    parts: &mut ::cheese_api::__private::Parts,
                                ) -> ::core::result::Result<T, ::cheese_api::__private::Response> {
                                    ::cheese_api::__private::extract::<T>(parts).await
                                }
                            });
                            // Every token on the parameter's name: each
                            // obligation is then reported at one span, once.
                            let at = p.ident.span();
                            let mut get = get;
                            get.set_span(at);
                            quote_spanned!(at=> #get(__parts).await?)
                        }
                    };
                    if once {
                        fields.push(quote!(#field: ::core::option::Option<#ty>));
                        inits.push(quote!(#field: ::core::option::Option::Some(#value)));
                        args.push(quote!(__ex.#field.take().expect("a hook runs once")));
                    } else {
                        // Extracted once per connection, handed to every call.
                        let check = format_ident!("__CheeseClone_{}_{}", hook_name, p.ident);
                        let message = format!(
                            "parameter `{pname}` of the `message` hook must be `Clone`, and `{{Self}}` is not"
                        );
                        param_traits.push(quote! {
                            #[diagnostic::on_unimplemented(
                                message = #message,
                                label = "`{Self}` does not implement `Clone`",
                                note = "it is extracted once per connection and cloned for each message; take it in `connection` instead and keep it in `self`, or wrap it in an `Arc`"
                            )]
                            #[allow(non_camel_case_types)]
                            trait #check: ::core::marker::Sized {
                                fn __clone(&self) -> Self;
                            }
                            #[diagnostic::do_not_recommend]
                            impl<T: ::core::clone::Clone> #check for T {
                                fn __clone(&self) -> Self {
                                    ::core::clone::Clone::clone(self)
                                }
                            }
                        });
                        let clone = qualified(ty, quote!(#check), "__clone", param_span);
                        fields.push(quote!(#field: #ty));
                        inits.push(quote!(#field: #value));
                        args.push(quote!(#clone(&__ex.#field)));
                    }
                }
            }
        }
        let ident = &hook.ident;
        let call = quote!(<#self_ty>::#ident(self, #(#args),*).await);
        // The hook's result goes through `<Output as IntoX>::into_x(...)`
        // spanned over the return type, so a wrong one is reported there.
        let unit: Type = syn::parse_quote_spanned!(hook.ident.span()=> ());
        let output = match &hook.output {
            ReturnType::Default => &unit,
            ReturnType::Type(_, ty) => &**ty,
        };
        let over = ends(output, hook.ident.span());
        // A local trait per hook carries a message that names the hook and
        // says what it may return; its blanket impl defers to the runtime's
        // conversion trait and is hidden from diagnostics.
        let (out_trait, out_ty, runtime, message, label) = match hook.kind {
            HookKind::Handshake => (
                format_ident!("__CheeseOutput_handshake"),
                quote!(::core::result::Result<(), ::cheese_api::__private::Response>),
                quote!(::cheese_api::__private::IntoHandshakeResult::into_handshake_result),
                "the `handshake` hook must return `()` or `Result<(), R>` with `R: IntoResponse`, not `{Self}`".to_owned(),
                "return `()` to accept, or `Err(response)` to refuse, such as `Err(StatusCode::UNAUTHORIZED)`",
            ),
            HookKind::Subprotocol => (
                format_ident!("__CheeseOutput_subprotocol"),
                quote!(::core::option::Option<::std::string::String>),
                quote!(::cheese_api::__private::IntoSubprotocol::into_subprotocol),
                "the `subprotocol` hook must return `Option<String>` or `Option<&'static str>`, not `{Self}`".to_owned(),
                "return one of the client's offers, or `None` to accept with no subprotocol",
            ),
            HookKind::Connection | HookKind::Message => (
                format_ident!("__CheeseOutput_{}", hook_name),
                quote!(::core::result::Result<(), ::cheese_api::__private::HookError>),
                quote!(::cheese_api::__private::IntoHookResult::into_hook_result),
                format!("the `{hook_name}` hook must return `()` or `Result<(), E>` with `E: Display`, not `{{Self}}`"),
                "an `Err` is logged and closes the connection with 1011",
            ),
            HookKind::Disconnection => (
                format_ident!("__CheeseOutput_disconnection"),
                quote!(()),
                quote!(::core::convert::Into::<()>::into),
                "the `disconnection` hook must return `()`, not `{Self}`".to_owned(),
                "remove this return type: nothing can use a result once the connection is gone",
            ),
        };
        let bound = match hook.kind {
            HookKind::Handshake => quote!(::cheese_api::__private::IntoHandshakeResult),
            HookKind::Subprotocol => quote!(::cheese_api::__private::IntoSubprotocol),
            HookKind::Connection | HookKind::Message => {
                quote!(::cheese_api::__private::IntoHookResult)
            }
            HookKind::Disconnection => quote!(::core::convert::Into<()>),
        };
        param_traits.push(quote! {
            #[diagnostic::on_unimplemented(message = #message, label = #label)]
            #[allow(non_camel_case_types)]
            trait #out_trait {
                fn __into(self) -> #out_ty;
            }
            #[diagnostic::do_not_recommend]
            impl<T: #bound> #out_trait for T {
                fn __into(self) -> #out_ty {
                    #runtime(self)
                }
            }
        });
        let into = if nameable(output) {
            qualified(output, quote!(#out_trait), "__into", over)
        } else {
            // Unnameable (`impl Trait`, a hook's own lifetime): the message
            // is the same, reported on the attribute.
            let method = syn::Ident::new("__into", over.1);
            quote!(#out_trait::#method)
        };
        let method = match hook.kind {
            HookKind::Handshake => quote! {
                async fn __handshake(&mut self, __request: &::cheese_api::Request, __ex: &mut __CheeseExtracted)
                    -> ::core::result::Result<(), ::cheese_api::__private::Response> {
                    #into(#call)
                }
            },
            HookKind::Subprotocol => quote! {
                async fn __subprotocol(&mut self, __request: &::cheese_api::Request, __ex: &mut __CheeseExtracted)
                    -> ::core::option::Option<::std::string::String> {
                    #into(#call)
                }
            },
            HookKind::Connection => quote! {
                async fn __connection(&mut self, __request: &::cheese_api::Request, __ex: &mut __CheeseExtracted)
                    -> ::core::result::Result<(), ::cheese_api::__private::HookError> {
                    #into(#call)
                }
            },
            HookKind::Message => quote! {
                async fn __message(
                    &mut self,
                    __request: &::cheese_api::Request,
                    __ex: &mut __CheeseExtracted,
                    __message: ::cheese_api::Message,
                ) -> ::core::result::Result<(), ::cheese_api::__private::HookError> {
                    #convert_message
                    #into(#call)
                }
            },
            HookKind::Disconnection => quote! {
                async fn __disconnection(&mut self, __request: &::cheese_api::Request, __ex: &mut __CheeseExtracted) {
                    #into(#call)
                }
            },
        };
        methods.push(method);
    }
    let has_subprotocol = hooks.iter().any(|h| h.kind == HookKind::Subprotocol);
    quote! {
        #item

        #[allow(non_snake_case, unused_variables, clippy::all)]
        const _: () = {
            #(#param_traits)*

            #[doc(hidden)]
            pub struct __CheeseExtracted { #(#fields,)* }

            impl ::cheese_api::WebsocketServer for #self_ty {
                const PATH: &'static str = #route;
                const LIMITS: ::cheese_api::Limits = #limits;
            }

            impl ::cheese_api::__private::Hooks for #self_ty {
                type Extracted = __CheeseExtracted;
                const HAS_SUBPROTOCOL: bool = #has_subprotocol;

                async fn __extract(
                    __parts: &mut ::cheese_api::__private::Parts,
                    __request: &::cheese_api::Request,
                ) -> ::core::result::Result<__CheeseExtracted, ::cheese_api::__private::Response> {
                    ::core::result::Result::Ok(__CheeseExtracted { #(#inits,)* })
                }

                #(#methods)*
            }

            ::cheese_api::__private::inventory::submit! {
                ::cheese_api::__private::Registration::of::<#self_ty>()
            }
        };
    }
}
