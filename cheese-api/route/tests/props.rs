//! Issue 6: property tests for the route-pattern parser and the path matcher
//! (`cheese_api_route`, re-exported as `cheese_api::route`).
//!
//! They check that `Pattern::parse` and `Pattern::matches` never panic, that
//! both agree with a naive reference written here from the grammar (and not
//! from `src/`), and that valid patterns round-trip. Each property runs
//! 2000 cases (set `PROPTEST_CASES` to run more); failures found along the way
//! are kept as plain `#[test]`s at the bottom.

use std::fmt::Write as _;

use cheese_api_route::{ParamKind, Pattern, PatternError, Segment};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

/// 2000 cases per property, or `PROPTEST_CASES`. Failing cases are not saved
/// to files: a real one becomes a regression `#[test]` in this file.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(2000);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// The reference: a model of a pattern, and naive parse/decode/match.
// ---------------------------------------------------------------------------

/// A segment as written in the pattern.
#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Lit(String),
    /// `kind` is `None` for `<name>`, else the type name as written.
    Param {
        name: String,
        kind: Option<String>,
    },
}

impl Seg {
    fn kind_name(&self) -> &str {
        match self {
            Seg::Param { kind, .. } => kind.as_deref().unwrap_or("str"),
            Seg::Lit(_) => "",
        }
    }

    /// What the parser should have parsed this into.
    fn expected(&self) -> Segment {
        match self {
            Seg::Lit(l) => Segment::Static(l.clone()),
            Seg::Param { name, .. } => Segment::Param {
                name: name.clone(),
                kind: match self.kind_name() {
                    "str" => ParamKind::Str,
                    "int" => ParamKind::Int,
                    "float" => ParamKind::Float,
                    "uuid" => ParamKind::Uuid,
                    other => ParamKind::Named(other.to_string()),
                },
            },
        }
    }
}

/// A valid pattern, as segments plus whether it is written with a trailing `/`.
#[derive(Debug, Clone)]
struct Model {
    segs: Vec<Seg>,
    trailing: bool,
}

impl Model {
    fn render(&self) -> String {
        let mut s = String::new();
        for seg in &self.segs {
            s.push('/');
            match seg {
                Seg::Lit(l) => s.push_str(l),
                Seg::Param { name, kind: None } => write!(s, "<{name}>").unwrap(),
                Seg::Param {
                    name,
                    kind: Some(k),
                } => write!(s, "<{name}:{k}>").unwrap(),
            }
        }
        if s.is_empty() || self.trailing {
            s.push('/');
        }
        s
    }

    fn names(&self) -> Vec<&str> {
        self.segs
            .iter()
            .filter_map(|s| match s {
                Seg::Param { name, .. } => Some(name.as_str()),
                Seg::Lit(_) => None,
            })
            .collect()
    }
}

