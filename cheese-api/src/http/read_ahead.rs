//! A read-ahead layer under hyper: big reads from the socket while bytes
//! stream, no buffer at rest.
//!
//! The WebSocket engine (tungstenite, under axum) allocates and fills its
//! read buffer up front and reads at most that much per system call, so
//! one size decides both the memory of an idle connection and the speed of
//! a large message. This layer sits between the TCP (or TLS) stream and
//! hyper: when asked for fewer bytes than its chunk it reads a whole chunk
//! into a buffer, hands out what was asked, keeps the rest for the next
//! reads, and lets the buffer go once drained (or when the read would
//! wait). The engine's own buffer can then be tiny: an idle connection
//! holds no read buffer here and a few hundred bytes there.
//!
//! The buffers come from a few spares kept per thread, not from the
//! allocator per read: a 64 KiB allocation or free costs glibc a
//! consolidation of its small free chunks each time (7 % of the node's
//! profile in `cheese-bench history`'s one-node run, where every read was
//! a fresh buffer). A rest of a read with a chunk under 64 KiB (a route's
//! small `read_limit`) is copied out into a buffer of its own size, so a
//! connection holds at most its chunk whatever the spares' size.
//!
//! It reads only when asked, so a connection that stops reading (its
//! `max_queue` is full) stops reading the socket too, and TCP holds the
//! client back; it reads ahead at most one chunk, which the route sets
//! from its `read_limit` at the upgrade ([`Chunk`]).

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How much one read from the socket may take: shared by the layer and
/// the requests of its connection, so the route's upgrade can set it.
#[derive(Clone, Debug)]
pub(crate) struct Chunk(Arc<AtomicUsize>);

impl Chunk {
    /// Before an upgrade: hyper reads the HTTP request with big buffers
    /// of its own, which go straight to the socket.
    pub(crate) const HTTP: usize = 8 * 1024;
    /// The most one read may take after an upgrade.
    pub(crate) const MAX: usize = 64 * 1024;

    pub(crate) fn new() -> Chunk {
        Chunk(Arc::new(AtomicUsize::new(Self::HTTP)))
    }

    /// Reads ahead at most `bytes` (at least 1, at most [`MAX`](Self::MAX)).
    pub(crate) fn set(&self, bytes: usize) {
        self.0.store(bytes.clamp(1, Self::MAX), Ordering::Relaxed);
    }

    fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

thread_local! {
    /// This thread's spare read buffers, each of [`Chunk::MAX`] capacity.
    static SPARES: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// At most this many spare buffers per thread (256 KiB).
const SPARES_KEPT: usize = 4;

/// A read buffer: a spare of this thread's, or a new one.
fn take_buffer() -> Vec<u8> {
    SPARES
        .with_borrow_mut(Vec::pop)
        .unwrap_or_else(|| Vec::with_capacity(Chunk::MAX))
}

/// Keeps `buf` as a spare of this thread's, unless it has enough or `buf`
/// is not one (a rest copied out: freed).
fn give_back(mut buf: Vec<u8>) {
    buf.clear();
    SPARES.with_borrow_mut(|spares| {
        if spares.len() < SPARES_KEPT && buf.capacity() >= Chunk::MAX {
            spares.push(buf);
        }
    });
}

/// `io` with reads ahead of at most one [`Chunk`].
pub(crate) struct ReadAhead<S> {
    io: S,
    chunk: Chunk,
    /// Read from the socket and not yet handed out: `buf[at..]`.
    buf: Vec<u8>,
    at: usize,
}

impl<S> ReadAhead<S> {
    pub(crate) fn new(io: S, chunk: Chunk) -> ReadAhead<S> {
        ReadAhead {
            io,
            chunk,
            buf: Vec::new(),
            at: 0,
        }
    }

    /// Hands out what was read ahead; gives the buffer back once drained.
    fn hand_out(&mut self, dst: &mut ReadBuf<'_>) {
        let n = dst.remaining().min(self.buf.len() - self.at);
        dst.put_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        if self.at == self.buf.len() {
            give_back(std::mem::take(&mut self.buf));
            self.at = 0;
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        dst: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.buf.len() {
            this.hand_out(dst);
            return Poll::Ready(Ok(()));
        }
        let chunk = this.chunk.get();
        if dst.remaining() >= chunk {
            // Asked for a chunk or more: straight in, no copy.
            return Pin::new(&mut this.io).poll_read(cx, dst);
        }
        let mut buf = take_buffer();
        let mut ahead = ReadBuf::uninit(&mut buf.spare_capacity_mut()[..chunk]);
        let read = Pin::new(&mut this.io).poll_read(cx, &mut ahead);
        let n = ahead.filled().len();
        if n == 0 || !matches!(read, Poll::Ready(Ok(()))) {
            // Nothing read (it would wait, failed, or ended): nothing held.
            give_back(buf);
            return read;
        }
        // SAFETY: `ahead` initialized the first `n` bytes of the spare
        // capacity.
        unsafe { buf.set_len(n) };
        let taken = dst.remaining().min(n);
        dst.put_slice(&buf[..taken]);
        if taken < n && chunk == Chunk::MAX {
            // The rest stays in the spare until drained.
            this.buf = buf;
            this.at = taken;
        } else {
            // Nothing left (an empty Vec allocates nothing), or a smaller
            // chunk's rest, in a buffer of its own size.
            this.buf = buf[taken..].to_vec();
            this.at = 0;
            give_back(buf);
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadAhead<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn small_reads_are_served_from_one_big_read_and_nothing_is_held_after() {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let chunk = Chunk::new();
        chunk.set(1024);
        let mut reader = ReadAhead::new(server, chunk);
        let data: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        client.write_all(&data).await.unwrap();
        let mut got = Vec::new();
        let mut small = [0u8; 100];
        while got.len() < data.len() {
            let n = reader.read(&mut small).await.unwrap();
            got.extend_from_slice(&small[..n]);
            // At most one chunk was read ahead, and held at most a chunk.
            assert!(reader.buf.len() <= 1024);
            assert!(reader.buf.capacity() <= 1024, "a rest is copied out");
        }
        assert_eq!(got, data);
        assert_eq!(reader.buf.capacity(), 0, "drained: the buffer is freed");
        // A read as big as the chunk goes straight through.
        client.write_all(&data[..1500]).await.unwrap();
        let mut big = [0u8; 2048];
        let n = reader.read(&mut big).await.unwrap();
        assert_eq!(&big[..n], &data[..n]);
        assert_eq!(reader.buf.capacity(), 0);
        // End of stream.
        drop(client);
        let rest = reader.read(&mut big).await.unwrap();
        let end = reader.read(&mut big).await.unwrap();
        assert_eq!((n + rest, end), (1500, 0));
    }

    #[tokio::test]
    async fn read_buffers_are_the_threads_spares_and_go_back_drained() {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let chunk = Chunk::new();
        chunk.set(Chunk::MAX);
        let mut reader = ReadAhead::new(server, chunk);
        let spares = || SPARES.with_borrow(|spares| spares.len());
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        client.write_all(&data).await.unwrap();
        let mut got = Vec::new();
        let mut small = [0u8; 256];
        while got.len() < data.len() {
            let n = reader.read(&mut small).await.unwrap();
            got.extend_from_slice(&small[..n]);
            assert!(reader.buf.len() <= Chunk::MAX);
            if reader.buf.capacity() > 0 {
                assert_eq!(spares(), 0, "the one buffer is in use");
            }
        }
        assert_eq!(got, data);
        assert_eq!(reader.buf.capacity(), 0, "drained: given back");
        assert_eq!(spares(), 1, "one buffer served every read");
    }
}
