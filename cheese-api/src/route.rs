//! Route patterns in CheeseAPI's syntax: `/room/<name:str>/<id:int>`.
//!
//! A pattern is a list of `/`-separated segments; a segment is either literal
//! text or a whole `<name:type>` parameter (`<name>` alone means `str`). The
//! built-in types are `str`, `int`, `float` and `uuid`; any other type name is
//! a named pattern the app registers with [`App::pattern`](crate::App::pattern).
//! A value that does not fit its type makes the route not match (404).
//! Where two routes could match the same path, the more specific segment wins,
//! left to right: literal, then `uuid`, `float`, `int`, named patterns, `str`.
//! A trailing slash is ignored on both sides: `/chat` and `/chat/` are one route.
//!
//! The grammar is the `cheese-api-route` crate's, the same parser the
//! `#[websocket]` macro checks the route with at compile time: a route that
//! compiles is read the same way when the app starts. This module re-exports
//! it and adds what only the runtime needs (the path a route is served under
//! in axum).
//!
//! ```
//! use cheese_api::route::Pattern;
//!
//! let p = Pattern::parse("/room/<name:str>/<id:int>").unwrap();
//! let params = p.matches("/room/cheddar/42").unwrap();
//! assert_eq!(params, vec![("name".to_string(), "cheddar".to_string()), ("id".to_string(), "42".to_string())]);
//! assert!(p.matches("/room/cheddar/forty-two").is_none());
//! ```

pub use cheese_api_route::{ParamKind, Pattern, PatternError, Segment};

pub(crate) use cheese_api_route::percent_decode;

/// The axum path a pattern is served under: parameters become positional
/// captures so that routes that differ only in a type share it.
pub(crate) fn axum_path(pattern: &Pattern) -> String {
    let mut path = String::new();
    for (i, seg) in pattern.segments().iter().enumerate() {
        path.push('/');
        match seg {
            Segment::Static(s) => path.push_str(&s.replace('{', "{{").replace('}', "}}")),
            Segment::Param { .. } => path.push_str(&format!("{{p{i}}}")),
        }
    }
    if path.is_empty() {
        path.push('/');
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_of_one_shape_share_an_axum_path() {
        let int = Pattern::parse("/item/<id:int>").unwrap();
        let s = Pattern::parse("/item/<name:str>").unwrap();
        assert_eq!(axum_path(&int), "/item/{p1}");
        assert_eq!(axum_path(&int), axum_path(&s));
        assert_eq!(axum_path(&Pattern::parse("/").unwrap()), "/");
        assert_eq!(axum_path(&Pattern::parse("/{x}").unwrap()), "/{{x}}");
    }
}