fn ref_ident(s: &str) -> bool {
    !s.is_empty()
        && !s.as_bytes()[0].is_ascii_digit()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The grammar, read naively: `None` when the pattern is invalid.
fn ref_parse(s: &str) -> Option<Vec<Seg>> {
    let rest = s.strip_prefix('/')?;
    // One trailing `/` is ignored ("/" alone is the root).
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Some(Vec::new());
    }
    let mut out: Vec<Seg> = Vec::new();
    for part in rest.split('/') {
        if part.is_empty() {
            return None;
        }
        if part.len() >= 2 && part.starts_with('<') && part.ends_with('>') {
            let inner = &part[1..part.len() - 1];
            let (name, kind) = match inner.find(':') {
                Some(i) => (&inner[..i], Some(&inner[i + 1..])),
                None => (inner, None),
            };
            if !ref_ident(name) || kind.is_some_and(|k| !ref_ident(k)) {
                return None;
            }
            if out
                .iter()
                .any(|s| matches!(s, Seg::Param { name: n, .. } if n == name))
            {
                return None;
            }
            out.push(Seg::Param {
                name: name.to_string(),
                kind: kind.map(str::to_string),
            });
        } else if part.contains('<') || part.contains('>') {
            return None;
        } else {
            out.push(Seg::Lit(part.to_string()));
        }
    }
    Some(out)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// `%XX` with two hex digits; anything else after a `%` is malformed.
fn ref_decode(raw: &str) -> Option<String> {
    let b = raw.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hi = hex_value(*b.get(i + 1)?)?;
            let lo = hex_value(*b.get(i + 2)?)?;
            out.push(hi * 16 + lo);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn ref_fits(kind: &str, v: &str) -> bool {
    let digits = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit());
    match kind {
        // Rust's own parser, minus the `+` it accepts.
        "int" => !v.starts_with('+') && v.parse::<i64>().is_ok(),
        "float" => {
            let v = v.strip_prefix('-').unwrap_or(v);
            let parts: Vec<&str> = v.split('.').collect();
            parts.len() == 2 && parts.iter().all(|p| digits(p))
        }
        "uuid" => {
            let groups: Vec<&str> = v.split('-').collect();
            groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
                && groups
                    .iter()
                    .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
        }
        // str and named patterns: any non-empty value.
        _ => !v.is_empty(),
    }
}

fn ref_match(segs: &[Seg], path: &str) -> Option<Vec<(String, String)>> {
    let rest = path.strip_prefix('/')?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let raw: Vec<&str> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('/').collect()
    };
    if raw.len() != segs.len() {
        return None;
    }
    let mut params = Vec::new();
    for (seg, raw) in segs.iter().zip(raw) {
        let value = ref_decode(raw)?;
        match seg {
            Seg::Lit(l) => {
                if *l != value {
                    return None;
                }
            }
            Seg::Param { name, .. } => {
                if !ref_fits(seg.kind_name(), &value) {
                    return None;
                }
                params.push((name.clone(), value));
            }
        }
    }
    Some(params)
}

// ---------------------------------------------------------------------------
// Generators.
// ---------------------------------------------------------------------------

fn ident() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_]{0,6}"
}

fn kind() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        2 => Just(None),
        2 => Just(Some("str".to_string())),
        3 => Just(Some("int".to_string())),
        3 => Just(Some("float".to_string())),
        3 => Just(Some("uuid".to_string())),
        1 => ident().prop_map(Some),
    ]
}

/// Literal text: no `/`, `<` or `>`, but `%`, punctuation, digits and unicode.
fn literal() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z]{1,6}",
        2 => "[a-zA-Z0-9._~!$&'()*+,;=:@%?# -]{1,8}",
        1 => "[a-zé日€ü0-9-]{1,5}",
        1 => "-?[0-9]{1,4}",
    ]
}

fn segment() -> impl Strategy<Value = Seg> {
    prop_oneof![
        2 => literal().prop_map(Seg::Lit),
        3 => (ident(), kind()).prop_map(|(name, kind)| Seg::Param { name, kind }),
    ]
}

/// A valid pattern: parameter names made unique.
fn model() -> impl Strategy<Value = Model> {
    (prop::collection::vec(segment(), 0..6), any::<bool>()).prop_map(|(mut segs, trailing)| {
        let mut seen: Vec<String> = Vec::new();
        for (i, seg) in segs.iter_mut().enumerate() {
            if let Seg::Param { name, .. } = seg {
                if seen.contains(name) {
                    write!(name, "_{i}").unwrap();
                }
                seen.push(name.clone());
            }
        }
        Model { segs, trailing }
    })
}

const I64_MAX: i128 = i64::MAX as i128;
const I64_MIN: i128 = i64::MIN as i128;

