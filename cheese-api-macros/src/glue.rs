//! The glue of one hook: its `Hooks::__name` method, which binds each
//! parameter and converts the result, and the local traits that carry the
//! error messages. Each requirement on a user's type goes through a trait of
//! its own with `#[diagnostic::on_unimplemented]`, used at the user's tokens
//! (`<Ty as Check>::method`, spanned over `Ty`), so an unmet one is one
//! sentence on that type.

use crate::model::{names_bound, Binding, Hook, HookKind, Param, Route};
use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::{Ident, ReturnType, Type};

/// The generated pieces, gathered hook by hook.
pub struct Glue<'a> {
    krate: &'a syn::Path,
    self_ty: &'a Type,
    route: Option<&'a Route>,
    /// Local traits that carry error messages.
    pub traits: Vec<TokenStream>,
    /// Fields of `__CheeseExtracted`: values extracted before the upgrade.
    pub fields: Vec<TokenStream>,
    /// Their initialisers, in `Hooks::__extract`.
    pub inits: Vec<TokenStream>,
    /// The `Hooks` methods.
    pub methods: Vec<TokenStream>,
}

impl<'a> Glue<'a> {
    pub fn new(krate: &'a syn::Path, self_ty: &'a Type, route: Option<&'a Route>) -> Glue<'a> {
        Glue {
            krate,
            self_ty,
            route,
            traits: Vec::new(),
            fields: Vec::new(),
            inits: Vec::new(),
            methods: Vec::new(),
        }
    }

    /// The glue of one complete hook.
    pub fn hook(&mut self, hook: &Hook) {
        let mut convert_message = quote!();
        let mut args = Vec::new();
        for p in &hook.params {
            args.push(match p.binding {
                Binding::Request => quote!(__request),
                Binding::Message => {
                    convert_message = self.message(p);
                    quote!(__message)
                }
                Binding::Path | Binding::Extractor => self.extracted(hook, p),
            });
        }
        let (self_ty, ident) = (self.self_ty, &hook.ident);
        let call = quote!(<#self_ty>::#ident(self, #(#args),*).await);
        let into = self.output(hook);
        let method = self.method(hook.kind, convert_message, quote!(#into(#call)));
        self.methods.push(method);
    }

    /// The statement that converts `__message` to the parameter's type.
    fn message(&self, p: &Param) -> TokenStream {
        let krate = self.krate;
        let ty = &p.ty;
        let convert = qualified(
            ty,
            quote!(#krate::__private::FromMessage),
            "from_message",
            ends(ty, p.ident.span()),
        );
        quote! {
            let __message = #convert(__message)
                .map_err(#krate::__private::HookError::Rejected)?;
        }
    }

    /// A route value or an extractor: extracted before the upgrade into a
    /// field, taken by a hook that runs once, cloned for each message.
    fn extracted(&mut self, hook: &Hook, p: &Param) -> TokenStream {
        let field = format_ident!("{}_{}", hook.ident, p.ident, span = p.ident.span());
        let value = match p.binding {
            Binding::Path => self.path_value(hook, p),
            _ => self.extractor_value(hook, p),
        };
        let ty = &p.ty;
        if hook.kind != HookKind::Message {
            self.fields
                .push(quote!(#field: ::core::option::Option<#ty>));
            self.inits
                .push(quote!(#field: ::core::option::Option::Some(#value)));
            return quote!(__ex.#field.take().expect("a hook runs once"));
        }
        self.fields.push(quote!(#field: #ty));
        self.inits.push(quote!(#field: #value));
        let clone = self.clone_check(hook, p);
        quote!(#clone(&__ex.#field))
    }

    /// `name: T` for a route `<name>`: parsed with `FromStr`.
    fn path_value(&mut self, hook: &Hook, p: &Param) -> TokenStream {
        let krate = self.krate;
        let name = p.ident.to_string();
        let check = local_ident("__CheesePath", hook, p);
        let message = format!("route parameter `{name}` cannot be parsed into `{{Self}}`");
        self.traits.push(quote! {
            #[diagnostic::on_unimplemented(
                message = #message,
                label = "`{Self}` does not implement `FromStr`",
                note = "a route parameter can have any type that implements `FromStr`, such as `i64`, `f64`, `String` or `Uuid`"
            )]
            #[allow(non_camel_case_types)]
            trait #check: ::core::marker::Sized {
                fn __parse(
                    request: &#krate::Request,
                    name: &str,
                ) -> ::core::result::Result<Self, #krate::__private::Response>;
            }
            #[diagnostic::do_not_recommend]
            impl<T: ::core::str::FromStr> #check for T {
                fn __parse(
                    request: &#krate::Request,
                    name: &str,
                ) -> ::core::result::Result<Self, #krate::__private::Response> {
                    #krate::__private::path_param::<T>(request, name)
                }
            }
        });
        let over = (p.ident.span(), ends(&p.ty, p.ident.span()).1);
        let parse = qualified(&p.ty, quote!(#check), "__parse", over);
        quote!(#parse(__request, #name)?)
    }

    /// Any other parameter: an axum extractor, run on the upgrade request.
    fn extractor_value(&mut self, hook: &Hook, p: &Param) -> TokenStream {
        let krate = self.krate;
        let check = local_ident("__CheeseParam", hook, p);
        let get = format_ident!(
            "__cheese_extract_{}_{}",
            hook.ident,
            p.ident,
            span = p.ident.span()
        );
        let message = format!(
            "parameter `{}` of the `{}` hook is neither a name this hook binds nor an axum extractor",
            p.ident, hook.ident
        );
        let note = format!(
            "the `{}` hook binds {}",
            hook.ident,
            names_bound(hook.kind, self.route)
        );
        // A marker trait that carries the message, and a getter bound on
        // it. No `impl Future` is projected through the blanket impl, so
        // rustc reports the unmet `T: #check` with this message rather than
        // axum's `FromRequestParts` note.
        self.traits.push(quote! {
            #[diagnostic::on_unimplemented(
                message = #message,
                label = "`{Self}` is not an axum extractor (`FromRequestParts<()>`)",
                note = #note,
                note = "any other parameter must be an axum extractor, such as `Query<T>`, `HeaderMap` or your own `FromRequestParts<()>` type"
            )]
            #[allow(non_camel_case_types)]
            trait #check: #krate::__private::FromRequestParts<()> {}
            #[diagnostic::do_not_recommend]
            impl<T: #krate::__private::FromRequestParts<()>> #check for T {}
            async fn #get<T: #check>(
                parts: &mut #krate::__private::Parts,
            ) -> ::core::result::Result<T, #krate::__private::Response> {
                #krate::__private::extract::<T>(parts).await
            }
        });
        // Every token on the parameter's name: each obligation is then
        // reported at one span, once.
        let at = p.ident.span();
        let mut get = get;
        get.set_span(at);
        quote_spanned!(at=> #get(__parts).await?)
    }

    /// `<T as Clone-check>::__clone`, for a value the `message` hook gets
    /// anew for each message.
    fn clone_check(&mut self, hook: &Hook, p: &Param) -> TokenStream {
        let check = local_ident("__CheeseClone", hook, p);
        let message = format!(
            "parameter `{}` of the `message` hook must be `Clone`, and `{{Self}}` is not",
            p.ident
        );
        self.traits.push(quote! {
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
        let over = (p.ident.span(), ends(&p.ty, p.ident.span()).1);
        qualified(&p.ty, quote!(#check), "__clone", over)
    }

    /// The path that converts the hook's result, through a local trait
    /// whose message names the hook and says what it may return, spanned
    /// over the return type so a wrong one is reported there.
    fn output(&mut self, hook: &Hook) -> TokenStream {
        let unit: Type = syn::parse_quote_spanned!(hook.ident.span()=> ());
        let output = match &hook.output {
            ReturnType::Default => &unit,
            ReturnType::Type(_, ty) => &**ty,
        };
        let over = ends(output, hook.ident.span());
        let contract = Contract::of(self.krate, hook);
        let Contract {
            out_ty,
            bound,
            convert,
            message,
            label,
        } = &contract;
        let name = format_ident!("__CheeseOutput_{}", hook.ident, span = Span::call_site());
        self.traits.push(quote! {
            #[diagnostic::on_unimplemented(message = #message, label = #label)]
            #[allow(non_camel_case_types)]
            trait #name {
                fn __into(self) -> #out_ty;
            }
            #[diagnostic::do_not_recommend]
            impl<T: #bound> #name for T {
                fn __into(self) -> #out_ty {
                    #convert(self)
                }
            }
        });
        if nameable(output) {
            qualified(output, quote!(#name), "__into", over)
        } else {
            // Unnameable (`impl Trait`, a hook's own lifetime): the message
            // is the same, reported on the attribute.
            let method = Ident::new("__into", over.1);
            quote!(#name::#method)
        }
    }

    /// The `Hooks` method that calls a hook of `kind`.
    fn method(
        &self,
        kind: HookKind,
        convert_message: TokenStream,
        body: TokenStream,
    ) -> TokenStream {
        let krate = self.krate;
        let ex = quote!(__request: &#krate::Request, __ex: &mut __CheeseExtracted);
        let hook_result = quote!(::core::result::Result<(), #krate::__private::HookError>);
        match kind {
            HookKind::Handshake => quote! {
                async fn __handshake(&mut self, #ex)
                    -> ::core::result::Result<(), #krate::__private::Response> { #body }
            },
            HookKind::Subprotocol => quote! {
                async fn __subprotocol(&mut self, #ex)
                    -> ::core::option::Option<::std::string::String> { #body }
            },
            HookKind::Connection => quote! {
                async fn __connection(&mut self, #ex) -> #hook_result { #body }
            },
            HookKind::Message => quote! {
                async fn __message(&mut self, #ex, __message: #krate::Message) -> #hook_result {
                    #convert_message
                    #body
                }
            },
            HookKind::Disconnection => quote! {
                async fn __disconnection(&mut self, #ex) { #body }
            },
        }
    }
}

/// What a hook of one kind must return, and how it is converted.
struct Contract {
    /// What the driver gets.
    out_ty: TokenStream,
    /// The runtime's conversion trait (the bound of the blanket impl).
    bound: TokenStream,
    /// Its conversion function.
    convert: TokenStream,
    message: String,
    label: &'static str,
}

impl Contract {
    fn of(krate: &syn::Path, hook: &Hook) -> Contract {
        let p = quote!(#krate::__private);
        match hook.kind {
            HookKind::Handshake => Contract {
                out_ty: quote!(::core::result::Result<(), #p::Response>),
                bound: quote!(#p::IntoHandshakeResult),
                convert: quote!(#p::IntoHandshakeResult::into_handshake_result),
                message: "the `handshake` hook must return `()` or `Result<(), R>` with `R: IntoResponse`, not `{Self}`".to_owned(),
                label: "return `()` to accept, or `Err(response)` to refuse, such as `Err(StatusCode::UNAUTHORIZED)`",
            },
            HookKind::Subprotocol => Contract {
                out_ty: quote!(::core::option::Option<::std::string::String>),
                bound: quote!(#p::IntoSubprotocol),
                convert: quote!(#p::IntoSubprotocol::into_subprotocol),
                message: "the `subprotocol` hook must return `Option<String>` or `Option<&'static str>`, not `{Self}`".to_owned(),
                label: "return one of the client's offers, or `None` to accept with no subprotocol",
            },
            HookKind::Connection | HookKind::Message => Contract {
                out_ty: quote!(::core::result::Result<(), #p::HookError>),
                bound: quote!(#p::IntoHookResult),
                convert: quote!(#p::IntoHookResult::into_hook_result),
                message: format!(
                    "the `{}` hook must return `()` or `Result<(), E>` with `E: Display`, not `{{Self}}`",
                    hook.ident
                ),
                label: "an `Err` is logged and closes the connection with 1011",
            },
            HookKind::Disconnection => Contract {
                out_ty: quote!(()),
                bound: quote!(::core::convert::Into<()>),
                convert: quote!(::core::convert::Into::<()>::into),
                message: "the `disconnection` hook must return `()`, not `{Self}`".to_owned(),
                label: "remove this return type: nothing can use a result once the connection is gone",
            },
        }
    }
}

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
    let method = Ident::new(method, last);
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

/// The name of a generated item for parameter `p` of `hook`, spanned on the
/// parameter so an error about it lands there.
fn local_ident(prefix: &str, hook: &Hook, p: &Param) -> Ident {
    format_ident!("{prefix}_{}_{}", hook.ident, p.ident, span = p.ident.span())
}
