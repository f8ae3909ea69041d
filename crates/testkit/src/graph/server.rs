//! HTTP plumbing: a hyper HTTP/1.1 server on a loopback port, on its own thread and tokio runtime (so the
//! emulator works from plain `#[test]`s and `#[tokio::test]`s alike), request bodies read with limits, file
//! contents streamed back, and connection drops for the fault hooks (a handler error makes hyper close the
//! connection without an answer).

use super::options::GraphOptions;
use super::state::State;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Body, Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

pub type ResBody = BoxBody<Bytes, io::Error>;
pub type Res = Response<ResBody>;

/// What every handler shares.
pub struct Shared {
    pub state: Mutex<State>,
    pub opts: Mutex<GraphOptions>,
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub root: String,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn opts(&self) -> GraphOptions {
        self.opts.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

pub fn full(body: impl Into<Bytes>) -> ResBody {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A response body that streams a file (`len` bytes from its current position).
pub struct FileBody {
    file: std::fs::File,
    remaining: u64,
}

impl FileBody {
    pub fn boxed(file: std::fs::File, len: u64) -> ResBody {
        FileBody {
            file,
            remaining: len,
        }
        .boxed()
    }
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = self.remaining.min(256 * 1024) as usize;
        let mut buf = vec![0u8; n];
        // The content lives in the emulator's temp dir (tmpfs when available): a short blocking read.
        match self.file.read(&mut buf) {
            Ok(0) => Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "content file shorter than its item",
            )))),
            Ok(got) => {
                buf.truncate(got);
                self.remaining -= got as u64;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))))
            }
            Err(e) => Poll::Ready(Some(Err(e))),
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.remaining)
    }
}

/// Why a body could not be read whole.
pub enum BodyError {
    /// Longer than the limit (the rest was not read).
    TooLarge,
    /// The connection broke, or a fault hook cut it: no answer is sent.
    Io(io::Error),
}

/// Read a request body up to `limit` bytes; `cut_after` drops the connection once that many bytes came
/// (fault hook). `seen` is told how many bytes arrived, even when the read fails.
pub async fn read_body(
    body: Incoming,
    limit: u64,
    cut_after: Option<u64>,
    seen: &mut u64,
) -> Result<Vec<u8>, BodyError> {
    let mut body = body;
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Io(io::Error::other(e)))?;
        if let Ok(data) = frame.into_data() {
            *seen += data.len() as u64;
            if let Some(cut) = cut_after
                && *seen >= cut
            {
                return Err(BodyError::Io(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "fault hook: connection dropped mid-upload",
                )));
            }
            if out.len() as u64 + data.len() as u64 > limit {
                return Err(BodyError::TooLarge);
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

/// Stream a request body into `file` (and `hash`), at most `limit` bytes; `cut_after` drops the
/// connection once that many bytes came (fault hook). `seen` counts the bytes that arrived, even when it
/// fails. Memory: one frame.
pub async fn stream_body(
    body: Incoming,
    file: &mut std::fs::File,
    hash: &mut super::quickxor::QuickXorHash,
    limit: u64,
    cut_after: Option<u64>,
    seen: &mut u64,
) -> Result<u64, BodyError> {
    use std::io::Write as _;
    let mut body = body;
    let mut written = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Io(io::Error::other(e)))?;
        if let Ok(data) = frame.into_data() {
            *seen += data.len() as u64;
            if let Some(cut) = cut_after
                && *seen >= cut
            {
                return Err(BodyError::Io(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "fault hook: connection dropped mid-upload",
                )));
            }
            if written + data.len() as u64 > limit {
                return Err(BodyError::TooLarge);
            }
            // The emulator's temp dir is on tmpfs when available: a short blocking write.
            file.write_all(&data).map_err(BodyError::Io)?;
            hash.update(&data);
            written += data.len() as u64;
        }
    }
    Ok(written)
}

/// Read and drop a refused request's body (at most `limit` bytes), so the answer reaches a client that is
/// still sending instead of a reset connection: an HTTP/1.1 server that answers before the whole body
/// arrives either reads the rest or closes (RFC 9112 §9.6), and a client mid-write sees the close as an
/// error. Returns whether the whole body came.
pub async fn drain_body(body: Incoming, limit: u64) -> bool {
    let mut body = body;
    let mut seen = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return false };
        if let Ok(data) = frame.into_data() {
            seen += data.len() as u64;
            if seen > limit {
                return false;
            }
        }
    }
    true
}

/// The running server: dropping it stops the runtime.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Bind a loopback port and serve `shared` on it.
pub fn spawn(listener: std::net::TcpListener, shared: Arc<Shared>) -> io::Result<Running> {
    let addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("graph-emulator")
        .build()?;
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("graph-emulator".into())
        .spawn(move || {
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let mut next_conn = 0u64;
                loop {
                    tokio::select! {
                        _ = &mut stop_rx => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let _ = stream.set_nodelay(true);
                            let shared = shared.clone();
                            next_conn += 1;
                            let conn = next_conn;
                            tokio::spawn(async move {
                                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                                    let shared = shared.clone();
                                    async move { super::api::handle(shared, req, conn).await }
                                });
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .keep_alive(true)
                                    .serve_connection(TokioIo::new(stream), svc)
                                    .await;
                            });
                        }
                    }
                }
            });
            rt.shutdown_background();
        })?;
    Ok(Running {
        addr,
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}
