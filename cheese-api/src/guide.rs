//! The guide: the pages of the repository's `docs/` folder, one module each,
//! so that they read here beside the API and every Rust example in them is a
//! doctest.
//!
//! | page | what it covers |
//! |---|---|
//! | [getting started](getting_started) | install, the hello example, connecting from a browser or Python, the chat example |
//! | [hooks] | the five hooks, parameters bound by name, `send`/`close`/`socket()`, errors and panics |
//! | [rooms] | [`Hub`](crate::Hub): sending to routes, rooms and sockets, from hooks, tasks and HTTP handlers; slow receivers |
//! | [history] | room history with positions, recovery on reconnect (`join_since`), bounds |
//! | [limits] | the eight limits, close codes, memory per connection |
//! | [security] | origin allow-list, authentication, refusing or closing, caps, timeouts, proxy headers, TLS (wss), WebSocket over HTTP/2 |
//! | [deploying] | nginx and Caddy, graceful shutdown, environment variables, logs, metrics (cargo feature `metrics`) |
//! | [scaling] | several processes sharing rooms through Redis (cargo feature `redis`) |
//! | [testing] | `cheese_api::testing`: a loopback server and client for your tests (cargo feature `testing`) |
//! | [differences from CheeseAPI](differences_from_cheeseapi) | what differs from CheeseAPI 1.7.2, side by side |
//! | [performance][performance.md] | benchmarks against plain axum (on GitHub: it holds charts, no Rust) |
//! | [conformance][conformance.md] | the Autobahn TestSuite results (on GitHub) |
//!
//! The pages with the examples of a cargo feature (`scaling`: `redis`,
//! `testing`: `testing`) are complete in docs built with that feature:
//! `cargo doc --open -p cheese-api --all-features`.
//!
//! [performance.md]: https://github.com/cheese-api/cheese-api/blob/main/docs/performance.md
//! [conformance.md]: https://github.com/cheese-api/cheese-api/blob/main/docs/conformance.md

// How the pages get here. Each page lives once, in the repository's `docs/`
// (where GitHub shows it, linked from README.md); `cheese-api/guide/` holds a
// symbolic link to each, which `cargo package` replaces with the file's
// content, so the published crate builds the same docs. (A checkout made
// without symbolic links, as git does on Windows unless told otherwise, has
// small text files holding the targets instead; the test below says so.)
//
// A page links to another with a reference link, `[limits.md]`, defined at
// the page's end as `[limits.md]: limits.md` for GitHub. Here `links!()`
// comes first and defines the same labels as intra-doc links; Markdown keeps
// the first definition of a label, so rustdoc follows (and checks) these.
// The test below fails on a page label that `links!()` does not define.

