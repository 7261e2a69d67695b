//! The fan-out scenario's wire format, shared by its two servers
//! (`bench/src/bin/cheese_fanout.rs`, `bench/src/bin/axum_fanout.rs`) and
//! the client (`bench/src/fanout.rs`): any client sends the text `go <n>`,
//! the server broadcasts [`payload`]`(n)`, 64 bytes of text, to every
//! connection (the sender included).

// Each binary that includes this file uses only part of it.
#![allow(dead_code)]

/// Bytes in a broadcast message.
pub const PAYLOAD_LEN: usize = 64;
const HEADER: &[u8] = b"fanout ";
const DIGITS: usize = 20;
const FILL_FROM: usize = HEADER.len() + DIGITS + 1;

/// The trigger: `go <n>`.
pub fn go(n: u64) -> String {
    format!("go {n}")
}

/// The `n` of a trigger, `None` when `text` is not one.
pub fn parse_go(text: &str) -> Option<u64> {
    text.strip_prefix("go ")?.parse().ok()
}

fn fill(n: u64, j: usize) -> u8 {
    b'a' + ((n % 26) as usize + j) as u8 % 26
}

/// Broadcast `n`: `fanout 00000000000000000042 ` then letters that depend
/// on `n`, 64 bytes in all.
pub fn payload(n: u64) -> String {
    let mut s = String::with_capacity(PAYLOAD_LEN);
    s.push_str(&format!("fanout {n:0DIGITS$} "));
    for j in FILL_FROM..PAYLOAD_LEN {
        s.push(char::from(fill(n, j)));
    }
    s
}

/// The `n` of a broadcast when `data` is exactly [`payload`]`(n)`, byte for
/// byte (checked without allocating); `None` otherwise.
pub fn parse_payload(data: &[u8]) -> Option<u64> {
    if data.len() != PAYLOAD_LEN || !data.starts_with(HEADER) || data[FILL_FROM - 1] != b' ' {
        return None;
    }
    let mut n: u64 = 0;
    for &d in &data[HEADER.len()..FILL_FROM - 1] {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    (FILL_FROM..PAYLOAD_LEN)
        .all(|j| data[j] == fill(n, j))
        .then_some(n)
}