/// A decoded value that fits `kind`.
fn good_value(kind: &str) -> BoxedStrategy<String> {
    match kind {
        "int" => prop_oneof![
            4 => any::<i64>().prop_map(|n| n.to_string()),
            2 => "-?[0-9]{1,5}",
            1 => Just(i64::MAX.to_string()),
            1 => Just(i64::MIN.to_string()),
            1 => Just("-0".to_string()),
            1 => "0{1,3}[0-9]{1,3}",
        ]
        .boxed(),
        "float" => prop_oneof![
            4 => "-?[0-9]{1,6}\\.[0-9]{1,6}",
            1 => "-?0\\.0{1,3}",
            1 => "[0-9]{15,25}\\.[0-9]{15,25}",
        ]
        .boxed(),
        "uuid" => prop_oneof![
            2 => "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            2 => "[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}",
            2 => "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        ]
        .boxed(),
        _ => prop_oneof![
            4 => "[a-zA-Z0-9_.~-]{1,10}",
            2 => "[a-z0-9 %/é日€?#:<>+-]{1,8}",
            1 => "\\PC{1,6}",
            1 => any::<String>().prop_filter("non-empty", |s| !s.is_empty()),
        ]
        .boxed(),
    }
}

/// A decoded value close to `kind`'s but (usually) not fitting it.
fn near_miss(kind: &str) -> BoxedStrategy<String> {
    let any_kind = prop_oneof![
        Just(String::new()),
        "[a-z]{1,4}",
        "-?[0-9]{1,4}",
        "-?[0-9]{1,4}\\.[0-9]{1,4}",
    ];
    match kind {
        "int" => prop_oneof![
            // i64 overflow, both ways.
            2 => (I64_MAX + 1..I64_MAX + 100_000).prop_map(|n| n.to_string()),
            2 => (I64_MIN - 100_000..I64_MIN).prop_map(|n| n.to_string()),
            1 => "-?[1-9][0-9]{19,25}",
            1 => "[+]-?[0-9]{1,5}",
            1 => "--?[0-9]{0,3}",
            1 => "[0-9]{1,3}[.e x][0-9]{0,3}",
            1 => "[ ]?[0-9]{1,3}[ ]?",
            1 => "0x[0-9a-f]{1,4}",
            1 => "[٣५５][0-9]{0,2}",
            1 => any_kind,
        ]
        .boxed(),
        "float" => prop_oneof![
            // A float without a dot is an int.
            2 => "-?[0-9]{1,6}",
            1 => "-?[0-9]{1,3}\\.",
            1 => "-?\\.[0-9]{1,3}",
            1 => "-?[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
            1 => "[+-]{1,2}[0-9]{1,3}\\.[0-9]{1,3}",
            1 => "[0-9]{1,3}[,e][0-9]{1,3}",
            1 => "[0-9]{1,3}\\.[0-9]{1,3}e-?[0-9]",
            1 => any::<f64>().prop_map(|f| format!("{f:?}")),
            1 => prop::sample::select(vec!["NaN", "inf", "-inf", "-", "."]).prop_map(String::from),
            1 => any_kind,
        ]
        .boxed(),
        "uuid" => prop_oneof![
            2 => "[0-9a-fA-F]{7,9}-[0-9a-fA-F]{3,5}-[0-9a-fA-F]{3,5}-[0-9a-fA-F]{3,5}-[0-9a-fA-F]{11,13}",
            1 => "[0-9a-fg]{8}-[0-9a-fG]{4}-[0-9a-fz]{4}-[0-9a-f]{4}-[0-9a-fé]{12}",
            1 => "[0-9a-f]{32}",
            1 => "\\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\\}",
            1 => "[0-9a-f]{8}[-_:][0-9a-f]{4}[-_]{1,2}[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            1 => any_kind,
        ]
        .boxed(),
        _ => prop_oneof![3 => Just(String::new()), 1 => any_kind].boxed(),
    }
}

/// Some other text in place of literal `l`.
fn literal_near_miss(l: &str) -> BoxedStrategy<String> {
    let upper = l.to_uppercase();
    let (l1, l2) = (l.to_string(), l.to_string());
    prop_oneof![
        Just(upper),
        Just(String::new()),
        "[a-z%]".prop_map(move |c| format!("{l1}{c}")),
        Just(l2.chars().skip(1).collect::<String>()),
        literal(),
    ]
    .boxed()
}

fn push_escape(out: &mut String, c: char, upper: bool) {
    let mut buf = [0u8; 4];
    for b in c.encode_utf8(&mut buf).bytes() {
        if upper {
            write!(out, "%{b:02X}").unwrap();
        } else {
            write!(out, "%{b:02x}").unwrap();
        }
    }
}

/// A wire form of the decoded `value`: as is (with `/` and `%` escaped),
/// every character escaped, or a random mix of escaped, upper/lowercase hex
/// and literal characters (a literal `%` now and then).
fn encoded(value: String) -> BoxedStrategy<String> {
    encoded_with(value, true)
}

/// Like [`encoded`], with `raw_percent` false: always a faithful encoding.
fn encoded_with(value: String, raw_percent: bool) -> BoxedStrategy<String> {
    let n = value.chars().count();
    (0u8..3, prop::collection::vec(0u8..8, n))
        .prop_map(move |(style, modes)| {
            let mut out = String::new();
            for (c, mode) in value.chars().zip(modes) {
                let (escape, upper) = match style {
                    0 => (c == '/' || c == '%', true),
                    1 => (true, mode % 2 == 0),
                    _ => match mode {
                        0..=3 => (c == '/' || c == '%', mode % 2 == 0),
                        4 | 5 => (true, mode == 4),
                        6 => (c == '/' || (c == '%' && !raw_percent), false),
                        _ => (true, false),
                    },
                };
                if escape {
                    push_escape(&mut out, c, upper);
                } else {
                    out.push(c);
                }
            }
            out
        })
        .boxed()
}

/// The raw path segment for one pattern segment: usually a fitting value.
fn raw_segment(seg: &Seg) -> BoxedStrategy<String> {
    let value = match seg {
        Seg::Lit(l) => prop_oneof![10 => Just(l.clone()), 1 => literal_near_miss(l)].boxed(),
        Seg::Param { .. } => {
            let k = seg.kind_name();
            prop_oneof![6 => good_value(k), 1 => near_miss(k)].boxed()
        }
    };
    value.prop_flat_map(encoded).boxed()
}

/// How a generated path strays from the pattern, if at all.
#[derive(Debug, Clone)]
enum Mutation {
    None,
    DropSegment(Index),
    ExtraSegment(Index, String),
    NoLeadingSlash,
    /// A malformed or non-UTF-8 escape inserted into a segment.
    BadEscape(Index, Index, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let bad_escape = prop_oneof![
        "%[0-9a-fA-FgGzZ +-]{0,2}",
        prop::sample::select(vec!["%FF", "%C3", "%C3%28", "%E2%82", "%ED%A0%80", "%80"])
            .prop_map(String::from),
    ];
    prop_oneof![
        24 => Just(Mutation::None),
        1 => any::<Index>().prop_map(Mutation::DropSegment),
        1 => (any::<Index>(), "[a-z0-9]{0,3}").prop_map(|(i, s)| Mutation::ExtraSegment(i, s)),
        1 => Just(Mutation::NoLeadingSlash),
        3 => (any::<Index>(), any::<Index>(), bad_escape)
            .prop_map(|(i, j, e)| Mutation::BadEscape(i, j, e)),
    ]
}

/// A path made from the pattern, likely to match it.
fn path_for(m: &Model) -> BoxedStrategy<String> {
    let raws: Vec<BoxedStrategy<String>> = m.segs.iter().map(raw_segment).collect();
    (raws, 0usize..3, mutation())
        .prop_map(|(mut raws, trailing, mutation)| {
            let mut leading = "/";
            match mutation {
                Mutation::None => {}
                Mutation::DropSegment(i) => {
                    if !raws.is_empty() {
                        raws.remove(i.index(raws.len()));
                    }
                }
                Mutation::ExtraSegment(i, s) => raws.insert(i.index(raws.len() + 1), s),
                Mutation::NoLeadingSlash => leading = "",
                Mutation::BadEscape(i, j, e) => {
                    if !raws.is_empty() {
                        let at = i.index(raws.len());
                        let seg = &mut raws[at];
                        let bounds: Vec<usize> = (0..=seg.len())
                            .filter(|&b| seg.is_char_boundary(b))
                            .collect();
                        seg.insert_str(bounds[j.index(bounds.len())], &e);
                    }
                }
            }
            format!("{leading}{}{}", raws.join("/"), "/".repeat(trailing))
        })
        .boxed()
}

fn model_and_path() -> impl Strategy<Value = (Model, String)> {
    model().prop_flat_map(|m| {
        let path = path_for(&m);
        (Just(m), path)
    })
}

/// Strings built from the grammar's pieces, valid or not.
fn pattern_soup() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        6 => Just("/".to_string()),
        2 => Just("<".to_string()),
        2 => Just(">".to_string()),
        2 => Just(":".to_string()),
        3 => ident(),
        2 => prop::sample::select(vec!["str", "int", "float", "uuid"]).prop_map(String::from),
        2 => (ident(), ident()).prop_map(|(n, k)| format!("<{n}:{k}>")),
        2 => ident().prop_map(|n| format!("<{n}>")),
        1 => Just("%".to_string()),
        1 => "%[0-9a-fA-F]{2}",
        2 => prop::sample::select(vec!["é", "日本", "€", "ü", "\u{1F9C0}", " ", "//", "\0", "_", "1"])
            .prop_map(String::from),
        1 => "\\PC{1,3}",
    ];
    (0u8..10, prop::collection::vec(token, 0..12)).prop_map(|(lead, tokens)| {
        let body = tokens.concat();
        if lead < 8 {
            format!("/{body}")
        } else {
            body
        }
    })
}

