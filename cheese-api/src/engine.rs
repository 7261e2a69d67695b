//! The socket under a connection: reads that grow on demand, one write
//! buffer flushed once per burst.
//!
//! A new or quiet connection holds no buffers: it waits for readiness and
//! probes on the stack, then reads into a small buffer (4 KiB, or
//! `read_limit` if smaller), or, once a frame's header says how long it is,
//! into room for the whole frame, so a large message takes few system calls
//! and no copy to reassemble. A busy connection reuses its buffers; each
//! keepalive tick gives back the empty ones. Frames
//! are decoded by [`frame`](crate::frame); outgoing frames are encoded into
//! one buffer that the driver flushes when it has nothing more to add.

use crate::frame::{Decoder, Fail, Incoming, Step};
use bytes::{Buf, BytesMut};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The smallest read, and the read buffer of a connection between messages.
const MIN_READ: usize = 4096;
/// A write buffer larger than this is released once it is flushed.
const KEEP_WRITE_CAPACITY: usize = 16 * 1024;

enum Transport {
    /// The accepted TCP stream itself (served by `App`): readiness-based
    /// reads with no buffer while idle.
    Tcp(TcpStream),
    /// Whatever else hyper upgraded (a router inside another server, TLS).
    Other(TokioIo<Upgraded>),
}

/// Why reading stopped.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer broke the protocol: fail the connection with this close.
    Fail(Fail),
    /// The TCP connection ended or failed.
    Gone,
}

pub(crate) struct Engine {
    io: Transport,
    rbuf: BytesMut,
    wbuf: BytesMut,
    decoder: Decoder,
    min_read: usize,
    read_limit: usize,
}

impl Engine {
    pub(crate) fn new(upgraded: Upgraded, max_size: Option<usize>, read_limit: usize) -> Engine {
        let (io, rbuf) = match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => (
                Transport::Tcp(parts.io.into_inner()),
                BytesMut::from(&parts.read_buf[..]),
            ),
            Err(upgraded) => (Transport::Other(TokioIo::new(upgraded)), BytesMut::new()),
        };
        Engine {
            io,
            rbuf,
            wbuf: BytesMut::new(),
            decoder: Decoder::new(max_size),
            min_read: MIN_READ.min(read_limit.max(1)),
            read_limit: read_limit.max(1),
        }
    }

    /// The next frame or message from the peer.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Result<Incoming, ReadError>> {
        loop {
            match self
                .decoder
                .decode(&mut self.rbuf)
                .map_err(ReadError::Fail)?
            {
                Step::Ready(incoming) => return Poll::Ready(Ok(incoming)),
                Step::Continue => {}
                Step::Need(total) => {
                    // Room for the rest of the frame, but never more than
                    // read_limit or what has already arrived: a header alone
                    // (claiming gigabytes) must not make us allocate.
                    let missing = total.saturating_sub(self.rbuf.len());
                    let room = missing.min(self.read_limit.max(self.rbuf.len()));
                    ready!(self.poll_fill(cx, room.max(self.min_read)))?;
                }
            }
        }
    }

    /// Drops the read and write buffers if they hold nothing: called on each
    /// keepalive tick, so a connection that went quiet gives its buffers back
    /// while a busy one reuses them message after message.
    pub(crate) fn release_idle_buffers(&mut self) {
        if self.rbuf.is_empty() && self.rbuf.capacity() > 0 {
            self.rbuf = BytesMut::new();
        }
        if self.wbuf.is_empty() && self.wbuf.capacity() > 0 {
            self.wbuf = BytesMut::new();
        }
    }

    /// Reads at least one byte into `rbuf`, with room for `room` more.
    fn poll_fill(&mut self, cx: &mut Context<'_>, room: usize) -> Poll<Result<(), ReadError>> {
        match &mut self.io {
            Transport::Tcp(tcp) => loop {
                ready!(tcp.poll_read_ready(cx)).map_err(|_| ReadError::Gone)?;
                if self.rbuf.capacity() == 0 {
                    // No buffer yet (a fresh or quiet connection): probe on
                    // the stack, so stale readiness allocates nothing.
                    let mut probe = [0u8; 256];
                    match tcp.try_read(&mut probe) {
                        Ok(0) => return Poll::Ready(Err(ReadError::Gone)),
                        Ok(n) => {
                            self.rbuf.reserve(room.max(n));
                            self.rbuf.extend_from_slice(&probe[..n]);
                            return Poll::Ready(Ok(()));
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                        Err(_) => return Poll::Ready(Err(ReadError::Gone)),
                    }
                }
                self.rbuf.reserve(room);
                match tcp.try_read_buf(&mut self.rbuf) {
                    Ok(0) => return Poll::Ready(Err(ReadError::Gone)),
                    Ok(_) => return Poll::Ready(Ok(())),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(_) => return Poll::Ready(Err(ReadError::Gone)),
                }
            },
            Transport::Other(io) => {
                self.rbuf.reserve(room);
                let spare = self.rbuf.spare_capacity_mut();
                let mut buf = ReadBuf::uninit(spare);
                ready!(Pin::new(io).poll_read(cx, &mut buf)).map_err(|_| ReadError::Gone)?;
                let n = buf.filled().len();
                if n == 0 {
                    return Poll::Ready(Err(ReadError::Gone));
                }
                // SAFETY: `poll_read` initialized the first `n` bytes of the
                // spare capacity (ReadBuf tracks what it filled).
                unsafe { self.rbuf.set_len(self.rbuf.len() + n) };
                Poll::Ready(Ok(()))
            }
        }
    }

    /// Reads and drops whatever the peer sends (after a protocol failure the
    /// stream cannot be parsed, but unread bytes would make our close turn
    /// into a TCP reset that can destroy the close frame in flight).
    pub(crate) fn poll_discard(&mut self, cx: &mut Context<'_>) -> Poll<ReadError> {
        loop {
            self.rbuf.clear();
            if let Err(gone) = ready!(self.poll_fill(cx, self.min_read)) {
                return Poll::Ready(gone);
            }
        }
    }

    /// Sends FIN after everything written: "no more from the server".
    pub(crate) fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Transport::Tcp(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Transport::Other(io) => Pin::new(io).poll_shutdown(cx),
        }
    }

    /// Bytes encoded and not yet written.
    pub(crate) fn buffered(&self) -> usize {
        self.wbuf.len()
    }

    /// Encodes one frame into the write buffer.
    pub(crate) fn queue(&mut self, opcode: u8, payload: &[u8]) {
        crate::frame::encode(&mut self.wbuf, opcode, payload);
    }

    /// Encodes a close frame; `code` 1005 sends an empty close payload.
    pub(crate) fn queue_close(&mut self, code: u16, reason: &str) {
        if code == 1005 {
            self.queue(crate::frame::CLOSE, &[]);
        } else {
            crate::frame::encode_close(&mut self.wbuf, code, reason);
        }
    }

    /// Writes the whole write buffer out.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.wbuf.is_empty() {
            let n = match &mut self.io {
                Transport::Tcp(tcp) => ready!(Pin::new(tcp).poll_write(cx, &self.wbuf))?,
                Transport::Other(io) => ready!(Pin::new(io).poll_write(cx, &self.wbuf))?,
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wbuf.advance(n);
        }
        if let Transport::Other(io) = &mut self.io {
            ready!(Pin::new(io).poll_flush(cx))?; // TLS and other layered streams buffer
        }
        if self.wbuf.capacity() > KEEP_WRITE_CAPACITY {
            self.wbuf = BytesMut::new();
        }
        Poll::Ready(Ok(()))
    }
}
