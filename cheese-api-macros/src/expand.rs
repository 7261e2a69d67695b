//! Code generation: the checked model becomes `impl WebsocketServer` and the
//! hidden `Hooks` glue, plus the `inventory` registration. No runtime
//! behaviour lives here; the generated code only binds parameters and calls
//! into `::cheese_api::__private`.

use crate::hooks::{names_bound_by, Binding, Hook, HookKind};
use crate::pattern::PathParam;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::{spanned::Spanned, ItemImpl, LitStr, ReturnType};

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
            let span = ty.span();
            match &p.binding {
                Binding::Request => args.push(quote!(__request)),
                Binding::Message => {
                    convert_message = quote_spanned! {span=>
                        let __message = ::cheese_api::__private::message::<#ty>(__message)?;
                    };
                    args.push(quote!(__message));
                }
                Binding::Path(_) | Binding::Extractor => {
                    let field = format_ident!("{}_{}", hook_name, p.ident);
                    let value = match &p.binding {
                        Binding::Path(name) => quote_spanned! {span=>
                            ::cheese_api::__private::path_param::<#ty>(__request, #name)?
                        },
                        _ => {
                            let check = format_ident!("__CheeseParam_{}_{}", hook_name, p.ident);
                            let message = format!(
                                "parameter `{}` of the `{hook_name}` hook is neither a name this hook binds nor an axum extractor",
                                p.ident
                            );
                            let note = format!(
                                "the `{hook_name}` hook binds {}",
                                names_bound_by(hook, path)
                            );
                            param_traits.push(quote_spanned! {span=>
                                #[diagnostic::on_unimplemented(
                                    message = #message,
                                    label = "`{Self}` is not an axum extractor (`FromRequestParts<()>`)",
                                    note = #note,
                                    note = "any other parameter must be an axum extractor, such as `Query<T>` or `HeaderMap`"
                                )]
                                #[allow(non_camel_case_types)]
                                trait #check: ::core::marker::Sized {
                                    fn __extract(
                                        parts: &mut ::cheese_api::__private::Parts,
                                    ) -> impl ::core::future::Future<
                                        Output = ::core::result::Result<Self, ::cheese_api::__private::Response>,
                                    > + ::core::marker::Send;
                                }
                                impl<T: ::cheese_api::__private::FromRequestParts<()>> #check for T {
                                    fn __extract(
                                        parts: &mut ::cheese_api::__private::Parts,
                                    ) -> impl ::core::future::Future<
                                        Output = ::core::result::Result<Self, ::cheese_api::__private::Response>,
                                    > + ::core::marker::Send {
                                        ::cheese_api::__private::extract::<T>(parts)
                                    }
                                }
                            });
                            quote_spanned! {span=> <#ty as #check>::__extract(__parts).await? }
                        }
                    };
                    if once {
                        fields.push(quote!(#field: ::core::option::Option<#ty>));
                        inits.push(quote!(#field: ::core::option::Option::Some(#value)));
                        args.push(quote!(__ex.#field.take().expect("a hook runs once")));
                    } else {
                        fields.push(quote!(#field: #ty));
                        inits.push(quote!(#field: #value));
                        args.push(quote_spanned!(span=> ::core::clone::Clone::clone(&__ex.#field)));
                    }
                }
            }
        }
        let ident = &hook.ident;
        let call = quote!(<#self_ty>::#ident(self, #(#args),*).await);
        let out_span = match &hook.output {
            ReturnType::Default => hook.ident.span(),
            ReturnType::Type(_, ty) => ty.span(),
        };
        let method = match hook.kind {
            HookKind::Handshake => quote_spanned! {out_span=>
                async fn __handshake(&mut self, __request: &::cheese_api::Request, __ex: &mut __CheeseExtracted)
                    -> ::core::result::Result<(), ::cheese_api::__private::Response> {
                    ::cheese_api::__private::IntoHandshakeResult::into_handshake_result(#call)
                }
            },
            HookKind::Subprotocol => quote_spanned! {out_span=>
                async fn __subprotocol(&mut self, __request: &::cheese_api::Request, __ex: &mut __CheeseExtracted)
                    -> ::core::option::Option<::std::string::String> {
                    ::cheese_api::__private::IntoSubprotocol::into_subprotocol(#call)
                }
            },
            HookKind::Connection => quote_spanned! {out_span=>
                async fn __connection(&mut self, __request: &::cheese_api::Request, __ex: &mut __CheeseExtracted)
                    -> ::core::result::Result<(), ::cheese_api::__private::HookError> {
                    ::cheese_api::__private::IntoHookResult::into_hook_result(#call)
                }
            },
            HookKind::Message => quote_spanned! {out_span=>
                async fn __message(
                    &mut self,
                    __request: &::cheese_api::Request,
                    __ex: &mut __CheeseExtracted,
                    __message: ::cheese_api::Message,
                ) -> ::core::result::Result<(), ::cheese_api::__private::HookError> {
                    #convert_message
                    ::cheese_api::__private::IntoHookResult::into_hook_result(#call)
                }
            },
            HookKind::Disconnection => quote_spanned! {out_span=>
                async fn __disconnection(&mut self, __request: &::cheese_api::Request, __ex: &mut __CheeseExtracted) {
                    let (): () = #call;
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