/// Path-like strings, valid or not.
fn path_soup() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        6 => Just("/".to_string()),
        3 => "[a-z]{1,5}",
        2 => "-?[0-9]{1,20}(\\.[0-9]{1,3})?",
        1 => "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        2 => "%[0-9a-fA-FgG+ -]{0,2}",
        1 => prop::sample::select(vec!["%2F", "%25", "%C3%A9", "%FF", "é", "日本", ".", "-", "//"])
            .prop_map(String::from),
        1 => "\\PC{1,3}",
    ];
    (0u8..10, prop::collection::vec(token, 0..10)).prop_map(|(lead, tokens)| {
        let body = tokens.concat();
        if lead < 9 {
            format!("/{body}")
        } else {
            body
        }
    })
}

fn typed_value() -> impl Strategy<Value = (String, String)> {
    prop::sample::select(vec!["str", "int", "float", "uuid", "cheese"]).prop_flat_map(|k| {
        let v = prop_oneof![good_value(k), near_miss(k), any::<String>()];
        (Just(k.to_string()), v)
    })
}

// ---------------------------------------------------------------------------
// Checks shared by the properties.
// ---------------------------------------------------------------------------

/// Every range of the error (`range` and `also`) is a non-empty run of
/// whole characters inside the input.
fn check_error(source: &str, e: &PatternError) -> Result<(), TestCaseError> {
    for r in e.ranges() {
        prop_assert!(
            r.start <= r.end && r.end <= source.len(),
            "{e} in {source:?}"
        );
        prop_assert!(
            source.is_char_boundary(r.start) && source.is_char_boundary(r.end),
            "{e}: not on char boundaries of {source:?}"
        );
        prop_assert!(
            !r.is_empty() || source.is_empty(),
            "{e}: empty range in {source:?}"
        );
    }
    Ok(())
}

