//! Cross-checks of the model: each hook parameter against the route and its
//! hook, and each route parameter against the hooks. One mistake is one
//! error: a name the route lacks is reported on the parameter (with the
//! route drawn beside it), not again as an unused route name, and names are
//! not checked at all against a route that has errors of its own.

use crate::hint::{closest, tidy};
use crate::model::{names_bound, Attribute, Binding, Handler, Hook, HookKind, Param, Route};
use syn::Type;

/// Resolves every hook parameter's binding and checks the route's names
/// are all used; a hook with an error is marked incomplete.
pub fn check(attribute: &Attribute, handler: &mut Handler, errors: &mut Vec<syn::Error>) {
    let route = attribute.route.as_ref();
    // Route names offered as "did you mean" for a misspelt parameter: the
    // misspelling is the one error to fix, so they are not also "unused".
    let mut suggested = Vec::new();
    for hook in &mut handler.hooks {
        let mut complete = true;
        for param in &mut hook.params {
            complete &= bind(hook.kind, &hook.ident, param, route, &mut suggested, errors);
        }
        hook.complete &= complete;
    }
    if let Some(route) = route.filter(|r| r.ok) {
        if !handler.other_methods {
            unused(route, &handler.hooks, &suggested, errors);
        }
    }
}

/// Checks one parameter; false when it cannot be bound.
fn bind(
    kind: HookKind,
    hook: &syn::Ident,
    param: &mut Param,
    route: Option<&Route>,
    suggested: &mut Vec<String>,
    errors: &mut Vec<syn::Error>,
) -> bool {
    let name = param.ident.to_string();
    match param.binding {
        Binding::Message if kind != HookKind::Message => {
            errors.push(syn::Error::new(
                param.ident.span(),
                format!(
                    "only the `message` hook takes `message`: remove it from `{hook}`, and \
                     receive messages in `async fn message(&mut self, message: Message)`"
                ),
            ));
            false
        }
        Binding::Extractor if route.is_some_and(|r| r.params.iter().any(|p| p.name == name)) => {
            param.binding = Binding::Path;
            true
        }
        Binding::Extractor if is_plain_value(&param.ty) => match route.filter(|r| r.ok) {
            Some(route) => {
                errors.push(not_in_route(hook, kind, param, route, suggested));
                false
            }
            // The route's own error is the one to fix first.
            None => false,
        },
        _ => true,
    }
}

/// The error for a parameter of a plain value type that the route does not
/// name: on the parameter, with the route drawn and the closest name
/// underlined, or a segment to add.
fn not_in_route(
    hook: &syn::Ident,
    kind: HookKind,
    param: &Param,
    route: &Route,
    suggested: &mut Vec<String>,
) -> syn::Error {
    let name = param.ident.to_string();
    let names = route.params.iter().map(|p| p.name.as_str());
    let first = match closest(&name, names).and_then(|c| route.params.iter().find(|p| p.name == c))
    {
        Some(p) => {
            suggested.push(p.name.clone());
            format!(
                "`{name}` is not a name of the route: did you mean `{}`?\n{}",
                p.name,
                crate::route::underlined(&route.lit, std::slice::from_ref(&p.range))
            )
        }
        None => format!(
            "`{name}` is not a name of the route: add a segment for it, as in \"{}/<{name}:{}>\"",
            crate::route::drawn(route.lit.value().trim_end_matches('/')).0,
            route_kind(&param.ty)
        ),
    };
    syn::Error::new(
        param.ident.span(),
        format!(
            "{first}\nthe `{hook}` hook binds {}; any other parameter must be an \
             axum extractor, and `{}` is not one",
            names_bound(kind, Some(route)),
            tidy(&param.ty)
        ),
    )
}

/// A route name no hook can read is a mistake (Rocket's "unused
/// parameter"), unless a hook takes `request` and may read it there.
fn unused(route: &Route, hooks: &[Hook], suggested: &[String], errors: &mut Vec<syn::Error>) {
    let takes = |binding: &Binding, name: Option<&str>| {
        hooks.iter().any(|h| {
            h.params
                .iter()
                .any(|p| p.binding == *binding && name.is_none_or(|n| p.ident == n))
        })
    };
    if takes(&Binding::Request, None) {
        return;
    }
    let example_hook = hooks
        .first()
        .map_or("connection".to_owned(), |h| h.ident.to_string());
    for p in &route.params {
        if takes(&Binding::Path, Some(&p.name)) || suggested.contains(&p.name) {
            continue;
        }
        let (name, ty) = (&p.name, p.rust_type());
        errors.push(crate::route::error(
            &route.lit,
            std::slice::from_ref(&p.range),
            &format!(
                "route parameter `<{name}>` is never used: add `{name}: {ty}` to a hook, as in \
                 `async fn {example_hook}(&mut self, {name}: {ty})`, or take `request: &Request` \
                 and call `request.param::<{ty}>(\"{name}\")`"
            ),
        ));
    }
}

/// Types that are values, never axum extractors: a parameter of such a type
/// that no name binds is a typo for a route name.
fn is_plain_value(ty: &Type) -> bool {
    const VALUES: &[&str] = &[
        "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize",
        "f32", "f64", "bool", "char", "str", "String", "Uuid",
    ];
    match ty {
        Type::Reference(r) => is_plain_value(&r.elem),
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().is_some_and(|s| {
            s.arguments.is_empty() && VALUES.contains(&s.ident.to_string().as_str())
        }),
        _ => false,
    }
}

/// The route type that fits a Rust type, for a suggested `<name:type>`.
fn route_kind(ty: &Type) -> &'static str {
    match tidy(ty).trim_start_matches('&') {
        "f32" | "f64" => "float",
        "Uuid" | "uuid::Uuid" => "uuid",
        "str" | "String" | "char" | "bool" => "str",
        _ => "int",
    }
}