/// The rustdoc destinations of the labels the pages link with.
macro_rules! links {
    () => {
        "[getting-started.md]: crate::guide::getting_started
[hooks.md]: crate::guide::hooks
[hooks.md#parameters-bound-by-name]: crate::guide::hooks#parameters-bound-by-name
[rooms.md]: crate::guide::rooms
[history.md]: crate::guide::history
[limits.md]: crate::guide::limits
[security.md]: crate::guide::security
[security.md#tls]: crate::guide::security#tls
[security.md#refuse-or-close]: crate::guide::security#refuse-with-a-status-or-close-with-a-code
[deploying.md]: crate::guide::deploying
[scaling.md]: crate::guide::scaling
[testing.md]: crate::guide::testing
[differences-from-cheeseapi.md]: crate::guide::differences_from_cheeseapi
[performance.md]: https://github.com/cheese-api/cheese-api/blob/main/docs/performance.md
[conformance.md]: https://github.com/cheese-api/cheese-api/blob/main/docs/conformance.md
[tests/testing_client.rs]: https://github.com/cheese-api/cheese-api/blob/main/tests/testing_client.rs
"
    };
}

/// What a page gated by a cargo feature says in docs built without it.
#[cfg(not(all(feature = "redis", feature = "testing")))]
macro_rules! needs_feature {
    ($title:literal, $feature:literal, $page:literal) => {
        concat!(
            "# ",
            $title,
            "\n\nThis page's examples need the cargo feature `",
            $feature,
            "`: build the docs with `cargo doc --open -p cheese-api --all-features`, or read ",
            "[docs/",
            $page,
            "](https://github.com/cheese-api/cheese-api/blob/main/docs/",
            $page,
            ")."
        )
    };
}

#[doc = links!()]
#[doc = include_str!("../guide/getting-started.md")]
pub mod getting_started {}

#[doc = links!()]
#[doc = include_str!("../guide/hooks.md")]
pub mod hooks {}

#[doc = links!()]
#[doc = include_str!("../guide/rooms.md")]
pub mod rooms {}

#[doc = links!()]
#[doc = include_str!("../guide/history.md")]
pub mod history {}

#[doc = links!()]
#[doc = include_str!("../guide/limits.md")]
pub mod limits {}

#[doc = links!()]
#[doc = include_str!("../guide/security.md")]
pub mod security {}

#[doc = links!()]
#[doc = include_str!("../guide/deploying.md")]
pub mod deploying {}

#[cfg_attr(feature = "redis", doc = links!(), doc = include_str!("../guide/scaling.md"))]
#[cfg_attr(
    not(feature = "redis"),
    doc = needs_feature!("Scaling out: rooms across processes with Redis", "redis", "scaling.md")
)]
pub mod scaling {}

#[cfg_attr(feature = "testing", doc = links!(), doc = include_str!("../guide/testing.md"))]
#[cfg_attr(
    not(feature = "testing"),
    doc = needs_feature!("Testing an app", "testing", "testing.md")
)]
pub mod testing {}

#[doc = links!()]
#[doc = include_str!("../guide/differences-from-cheeseapi.md")]
pub mod differences_from_cheeseapi {}

#[cfg(test)]
mod tests {
    /// Every page in `guide/`, read through its symbolic link, as
    /// `include_str!` reads it.
    fn pages() -> Vec<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("guide");
        let mut pages: Vec<(String, String)> = std::fs::read_dir(&dir)
            .expect("cheese-api/guide/")
            .map(|entry| {
                let path = entry.expect("a page").path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                (
                    name,
                    std::fs::read_to_string(&path).expect("a readable page"),
                )
            })
            .collect();
        pages.sort();
        assert_eq!(pages.len(), 10, "one module above for each page in guide/");
        pages
    }

    /// The label of a reference definition line, `[label]: destination`.
    fn definition(line: &str) -> Option<(&str, &str)> {
        let rest = line.strip_prefix('[')?;
        let (label, destination) = rest.split_once("]: ")?;
        Some((label, destination.trim()))
    }

    #[test]
    fn every_link_between_pages_has_a_rustdoc_destination() {
        let rustdoc: Vec<&str> = links!()
            .lines()
            .filter_map(definition)
            .map(|(l, _)| l)
            .collect();
        for (page, text) in pages() {
            assert!(
                text.starts_with("# "),
                "{page}: a symbolic link that was not followed? It reads {:?}",
                text.chars().take(40).collect::<String>()
            );
            let mut in_code = false;
            for (n, line) in text.lines().enumerate() {
                if line.starts_with("```") {
                    in_code = !in_code;
                }
                if in_code {
                    continue;
                }
                if let Some((label, destination)) = definition(line) {
                    assert!(
                        absolute(destination) || rustdoc.contains(&label),
                        "{page}: `[{label}]: {destination}` works on GitHub only; define `[{label}]` in links!()"
                    );
                    continue;
                }
                // An inline link, `[text](destination)`, is the same on
                // GitHub and in rustdoc: only an absolute one works in both.
                for (_, after) in line.match_indices("](").map(|(i, _)| line.split_at(i + 2)) {
                    let destination = after.split(')').next().unwrap_or_default();
                    assert!(
                        absolute(destination),
                        "{page}:{}: `({destination})` works on GitHub only; use a reference link, `[text][label]`",
                        n + 1
                    );
                }
            }
        }
    }

    /// A destination that is the same from GitHub and from rustdoc.
    fn absolute(destination: &str) -> bool {
        destination.starts_with("https://") || destination.starts_with('#')
    }
}