/// `parse_all` on an invalid pattern: every error well placed, in order,
/// the first one the error `parse` gives.
fn check_all_errors(source: &str, first: &PatternError) -> Result<(), TestCaseError> {
    let all = Pattern::parse_all(source).expect_err("parse failed, parse_all must too");
    prop_assert_eq!(&all[0], first);
    for e in &all {
        check_error(source, e)?;
    }
    prop_assert!(
        all.windows(2).all(|w| w[0].range.start <= w[1].range.start),
        "errors out of order in {:?}: {:?}",
        source,
        all
    );
    Ok(())
}

/// `parse` on any string: no panic, error ranges inside the input, and
/// the same verdict and segments as the reference parser.
fn check_parse(source: &str) -> Result<(), TestCaseError> {
    let parsed = Pattern::parse(source);
    let reference = ref_parse(source);
    match (&parsed, &reference) {
        (Ok(p), Some(segs)) => {
            prop_assert_eq!(p.as_str(), source);
            let expected: Vec<Segment> = segs.iter().map(Seg::expected).collect();
            prop_assert_eq!(p.segments(), &expected[..]);
            // And it matches without panicking.
            let _ = p.matches(source);
            let _ = p.matches("/");
        }
        (Err(e), None) => check_all_errors(source, e)?,
        _ => prop_assert!(
            false,
            "parse({source:?}) = {parsed:?}, reference says {reference:?}"
        ),
    }
    Ok(())
}

