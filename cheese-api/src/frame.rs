//! The WebSocket wire format (RFC 6455 §5), server side: decoding client
//! frames out of a read buffer and encoding server frames into a write
//! buffer.
//!
//! Decoding checks everything a server must (masking, reserved bits and
//! opcodes, control-frame rules, fragmentation order, UTF-8, close payloads)
//! and the size limit from the header, before the payload is buffered. A
//! frame's payload is split off the read buffer without copying; a message
//! in one frame reaches the hook as that same memory.

use bytes::{Buf, BufMut, Bytes, BytesMut};

pub(crate) const CONTINUATION: u8 = 0x0;
pub(crate) const TEXT: u8 = 0x1;
pub(crate) const BINARY: u8 = 0x2;
pub(crate) const CLOSE: u8 = 0x8;
pub(crate) const PING: u8 = 0x9;
pub(crate) const PONG: u8 = 0xA;

/// Why the connection must be failed: the close code and reason to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fail(pub u16, pub &'static str);

const PROTOCOL: fn(&'static str) -> Fail = |why| Fail(1002, why);

/// What a complete read produced.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// A whole data message; `text` payloads are valid UTF-8.
    Data {
        text: bool,
        payload: Bytes,
    },
    Ping(Bytes),
    Pong(Bytes),
    /// The peer's close: its code (1005 when absent) and reason.
    Close {
        code: u16,
        reason: Bytes,
    },
}

/// A message being reassembled from fragments.
struct Partial {
    text: bool,
    data: BytesMut,
    /// Bytes of `data` known to be valid UTF-8 (text only).
    valid: usize,
}

/// Frame decoder and message reassembler for one connection.
pub(crate) struct Decoder {
    max_size: usize,
    partial: Option<Partial>,
}

/// The outcome of one decoding step.
pub(crate) enum Step {
    /// A complete frame or message.
    Ready(Incoming),
    /// A data fragment was taken in; decode again.
    Continue,
    /// The buffer holds no whole frame: at least this many bytes are needed
    /// in all (the current frame's full length once its header is known).
    Need(usize),
}

/// Validates `data[*valid..]` as UTF-8, allowing an incomplete character at
/// the end unless `fin`.
fn check_utf8(data: &[u8], valid: &mut usize, fin: bool) -> Result<(), Fail> {
    match std::str::from_utf8(&data[*valid..]) {
        Ok(_) => {
            *valid = data.len();
            Ok(())
        }
        Err(e) if e.error_len().is_none() && !fin => {
            *valid += e.valid_up_to();
            Ok(())
        }
        Err(_) => Err(Fail(1007, "invalid UTF-8 in a text message")),
    }
}

/// XORs `data` with the 4-byte `key`, eight bytes at a time.
pub(crate) fn unmask(data: &mut [u8], key: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let v = u64::from_ne_bytes(chunk.try_into().unwrap()) ^ wide;
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

impl Decoder {
    pub(crate) fn new(max_size: Option<usize>) -> Decoder {
        Decoder {
            max_size: max_size.unwrap_or(usize::MAX),
            partial: None,
        }
    }

    /// Decodes the next frame at the front of `buf`.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Step, Fail> {
        if buf.len() < 2 {
            return Ok(Step::Need(2));
        }
        let (b0, b1) = (buf[0], buf[1]);
        let fin = b0 & 0x80 != 0;
        let opcode = b0 & 0x0F;
        if b0 & 0x70 != 0 {
            return Err(PROTOCOL("reserved bits set"));
        }
        if b1 & 0x80 == 0 {
            return Err(PROTOCOL("client frames must be masked"));
        }
        let (len, ext) = match b1 & 0x7F {
            126 => {
                if buf.len() < 4 {
                    return Ok(Step::Need(4));
                }
                (u16::from_be_bytes([buf[2], buf[3]]) as u64, 2)
            }
            127 => {
                if buf.len() < 10 {
                    return Ok(Step::Need(10));
                }
                let len = u64::from_be_bytes(buf[2..10].try_into().unwrap());
                if len >> 63 != 0 {
                    return Err(PROTOCOL("frame length has its top bit set"));
                }
                (len, 8)
            }
            n => (n as u64, 0),
        };
        match opcode {
            CLOSE | PING | PONG => {
                if !fin {
                    return Err(PROTOCOL("fragmented control frame"));
                }
                if len > 125 {
                    return Err(PROTOCOL("control frame over 125 bytes"));
                }
            }
            CONTINUATION | TEXT | BINARY => {
                let so_far = self.partial.as_ref().map_or(0, |p| p.data.len()) as u64;
                if so_far + len > self.max_size as u64 {
                    return Err(Fail(1009, "message too big"));
                }
                match (opcode, self.partial.is_some()) {
                    (CONTINUATION, false) => {
                        return Err(PROTOCOL("continuation with nothing to continue"))
                    }
                    (TEXT | BINARY, true) => {
                        return Err(PROTOCOL("new message inside a fragmented one"))
                    }
                    _ => {}
                }
            }
            _ => return Err(PROTOCOL("reserved opcode")),
        }
        let header = 2 + ext + 4;
        let total = header + len as usize;
        if buf.len() < total {
            return Ok(Step::Need(total));
        }
        let key: [u8; 4] = buf[header - 4..header].try_into().unwrap();
        let mut payload = buf.split_to(total);
        payload.advance(header);
        unmask(&mut payload, key);
        match opcode {
            PING => Ok(Step::Ready(Incoming::Ping(payload.freeze()))),
            PONG => Ok(Step::Ready(Incoming::Pong(payload.freeze()))),
            CLOSE => Self::close(payload.freeze()).map(Step::Ready),
            CONTINUATION => {
                let partial = self.partial.as_mut().expect("checked above");
                partial.data.extend_from_slice(&payload);
                if partial.text {
                    check_utf8(&partial.data, &mut partial.valid, fin)?;
                }
                if !fin {
                    return Ok(Step::Continue);
                }
                let partial = self.partial.take().expect("checked above");
                Ok(Step::Ready(Incoming::Data {
                    text: partial.text,
                    payload: partial.data.freeze(),
                }))
            }
            _ => {
                let text = opcode == TEXT;
                if fin {
                    if text {
                        check_utf8(&payload, &mut 0, true)?;
                    }
                    return Ok(Step::Ready(Incoming::Data {
                        text,
                        payload: payload.freeze(),
                    }));
                }
                let mut partial = Partial {
                    text,
                    data: payload,
                    valid: 0,
                };
                if text {
                    check_utf8(&partial.data, &mut partial.valid, false)?;
                }
                self.partial = Some(partial);
                Ok(Step::Continue)
            }
        }
    }

    fn close(payload: Bytes) -> Result<Incoming, Fail> {
        match payload.len() {
            0 => Ok(Incoming::Close {
                code: 1005,
                reason: Bytes::new(),
            }),
            1 => Err(PROTOCOL("close payload of one byte")),
            _ => {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                if !valid_close_code(code) {
                    return Err(PROTOCOL("invalid close code"));
                }
                let reason = payload.slice(2..);
                if std::str::from_utf8(&reason).is_err() {
                    return Err(Fail(1007, "invalid UTF-8 in the close reason"));
                }
                Ok(Incoming::Close { code, reason })
            }
        }
    }
}

