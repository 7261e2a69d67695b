//! Number formatting for the tables, the chart and the progress log:
//! thousands separators, durations in the unit that reads best, CPU time
//! as a share of one core.

use std::time::Duration;

/// 1234567.8 → "1,234,568"; small values keep one or two decimals.
pub fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        return "?".to_owned();
    }
    if x.abs() < 10.0 {
        return format!("{x:.2}");
    }
    if x.abs() < 1000.0 {
        return format!("{x:.1}");
    }
    let digits = fmt_int(x.abs().round() as u64);
    if x < 0.0 {
        format!("-{digits}")
    } else {
        digits
    }
}

/// 1234567 → "1,234,567".
pub fn fmt_int(n: u64) -> String {
    let digits = n.to_string();
    let first = match digits.len() % 3 {
        0 => 3,
        r => r,
    };
    let mut out = String::from(&digits[..first.min(digits.len())]);
    for group in digits.as_bytes()[first.min(digits.len())..].chunks(3) {
        out.push(',');
        out.push_str(std::str::from_utf8(group).unwrap_or_default());
    }
    out
}

/// A duration in µs, ms or s, whichever reads best; "–" for none.
pub fn fmt_dur(d: Option<Duration>) -> String {
    match d {
        None => "–".to_owned(),
        Some(d) if d < Duration::from_millis(1) => format!("{:.0} µs", d.as_secs_f64() * 1e6),
        Some(d) if d < Duration::from_secs(1) => format!("{:.2} ms", d.as_secs_f64() * 1e3),
        Some(d) => format!("{:.2} s", d.as_secs_f64()),
    }
}

/// Microseconds of CPU (two decimals under 100 µs); "–" for none.
pub fn fmt_opt_us(us: Option<f64>) -> String {
    match us {
        None => "–".to_owned(),
        Some(us) if us < 100.0 => format!("{us:.2} µs"),
        Some(us) => format!("{} µs", fmt_num(us)),
    }
}

/// CPU time as a share of one core over `window`, e.g. "97 %"; "–" for
/// none.
pub fn fmt_pct(cpu: Option<Duration>, window: Duration) -> String {
    match cpu {
        None => "–".to_owned(),
        Some(c) => format!(
            "{:.0} %",
            c.as_secs_f64() / window.as_secs_f64().max(1e-9) * 100.0
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_readable() {
        assert_eq!(fmt_num(1_234_567.8), "1,234,568");
        assert_eq!(fmt_num(999.94), "999.9");
        assert_eq!(fmt_num(6.3), "6.30");
        assert_eq!(fmt_int(5000), "5,000");
        assert_eq!(fmt_int(12), "12");
        assert_eq!(fmt_int(0), "0");
        assert_eq!(fmt_int(999), "999");
        assert_eq!(fmt_int(100_000), "100,000");
        assert_eq!(fmt_int(1_234_567), "1,234,567");
        assert_eq!(fmt_dur(Some(Duration::from_micros(250))), "250 µs");
        assert_eq!(fmt_dur(Some(Duration::from_micros(4_010))), "4.01 ms");
    }
}