fn check_match(m: &Model, path: &str) -> Result<(), TestCaseError> {
    let source = m.render();
    let p = Pattern::parse(&source).map_err(|e| TestCaseError::fail(format!("{source:?}: {e}")))?;
    prop_assert_eq!(
        p.matches(path),
        ref_match(&m.segs, path),
        "pattern {:?}, path {:?}",
        source,
        path
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// The properties.
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// 1 + 3: any string at all.
    #[test]
    fn parse_any_string(source in any::<String>()) {
        check_parse(&source)?;
    }

    /// 1 + 3: strings from the grammar's pieces (`/ < > :`, idents, `%`, unicode).
    #[test]
    fn parse_grammar_soup(source in pattern_soup()) {
        check_parse(&source)?;
    }

    /// 3: a generated valid pattern parses, as written, with its names in order.
    #[test]
    fn valid_patterns_round_trip(m in model()) {
        let source = m.render();
        let p = Pattern::parse(&source)
            .map_err(|e| TestCaseError::fail(format!("{source:?}: {e}")))?;
        prop_assert_eq!(p.as_str(), source.as_str());
        prop_assert_eq!(p.to_string(), source.clone());
        prop_assert_eq!(p.param_names().collect::<Vec<_>>(), m.names());
        let expected: Vec<Segment> = m.segs.iter().map(Seg::expected).collect();
        prop_assert_eq!(p.segments(), &expected[..]);
    }

    /// 1 + 2: valid patterns against paths made from them (fitting values,
    /// near misses, escapes, trailing slashes, extra/missing segments).
    #[test]
    fn matches_agrees_on_paths_from_the_pattern((m, path) in model_and_path()) {
        check_match(&m, &path)?;
    }

    /// 1 + 2: valid patterns against arbitrary paths.
    #[test]
    fn matches_agrees_on_arbitrary_paths(
        m in model(),
        path in prop_oneof![path_soup(), any::<String>()],
    ) {
        check_match(&m, &path)?;
    }

    /// 2: any decoded value, escaped any way, comes back out of `<v>`.
    #[test]
    fn escaped_values_decode(
        value in any::<String>().prop_filter("non-empty", |s| !s.is_empty())
            .prop_flat_map(|v| (Just(v.clone()), encoded_with(v, false))),
        trailing in any::<bool>(),
    ) {
        let (value, raw) = value;
        let p = Pattern::parse("/x/<v>").unwrap();
        let path = format!("/x/{raw}{}", if trailing { "/" } else { "" });
        prop_assert_eq!(p.matches(&path), Some(vec![("v".to_string(), value)]));
    }

    /// 2: segments full of escapes, well-formed or not (bad hex, a sign,
    /// cut short, not UTF-8), decode as the reference decodes them.
    #[test]
    fn percent_decoding_agrees(
        raw in prop::collection::vec(
            prop_oneof![
                4 => "%[0-9a-fA-FgG +-]{0,2}",
                2 => "%[0-9a-fA-F]{2}",
                1 => "%[c-eC-E][0-9a-f]%[89ab][0-9a-f]",
                2 => "[a-z0-9+ -]",
                1 => Just("é".to_string()),
            ],
            1..8,
        ).prop_map(|t| t.concat()),
        literal in any::<bool>(),
    ) {
        let (source, segs) = if literal {
            ("/x/abc", vec![Seg::Lit("x".into()), Seg::Lit("abc".into())])
        } else {
            ("/x/<v>", vec![Seg::Lit("x".into()), Seg::Param { name: "v".into(), kind: None }])
        };
        let path = format!("/x/{raw}");
        prop_assert_eq!(
            Pattern::parse(source).unwrap().matches(&path),
            ref_match(&segs, &path),
            "{}", path
        );
    }

    /// 2: the built-in type checks against the reference's.
    #[test]
    fn builtin_types_agree((kind, value) in typed_value()) {
        let k = Seg::Param { name: "x".into(), kind: Some(kind.clone()) }.expected();
        let Segment::Param { kind: k, .. } = k else { unreachable!() };
        prop_assert_eq!(k.matches_builtin(&value), ref_fits(&kind, &value), "{} {:?}", kind, value);
    }
}

/// The path generator is not vacuous: it makes paths that match and paths
/// that don't, in good measure.
#[test]
fn paths_from_the_pattern_often_match() {
    let mut runner = TestRunner::deterministic();
    let strategy = model_and_path();
    let (mut hits, total) = (0, 1000);
    for _ in 0..total {
        let (m, path) = strategy.new_tree(&mut runner).unwrap().current();
        if ref_match(&m.segs, &path).is_some() {
            hits += 1;
        }
    }
    eprintln!("{hits} of {total} generated paths match their pattern");
    assert!(
        (total / 5..total * 4 / 5).contains(&hits),
        "{hits} of {total} generated paths match"
    );
}

/// The reference itself, on a few hand-checked cases.
#[test]
fn reference_sanity() {
    let m = Model {
        segs: vec![
            Seg::Lit("x".into()),
            Seg::Param {
                name: "a".into(),
                kind: Some("int".into()),
            },
        ],
        trailing: false,
    };
    assert_eq!(m.render(), "/x/<a:int>");
    assert_eq!(
        ref_match(&m.segs, "/%78/-5/"),
        Some(vec![("a".into(), "-5".into())])
    );
    assert_eq!(ref_match(&m.segs, "/x/+5"), None);
    assert_eq!(ref_match(&m.segs, "/x/9223372036854775808"), None);
    assert_eq!(ref_decode("%+4"), None);
    assert_eq!(ref_parse("//"), Some(vec![]));
    assert_eq!(ref_parse("/a//"), None);
}

// ---------------------------------------------------------------------------
// Regressions found by the properties above.
// ---------------------------------------------------------------------------

/// `u8::from_str_radix` takes a leading `+`, so `%+4` used to decode to byte 4
/// (and `%+f` to 15) instead of being a malformed escape.
#[test]
fn regression_escape_with_a_sign_is_malformed() {
    let p = Pattern::parse("/<name>").unwrap();
    assert_eq!(p.matches("/%+4"), None);
    assert_eq!(p.matches("/p%+fp"), None);
    assert_eq!(p.matches("/%-4"), None);
    assert_eq!(p.matches("/%04").unwrap()[0].1, "\u{4}");
}

/// The error for a route not starting with `/` covered byte 0 only, which
/// splits a multi-byte first character.
#[test]
fn regression_error_range_covers_the_whole_first_char() {
    assert_eq!(Pattern::parse("é").unwrap_err().range, 0..2);
    assert_eq!(Pattern::parse("日/x").unwrap_err().range, 0..3);
    assert_eq!(Pattern::parse("room").unwrap_err().range, 0..1);
    assert_eq!(Pattern::parse("").unwrap_err().range, 0..0);
}

/// A bad name and a missing type in one segment: the type's error covered
/// the whole segment, so it started before the name's (errors must come in
/// order, as the macro draws them).
#[test]
fn regression_errors_of_one_segment_are_in_order() {
    let all = Pattern::parse_all("/<<:>/").unwrap_err();
    let ranges: Vec<_> = all.iter().map(|e| e.range.clone()).collect();
    assert_eq!(ranges, [2..3, 3..4]);
}