/// Appends one unmasked server frame (FIN set) to `out`.
pub(crate) fn encode(out: &mut BytesMut, opcode: u8, payload: &[u8]) {
    let len = payload.len();
    out.reserve(len + 10);
    out.put_u8(0x80 | opcode);
    if len < 126 {
        out.put_u8(len as u8);
    } else if len <= 0xFFFF {
        out.put_u8(126);
        out.put_u16(len as u16);
    } else {
        out.put_u8(127);
        out.put_u64(len as u64);
    }
    out.extend_from_slice(payload);
}

/// Appends a close frame with `code` and `reason`.
pub(crate) fn encode_close(out: &mut BytesMut, code: u16, reason: &str) {
    let mut payload = [0u8; 125];
    let reason = &reason.as_bytes()[..reason.len().min(123)];
    payload[..2].copy_from_slice(&code.to_be_bytes());
    payload[2..2 + reason.len()].copy_from_slice(reason);
    encode(out, CLOSE, &payload[..2 + reason.len()]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let key = [1u8, 2, 3, 4];
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 0xFFFF => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        out
    }

    fn decode_all(d: &mut Decoder, bytes: &[u8]) -> Result<Vec<Incoming>, Fail> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        loop {
            match d.decode(&mut buf)? {
                Step::Ready(m) => out.push(m),
                Step::Continue => {}
                Step::Need(_) => return Ok(out),
            }
        }
    }

    #[test]
    fn unmask_matches_the_byte_loop() {
        for len in 0..40 {
            let data: Vec<u8> = (0..len as u8).collect();
            let mut fast = data.clone();
            unmask(&mut fast, [9, 8, 7, 6]);
            let slow: Vec<u8> = data
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ [9, 8, 7, 6][i % 4])
                .collect();
            assert_eq!(fast, slow);
        }
    }

    #[test]
    fn whole_and_fragmented_messages() {
        let mut d = Decoder::new(Some(1 << 20));
        let mut bytes = client_frame(true, TEXT, b"hello");
        bytes.extend(client_frame(false, BINARY, &[1; 200]));
        bytes.extend(client_frame(true, PING, b"p"));
        bytes.extend(client_frame(true, CONTINUATION, &[2; 70000]));
        let got = decode_all(&mut d, &bytes).unwrap();
        assert_eq!(
            got[0],
            Incoming::Data {
                text: true,
                payload: Bytes::from_static(b"hello")
            }
        );
        assert_eq!(got[1], Incoming::Ping(Bytes::from_static(b"p")));
        match &got[2] {
            Incoming::Data {
                text: false,
                payload,
            } => {
                assert_eq!(payload.len(), 70200);
                assert!(
                    payload[..200].iter().all(|b| *b == 1)
                        && payload[200..].iter().all(|b| *b == 2)
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn need_reports_the_whole_frame_once_the_header_is_known() {
        let mut d = Decoder::new(None);
        let frame = client_frame(true, BINARY, &[0; 1000]);
        let mut buf = BytesMut::from(&frame[..1]);
        assert!(matches!(d.decode(&mut buf), Ok(Step::Need(2))));
        let mut buf = BytesMut::from(&frame[..3]);
        assert!(matches!(d.decode(&mut buf), Ok(Step::Need(4))));
        let mut buf = BytesMut::from(&frame[..100]);
        assert!(matches!(d.decode(&mut buf), Ok(Step::Need(1008))));
    }

    #[test]
    fn size_is_checked_from_the_header() {
        let mut d = Decoder::new(Some(100));
        let frame = client_frame(true, BINARY, &[0; 101]);
        let mut buf = BytesMut::from(&frame[..8]); // header only
        assert_eq!(
            d.decode(&mut buf).err(),
            Some(Fail(1009, "message too big"))
        );
        let mut d = Decoder::new(Some(100));
        let mut bytes = client_frame(false, BINARY, &[0; 60]);
        bytes.extend(client_frame(true, CONTINUATION, &[0; 41]));
        assert_eq!(decode_all(&mut d, &bytes).err().map(|f| f.0), Some(1009));
    }

    #[test]
    fn violations() {
        let cases: Vec<(Vec<u8>, u16)> = vec![
            (vec![0x81, 0x00], 1002),                // unmasked
            (vec![0xC1, 0x80, 0, 0, 0, 0], 1002),    // rsv1
            (vec![0x83, 0x80, 0, 0, 0, 0], 1002),    // reserved opcode
            (vec![0x8B, 0x80, 0, 0, 0, 0], 1002),    // reserved control opcode
            (vec![0x80, 0x80, 0, 0, 0, 0], 1002),    // lone continuation
            (vec![0x09, 0x80, 0, 0, 0, 0], 1002),    // fragmented ping
            (client_frame(true, CLOSE, &[3]), 1002), // 1-byte close
            (client_frame(true, CLOSE, &1005u16.to_be_bytes()), 1002),
            (client_frame(true, CLOSE, &[3, 232, 0xFF]), 1007), // bad reason
            (client_frame(true, TEXT, &[0xFF]), 1007),
            (client_frame(true, PING, &[0; 126]), 1002),
        ];
        for (bytes, code) in cases {
            let mut d = Decoder::new(None);
            assert_eq!(
                decode_all(&mut d, &bytes).err().map(|f| f.0),
                Some(code),
                "{bytes:x?}"
            );
        }
        let mut d = Decoder::new(None);
        let mut bytes = client_frame(false, TEXT, b"a");
        bytes.extend(client_frame(true, TEXT, b"b"));
        assert_eq!(decode_all(&mut d, &bytes).err().map(|f| f.0), Some(1002));
    }

    #[test]
    fn utf8_split_across_fragments() {
        let mut d = Decoder::new(None);
        let mut bytes = client_frame(false, TEXT, &[b'c', 0xC3]);
        bytes.extend(client_frame(true, CONTINUATION, &[0xA9]));
        let got = decode_all(&mut d, &bytes).unwrap();
        assert_eq!(
            got,
            vec![Incoming::Data {
                text: true,
                payload: Bytes::from("cé")
            }]
        );
        // Invalid bytes fail at the fragment that holds them, not at the end.
        let mut d = Decoder::new(None);
        assert_eq!(
            decode_all(&mut d, &client_frame(false, TEXT, &[b'a', 0xFF]))
                .err()
                .map(|f| f.0),
            Some(1007)
        );
        // An incomplete character at the very end fails.
        let mut d = Decoder::new(None);
        let mut bytes = client_frame(false, TEXT, b"a");
        bytes.extend(client_frame(true, CONTINUATION, &[0xC3]));
        assert_eq!(decode_all(&mut d, &bytes).err().map(|f| f.0), Some(1007));
    }

    #[test]
    fn close_frames() {
        let mut d = Decoder::new(None);
        let got = decode_all(&mut d, &client_frame(true, CLOSE, &[3, 232, b'o', b'k'])).unwrap();
        assert_eq!(
            got,
            vec![Incoming::Close {
                code: 1000,
                reason: Bytes::from_static(b"ok")
            }]
        );
        let got = decode_all(&mut d, &client_frame(true, CLOSE, &[])).unwrap();
        assert_eq!(
            got,
            vec![Incoming::Close {
                code: 1005,
                reason: Bytes::new()
            }]
        );
    }

    #[test]
    fn encoding_lengths() {
        for (len, header) in [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)] {
            let mut out = BytesMut::new();
            encode(&mut out, BINARY, &vec![0; len]);
            assert_eq!(out.len(), len + header, "{len}");
            assert_eq!(out[0], 0x82);
        }
        let mut out = BytesMut::new();
        encode_close(&mut out, 1001, "bye");
        assert_eq!(&out[..], &[0x88, 5, 3, 233, b'b', b'y', b'e']);
    }
}
