//! The stdio transport's front door: every line from stdin is checked (size, nesting depth,
//! JSON, batches, the initialize handshake) before rmcp sees it, and a refused line is
//! answered on stdout with a JSON-RPC error instead of silence. Lines pass straight through
//! (no timers, no batching); rmcp's own output is written to stdout one whole line at a time,
//! so an error line never splits one of rmcp's.

use serde_json::Value;
use tokio::{
    io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader},
    sync::mpsc,
};

use super::jsonrpc::{self, Rejection};

/// Pipe capacity between the checks and rmcp.
const PIPE_BYTES: usize = 256 * 1024;

/// Limits applied to every stdin line.
#[derive(Debug, Clone, Copy)]
pub struct LineLimits {
    pub max_bytes: usize,
    pub max_depth: usize,
}

/// Where the client is in the 2025-11-25 lifecycle (2026-07-28 clients never initialize).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handshake {
    None,
    Initializing,
    Ready,
}

/// Reads one line of at most `max` bytes (newline excluded). `Ok(None)` at end of input;
/// `Ok(Some(Err(n)))` when the line was longer (it is consumed and discarded, `n` bytes).
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<Result<(), usize>>> {
    buf.clear();
    let mut total = 0usize;
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            return Ok((total > 0).then_some(if total > max { Err(total) } else { Ok(()) }));
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let body = if done { &chunk[..take - 1] } else { &chunk[..take] };
        if total + body.len() <= max {
            buf.extend_from_slice(body);
        }
        total += body.len();
        r.consume(take);
        if done {
            return Ok(Some(if total > max { Err(total) } else { Ok(()) }));
        }
    }
}

/// Checks stdin lines and forwards the good ones to `to_rmcp`; answers the others on `out`.
async fn filter_input<R: AsyncBufRead + Unpin, W: AsyncWrite + Unpin>(
    mut stdin: R,
    mut to_rmcp: W,
    out: mpsc::UnboundedSender<Vec<u8>>,
    limits: LineLimits,
) {
    let mut line = Vec::new();
    let mut handshake = Handshake::None;
    loop {
        let read = match read_line(&mut stdin, &mut line, limits.max_bytes).await {
            Ok(Some(r)) => r,
            Ok(None) | Err(_) => break,
        };
        if let Err(n) = read {
            let r = Rejection::new(
                Value::Null,
                jsonrpc::INVALID_REQUEST,
                format!(
                    "Invalid Request: the message is {n} bytes, over the server's limit of {} (server.max_body_bytes)",
                    limits.max_bytes
                ),
            );
            answer(&out, &r);
            continue;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let probe = match jsonrpc::check(&line, limits.max_depth) {
            Ok(p) => p,
            Err(r) => {
                tracing::warn!(code = r.code, "refused a stdio message: {}", r.message);
                answer(&out, &r);
                continue;
            }
        };
        match probe.method.as_deref() {
            Some("initialize") if handshake == Handshake::None => handshake = Handshake::Initializing,
            Some("notifications/initialized") => handshake = Handshake::Ready,
            Some(m)
                if handshake == Handshake::Initializing
                    && probe.is_request()
                    && !jsonrpc::allowed_before_initialized(m) =>
            {
                answer(&out, &jsonrpc::not_initialized(probe.id.clone().unwrap_or_default(), m));
                continue;
            }
            _ => {}
        }
        line.push(b'\n');
        if to_rmcp.write_all(&line).await.is_err() {
            break;
        }
    }
    let _ = to_rmcp.shutdown().await;
}

fn answer(out: &mpsc::UnboundedSender<Vec<u8>>, r: &Rejection) {
    let mut bytes = serde_json::to_vec(&r.to_json()).unwrap_or_default();
    bytes.push(b'\n');
    let _ = out.send(bytes);
}

/// Copies rmcp's output to `out` one whole line at a time; sends an empty line (the writer's
/// signal to finish) when rmcp closes its end.
async fn forward_output<R: tokio::io::AsyncRead + Unpin>(from_rmcp: R, out: mpsc::UnboundedSender<Vec<u8>>) {
    let mut r = BufReader::with_capacity(PIPE_BYTES, from_rmcp);
    let mut line = Vec::new();
    loop {
        line.clear();
        match r.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if out.send(std::mem::take(&mut line)).is_err() {
                    break;
                }
            }
        }
    }
    let _ = out.send(Vec::new());
}

/// Writes lines to stdout, flushing after each burst, until the empty line that says rmcp is done.
async fn write_stdout<W: AsyncWrite + Unpin>(mut stdout: W, mut lines: mpsc::UnboundedReceiver<Vec<u8>>) {
    while let Some(mut line) = lines.recv().await {
        loop {
            if line.is_empty() {
                let _ = stdout.flush().await;
                return;
            }
            if stdout.write_all(&line).await.is_err() {
                return;
            }
            match lines.try_recv() {
                Ok(more) => line = more,
                Err(_) => break,
            }
        }
        if stdout.flush().await.is_err() {
            return;
        }
    }
}

/// The checked pipes: `(reader for rmcp, writer for rmcp)`, plus the task that finishes once
/// everything rmcp wrote has reached stdout.
pub fn pipes(
    limits: LineLimits,
) -> (
    tokio::io::DuplexStream,
    tokio::io::DuplexStream,
    tokio::task::JoinHandle<()>,
) {
    let (to_rmcp, rmcp_in) = tokio::io::duplex(PIPE_BYTES);
    let (rmcp_out, from_rmcp) = tokio::io::duplex(PIPE_BYTES);
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(filter_input(
        BufReader::with_capacity(PIPE_BYTES, tokio::io::stdin()),
        to_rmcp,
        tx.clone(),
        limits,
    ));
    tokio::spawn(forward_output(from_rmcp, tx));
    let writer = tokio::spawn(write_stdout(tokio::io::stdout(), rx));
    (rmcp_in, rmcp_out, writer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn long_lines_are_consumed_and_reported() {
        let input = format!("{}\n{{\"a\":1}}\n", "x".repeat(50));
        let mut r = BufReader::with_capacity(8, input.as_bytes());
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut r, &mut buf, 10).await.unwrap(), Some(Err(50)));
        assert_eq!(read_line(&mut r, &mut buf, 10).await.unwrap(), Some(Ok(())));
        assert_eq!(buf, b"{\"a\":1}");
        assert_eq!(read_line(&mut r, &mut buf, 10).await.unwrap(), None);
    }
}
