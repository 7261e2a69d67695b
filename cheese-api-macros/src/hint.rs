//! Words for error messages: "did you mean", lists, and code as a person
//! writes it.

use quote::ToTokens;

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest of `candidates` to `name`, if one is close enough to be a
/// typo (`on_` and `_hook` around a hook's name are forgiven).
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let trimmed = name.trim_start_matches("on_").trim_end_matches("_hook");
    candidates
        .into_iter()
        .map(|c| (edit_distance(trimmed, c).min(edit_distance(name, c)), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// ": did you mean `x`?" for the closest candidate, or nothing.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    match closest(name, candidates) {
        Some(c) => format!(": did you mean `{c}`?"),
        None => String::new(),
    }
}

/// "a, b and c".
pub fn and_list(items: &[String]) -> String {
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => items.concat(),
    }
}

/// Tokens as a person writes them: `Box<Self>`, not `Box < Self >`.
pub fn tidy(tokens: &impl ToTokens) -> String {
    let mut s = tokens.to_token_stream().to_string();
    for (from, to) in [
        (" < ", "<"),
        ("< ", "<"),
        (" <", "<"),
        (" >", ">"),
        ("& ", "&"),
        (" :: ", "::"),
        (" ,", ","),
        ("' ", "'"),
    ] {
        s = s.replace(from, to);
    }
    s
}
