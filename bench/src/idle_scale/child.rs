//! One client process of the idle-scale run (the bench binary re-executed
//! as `cheese-bench idle-scale --child URL SOURCE N`): it opens `N`
//! connections from loopback address `SOURCE` (bound before connecting, so
//! each process has its own ~28,000 ephemeral ports towards a server port),
//! keeps each one answering the server's keepalive pings while idle, and
//! talks to the parent over its pipes:
//!
//! ```text
//! child  → parent   opened <opened> <micros> <errors> <first error…>
//! parent → child    check
//! child  → parent   checked <survivors> <errors> <first error…>
//! ```
//!
//! After `check` (or when stdin closes) every connection sends one message
//! and must get it back intact: a survivor.

use std::cell::RefCell;
use std::io::{BufRead, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpSocket;
use tokio::sync::{oneshot, watch};
use tokio::task::{spawn_local, JoinHandle};
use tokio::time::timeout;
use tokio_tungstenite::client_async_with_config;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{keep_error, Payloads, Ws};
use crate::{number, procs, runtime};

/// The flag that makes `idle-scale` a child.
pub const FLAG: &str = "--child";

/// Handshakes in flight at once, per process.
const AT_ONCE: usize = 64;

/// The kept errors of one process (the count is exact).
type Errors = Rc<RefCell<(usize, Vec<String>)>>;

fn note(errors: &Errors, e: String) {
    let mut errors = errors.borrow_mut();
    let (count, kept) = &mut *errors;
    keep_error(count, kept, e);
}

/// One line for the parent: the count and the first error, if any.
fn errors_field(errors: &Errors) -> String {
    let errors = errors.borrow();
    let first = errors.1.first().map_or("", String::as_str);
    format!("{} {}", errors.0, first.replace('\n', " "))
}

/// `--child URL SOURCE N`, already stripped of `--child`.
pub fn run(args: &[String]) -> Result<(), String> {
    let [url, source, n] = args else {
        return Err("usage: idle-scale --child ws://IP:PORT/ SOURCE-IP N".to_owned());
    };
    let host = url.strip_prefix("ws://").unwrap_or(url);
    let addr: SocketAddr = host
        .trim_end_matches('/')
        .parse()
        .map_err(|_| format!("`{url}` is not ws://IP:PORT/"))?;
    let source: IpAddr = source
        .parse()
        .map_err(|_| format!("`{source}` is not an IP address"))?;
    let n = number(n)?;
    procs::raise_nofile();
    let rt = runtime()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, child(addr, url, source, n))
}

async fn child(addr: SocketAddr, url: &str, source: IpAddr, n: usize) -> Result<(), String> {
    let payloads = Rc::new(Payloads::new(64, true));
    let errors: Errors = Rc::default();
    let (go, go_rx) = watch::channel(false);

    let start = Instant::now();
    let mut held: Vec<JoinHandle<Result<(), String>>> = Vec::with_capacity(n);
    let mut attempted = 0;
    while attempted < n {
        let batch = (n - attempted).min(AT_ONCE);
        attempted += batch;
        let opened =
            futures_util::future::join_all((0..batch).map(|_| connect_from(source, addr, url)))
                .await;
        for ws in opened {
            match ws {
                // Held by its own task from now on, so that the keepalive
                // pings of the first connections are answered while later
                // ones still open.
                Ok(ws) => held.push(spawn_local(hold_then_echo(
                    ws,
                    held.len(),
                    payloads.clone(),
                    go_rx.clone(),
                ))),
                Err(e) => note(&errors, e),
            }
        }
    }
    let took = start.elapsed();
    say(&format!(
        "opened {} {} {}",
        held.len(),
        took.as_micros(),
        errors_field(&errors)
    ))?;

    // Wait for the parent's `check` (or its end) on a thread: this one
    // keeps serving the connections meanwhile.
    let (told, told_rx) = oneshot::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        let _ = told.send(());
    });
    let _ = told_rx.await;
    let _ = go.send(true);

    let mut survivors = 0;
    for task in held {
        match task.await {
            Ok(Ok(())) => survivors += 1,
            Ok(Err(e)) => note(&errors, e),
            Err(e) => note(&errors, format!("task: {e}")),
        }
    }
    say(&format!("checked {survivors} {}", errors_field(&errors)))
}

/// Writes one line to the parent.
fn say(line: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| format!("stdout: {e}"))
}

/// Opens a TCP connection from `source`, with `TCP_NODELAY`, and does the
/// WebSocket handshake with a 4 KiB read buffer, as the other idle clients
/// do. The port is chosen at connect time (`IP_BIND_ADDRESS_NO_PORT`), per
/// destination, so ports a previous run left in TIME_WAIT do not count.
async fn connect_from(source: IpAddr, addr: SocketAddr, url: &str) -> Result<Ws, String> {
    let socket = match source {
        IpAddr::V4(_) => TcpSocket::new_v4(),
        IpAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|e| format!("socket: {e}"))?;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket and an int option of the right size.
    let set = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if set != 0 {
        return Err(format!(
            "IP_BIND_ADDRESS_NO_PORT: {}",
            std::io::Error::last_os_error()
        ));
    }
    socket
        .bind(SocketAddr::new(source, 0))
        .map_err(|e| format!("bind {source}: {e}"))?;
    let tcp = socket
        .connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (ws, _) = client_async_with_config(url, tcp, Some(config))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    Ok(ws)
}

/// Holds `ws` idle (reading only the server's pings, which tungstenite
/// answers on the next read) until `go`, then echoes one message.
async fn hold_then_echo(
    mut ws: Ws,
    i: usize,
    payloads: Rc<Payloads>,
    mut go: watch::Receiver<bool>,
) -> Result<(), String> {
    loop {
        tokio::select! {
            changed = go.changed() => {
                if changed.is_err() || *go.borrow() {
                    break;
                }
            }
            message = ws.next() => match message {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(_)) => return Err("a message while idle".to_owned()),
                Some(Err(e)) => return Err(format!("while idle: {e}")),
                None => return Err("closed while idle".to_owned()),
            },
        }
    }
    ws.send(payloads.get(i))
        .await
        .map_err(|e| format!("send after the hold: {e}"))?;
    let echo = timeout(Duration::from_secs(20), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => return other,
            }
        }
    })
    .await;
    match echo {
        Ok(Some(Ok(m))) if payloads.check(i, &m) => Ok(()),
        Ok(Some(Ok(_))) => Err("echo after the hold differs".to_owned()),
        Ok(Some(Err(e))) => Err(format!("echo after the hold: {e}")),
        Ok(None) => Err("closed before the echo".to_owned()),
        Err(_) => Err("no echo within 20 s after the hold".to_owned()),
    }
}
