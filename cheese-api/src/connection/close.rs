//! The rules of closing: which codes an endpoint may send and how long a
//! reason may be (RFC 6455).

use crate::connection::socket::SendError;

/// Checks a close code and reason against RFC 6455.
pub(crate) fn validate_close(code: u16, reason: &str) -> Result<(), SendError> {
    let code_ok = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
    if !code_ok {
        return Err(SendError::InvalidClose(format!(
            "close code {code} may not be sent: use 1000-1003, 1007-1014 or 3000-4999"
        )));
    }
    if reason.len() > 123 {
        return Err(SendError::InvalidClose(format!(
            "close reason is {} bytes; at most 123 fit in a close frame",
            reason.len()
        )));
    }
    Ok(())
}

/// Cuts a reason to at most 123 bytes on a character boundary.
pub(crate) fn truncate_reason(reason: &mut String) {
    if reason.len() > 123 {
        let mut end = 120;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        reason.push_str("...");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes() {
        for ok in [1000, 1003, 1007, 1014, 3000, 4999] {
            assert!(validate_close(ok, "").is_ok(), "{ok}");
        }
        for bad in [0, 999, 1004, 1005, 1006, 1015, 2999, 5000] {
            assert!(validate_close(bad, "").is_err(), "{bad}");
        }
        assert!(validate_close(1000, &"x".repeat(124)).is_err());
    }

    #[test]
    fn truncation_keeps_utf8() {
        let mut s = "é".repeat(100);
        truncate_reason(&mut s);
        assert!(s.len() <= 123);
        assert!(s.ends_with("..."));
    }
}
