//! What the metrics tests (tests/metrics.rs, tests/metrics_redis.rs) share:
//! Prometheus' text format read into samples, and a sum over the samples
//! with some labels.
#![allow(dead_code)] // each test binary uses a part

/// One line of a scrape: `name{labels} value`.
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// One scrape: its text and its samples.
pub struct Scrape {
    pub text: String,
    pub samples: Vec<Sample>,
}

impl Scrape {
    /// The sum of the samples named `name` that have every label of `labels`
    /// (0 when none: a series appears at its first use).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|sample| {
                sample.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| sample.labels.iter().any(|(hk, hv)| hk == k && hv == v))
            })
            .map(|sample| sample.value)
            .sum()
    }
}

/// Parses Prometheus' text format: `name{label="value",...} number`, and
/// comments.
pub fn parse(text: String) -> Scrape {
    let mut samples = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("a number: {line}"));
        let (name, labels) = match series.split_once('{') {
            None => (series, Vec::new()),
            Some((name, rest)) => (name, labels(rest.strip_suffix('}').expect("closing }"))),
        };
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    Scrape { text, samples }
}

/// `k="v",k2="v2"`, with `\"`, `\\` and `\n` escapes in values.
fn labels(mut rest: &str) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").expect("key=\"value\"");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().expect("a closing quote") {
                (_, '\\') => match chars.next().expect("an escaped character").1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        labels.push((key.to_owned(), value));
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels
}
