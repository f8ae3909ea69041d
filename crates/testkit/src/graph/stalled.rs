//! A fragment request that stops part-way through its body and stays open: what the service sees of a
//! client killed while it was sending (the connection ends only when the service notices it closed), or of
//! a client stuck on a slow link. Meanwhile the session is receiving that range, and another request for
//! it is refused (`416 fragmentOverlap`, see [`super::upload`]). Dropping it closes the connection, and
//! the cut request counts for nothing, as documented.

use super::GraphEmulator;
use std::io::{self, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// An open, half-sent fragment request; see the module docs.
#[derive(Debug)]
pub struct StalledFragment {
    stream: TcpStream,
    session: String,
}

impl StalledFragment {
    /// The upload session it is stuck in (the id in the upload URL).
    pub fn session(&self) -> &str {
        &self.session
    }

    /// Close the connection (as dropping it does).
    pub fn close(self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

impl GraphEmulator {
    /// Start `PUT upload_url` for the `len` bytes at `start` of a `total`-byte file, send only `sent` of
    /// its body, and return once the session is receiving it (at most 10 s).
    pub fn stall_fragment(
        &self,
        upload_url: &str,
        start: u64,
        len: u64,
        total: u64,
        sent: &[u8],
    ) -> io::Result<StalledFragment> {
        let bad = || io::Error::new(io::ErrorKind::InvalidInput, "not an upload URL");
        let target = upload_url
            .split_once("//")
            .and_then(|(_, r)| r.find('/').map(|i| r[i..].to_owned()))
            .ok_or_else(bad)?;
        let session = target
            .rsplit_once("/upload/")
            .map(|(_, id)| id.to_owned())
            .ok_or_else(bad)?;
        if len == 0 || sent.len() as u64 >= len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a stalled fragment sends less than its length",
            ));
        }
        let mut stream = TcpStream::connect(self.addr())?;
        let head = format!(
            "PUT {target} HTTP/1.1\r\nHost: {}\r\nContent-Range: bytes {start}-{}/{total}\r\nContent-Length: {len}\r\n\r\n",
            self.addr(),
            start + len - 1,
        );
        stream.write_all(head.as_bytes())?;
        stream.write_all(sent)?;
        stream.flush()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.receiving(&session) {
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the session never started receiving the stalled fragment",
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(StalledFragment { stream, session })
    }

    /// The upload URL of the session `id` (as `createUploadSession` gave it).
    pub fn upload_url(&self, id: &str) -> String {
        format!("{}/upload/{id}", self.shared.root)
    }

    /// Whether the session `id` is receiving a fragment's body right now.
    pub fn receiving(&self, id: &str) -> bool {
        self.shared.lock().sessions.get(id).is_some_and(|s| s.busy)
    }
}
