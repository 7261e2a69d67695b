//! The typed model of one `#[websocket(...)] impl T { ... }`: what
//! [`parse`](crate::parse) reads from the tokens, [`check`](crate::check)
//! completes against the route, and [`expand`](crate::expand) generates from.
//! Every part that did not parse is left out or marked incomplete, so the
//! code generated around it still type-checks the rest of the user's code.

use crate::limits::Limits;
use cheese_api_route::ParamKind;
use std::ops::Range;
use syn::{Ident, ItemImpl, LitStr, ReturnType, Type};

/// The attribute's arguments: `"/route", key = value, ...`.
pub struct Attribute {
    /// The route, when it was a string literal.
    pub route: Option<Route>,
    /// The limits that were valid; the others are errors.
    pub limits: Limits,
    /// The path of the runtime crate: `::cheese_api`, or `crate = "..."`.
    pub krate: syn::Path,
}

/// The route string and the parameters the grammar found in it.
pub struct Route {
    pub lit: LitStr,
    /// The `<name:type>` segments that parsed.
    pub params: Vec<PathParam>,
    /// Whether the whole route parsed; names are only checked against a
    /// valid route, so one typo in it is one error.
    pub ok: bool,
}

/// A `<name:type>` of the route and where it stands in the string.
pub struct PathParam {
    pub name: String,
    pub kind: ParamKind,
    /// The bytes of `<name:type>` in the route's value.
    pub range: Range<usize>,
}

impl PathParam {
    /// The Rust type a hook parameter for this segment would usually have.
    pub fn rust_type(&self) -> &'static str {
        match self.kind {
            ParamKind::Int => "i64",
            ParamKind::Float => "f64",
            ParamKind::Uuid => "Uuid",
            ParamKind::Str | ParamKind::Named(_) => "String",
        }
    }
}

/// The impl block.
pub struct Handler {
    pub item: ItemImpl,
    pub hooks: Vec<Hook>,
    /// A method that is not a hook (perhaps a misspelt one): path names are
    /// then not reported as unused, since it may be the one meant to bind them.
    pub other_methods: bool,
    pub shape: Shape,
}

/// What can be generated for an impl block.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `impl T`: everything.
    Inherent,
    /// `impl<X> T<X>` (an error): only `WebsocketServer`, so the hooks'
    /// `self.send(..)` still type-checks.
    Generic,
    /// `impl Trait for T` (an error): nothing.
    TraitImpl,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    Handshake,
    Subprotocol,
    Connection,
    Message,
    Disconnection,
}

impl HookKind {
    pub const NAMES: &'static [&'static str] = &[
        "handshake",
        "subprotocol",
        "connection",
        "message",
        "disconnection",
    ];

    pub fn from_name(name: &str) -> Option<HookKind> {
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

/// One hook of the impl block.
pub struct Hook {
    pub kind: HookKind,
    pub ident: Ident,
    pub params: Vec<Param>,
    pub output: ReturnType,
    /// False when the hook has an error: it is then left out of the
    /// generated glue (and stays a plain method of the user's impl).
    pub complete: bool,
}

/// One parameter of a hook, after `&mut self`.
pub struct Param {
    pub ident: Ident,
    pub ty: Type,
    pub binding: Binding,
}

/// What a parameter is bound to.
#[derive(PartialEq, Eq)]
pub enum Binding {
    /// `request`: the upgrade request.
    Request,
    /// `message`: the message, converted to the parameter's type.
    Message,
    /// A `<name>` of the route: its value, parsed with `FromStr`.
    Path,
    /// Any other name: an axum extractor. Parsing gives every other name
    /// this binding; checking turns the route's names into [`Binding::Path`].
    Extractor,
}

/// The names a hook of `kind` binds, for messages: "`request`, `message`
/// and `id`".
pub fn names_bound(kind: HookKind, route: Option<&Route>) -> String {
    let mut names = vec!["`request`".to_owned()];
    if kind == HookKind::Message {
        names.push("`message`".to_owned());
    }
    let params = route.map_or(&[][..], |r| &r.params[..]);
    names.extend(params.iter().map(|p| format!("`{}`", p.name)));
    crate::hint::and_list(&names)
}
