//! `PUT` on an upload URL: one fragment of an upload session (the rules are listed in [`super::upload`]).

use super::api::{ApiError, header, json_res};
use super::server::{BodyError, Res, Shared, drain_body, stream_body};
use super::state::{SessionStatus, State};
use super::upload::{finish, open_session, session_gone, status_json, too_big};
use chrono::Utc;
use hyper::body::Incoming;
use hyper::http::request::Parts;
use std::io;
use std::path::PathBuf;
use std::time::Instant;

/// The most of a refused fragment's body read before its answer (Graph's fragment limit); a longer
/// one is answered as soon as it is refused, and its connection closed.
const DRAIN_MAX: u64 = 60 * 1024 * 1024;

fn parse_content_range(v: &str) -> Option<(u64, u64, u64)> {
    let (range, total) = v.trim().strip_prefix("bytes ")?.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    let (a, b, t) = (a.parse().ok()?, b.parse().ok()?, total.parse().ok()?);
    (a <= b && b < t).then_some((a, b, t))
}

fn refuse(st: &mut State, id: &str, range: (u64, u64), e: ApiError) -> ApiError {
    st.stats.fragments_refused += 1;
    if let Some(s) = st.sessions.get_mut(id) {
        s.refused.push((range.0, range.1, e.0));
    }
    e
}

pub(super) async fn put(
    shared: &Shared,
    parts: &Parts,
    body: Incoming,
    id: &str,
) -> Result<Res, io::Error> {
    let opts = shared.opts();
    let range = header(parts, "content-range").and_then(parse_content_range);
    let length: Option<u64> = header(parts, "content-length").and_then(|v| v.parse().ok());
    let started = {
        let mut st = shared.lock();
        match check_fragment(&mut st, id, range, length, &opts) {
            Ok((a, b, total)) => {
                let cut = st.faults.drop_upload_after.take();
                let Some(s) = st.sessions.get_mut(id) else {
                    return Ok(session_gone().into_response());
                };
                s.busy = true;
                Ok((a, b, total, s.file.clone(), s.hasher.clone(), cut))
            }
            Err(e) => {
                let r = range.map_or((0, 0), |(a, b, _)| (a, b));
                Err(refuse(&mut st, id, r, e))
            }
        }
    };
    let (a, b, total, file, mut hasher, cut) = match started {
        Ok(s) => s,
        Err(e) => {
            // The body of a refused fragment is read before the answer (up to the fragment limit).
            if let Some(len) = length.filter(|l| *l <= DRAIN_MAX) {
                drain_body(body, len).await;
            }
            return Ok(e.into_response());
        }
    };
    // hyper drops this future when it sees the connection close before the body ends (a killed client):
    // the guard then ends the fragment, so the cut request counts for nothing and the range is free again.
    let mut receiving = Receiving {
        shared,
        id,
        file: file.clone(),
        at: a,
        armed: true,
    };
    // Stream into the session file outside the lock (memory: one frame); a request that does not bring
    // its whole range is cut back off, as documented ("all bytes in that request are ignored").
    let mut seen = 0;
    let streamed = match std::fs::OpenOptions::new().append(true).open(&file) {
        Ok(mut f) => {
            let r = stream_body(body, &mut f, &mut hasher, b - a + 1, cut, &mut seen).await;
            if !matches!(r, Ok(n) if n == b - a + 1) {
                let _ = f.set_len(a);
            }
            r
        }
        Err(e) => Err(BodyError::Io(e)),
    };
    receiving.armed = false;
    let mut st = shared.lock();
    let Some(s) = st.sessions.get_mut(id) else {
        return Ok(session_gone().into_response());
    };
    s.busy = false;
    s.bytes_received += seen;
    let n = match streamed {
        Ok(n) => n,
        Err(BodyError::Io(e)) => {
            if cut.is_some() {
                st.stats.dropped += 1;
            }
            return Err(e);
        }
        Err(BodyError::TooLarge) => {
            let e = ApiError::bad(None, "The body is longer than its Content-Range.");
            return Ok(refuse(&mut st, id, (a, b), e).into_response());
        }
    };
    if n != b - a + 1 {
        let e = ApiError::bad(None, "The body is shorter than its Content-Range.");
        return Ok(refuse(&mut st, id, (a, b), e).into_response());
    }
    if s.status != SessionStatus::Open {
        return Ok(session_gone().into_response());
    }
    s.hasher = hasher;
    s.received = b + 1;
    s.total = Some(total);
    s.accepted.push((a, b));
    s.bytes_accepted += n;
    s.expires = Instant::now() + opts.session_lifetime;
    s.expires_utc = Utc::now() + opts.session_lifetime;
    let last = b + 1 == total;
    let misaligned = !last && n % opts.fragment_multiple != 0;
    if misaligned {
        s.misaligned = true;
    }
    let defer = s.defer_commit;
    let status = status_json(s);
    st.stats.fragments_accepted += 1;
    st.stats.content_bytes += n;
    if misaligned {
        st.stats.misaligned_fragments += 1;
    }
    if !last || defer {
        return Ok(json_res(202, &status));
    }
    Ok(finish(&mut st, &shared.root, id, opts.max_path).unwrap_or_else(ApiError::into_response))
}

/// A fragment being received; dropped before the handler ends it (its future dropped by hyper), it cuts
/// the session file back to the fragment's start and lets the session take the range again.
struct Receiving<'a> {
    shared: &'a Shared,
    id: &'a str,
    file: PathBuf,
    at: u64,
    armed: bool,
}

impl Drop for Receiving<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&self.file) {
            let _ = f.set_len(self.at);
        }
        if let Some(s) = self.shared.lock().sessions.get_mut(self.id) {
            s.busy = false;
        }
    }
}

/// The documented checks on a fragment before its body is read; returns its range.
fn check_fragment(
    st: &mut State,
    id: &str,
    range: Option<(u64, u64, u64)>,
    length: Option<u64>,
    opts: &super::GraphOptions,
) -> Result<(u64, u64, u64), ApiError> {
    let s = open_session(st, id)?;
    let (a, b, total) = range.ok_or_else(|| {
        ApiError::bad(
            Some("invalidParameterFormat"),
            "Content-Range must be 'bytes a-b/total'.",
        )
    })?;
    let Some(length) = length else {
        return Err(ApiError(
            411,
            "invalidRequest",
            None,
            "A Content-Length header is required.".into(),
        ));
    };
    if length != b - a + 1 {
        return Err(ApiError::bad(
            None,
            "Content-Length must equal the length of the Content-Range.",
        ));
    }
    if b - a + 1 >= opts.max_fragment {
        return Err(ApiError(
            413,
            "invalidRequest",
            Some("maxFragmentLengthExceeded"),
            format!(
                "A fragment must be smaller than {} bytes.",
                opts.max_fragment
            ),
        ));
    }
    if total > opts.max_file_size {
        return Err(too_big(opts.max_file_size));
    }
    if s.total.is_some_and(|t| t != total) {
        return Err(ApiError::bad(
            Some("fragmentLengthMismatch"),
            "The declared total size differs from the session's.",
        ));
    }
    if a < s.received || s.busy {
        return Err(ApiError(
            416,
            "invalidRange",
            Some("fragmentOverlap"),
            "Uploaded fragment overlaps with existing data (or one is being uploaded).".into(),
        ));
    }
    if a > s.received {
        return Err(ApiError(
            416,
            "invalidRange",
            Some("fragmentOutOfOrder"),
            format!(
                "Uploaded fragment is out of order; the next expected byte is {}.",
                s.received
            ),
        ));
    }
    Ok((a, b, total))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failure with a message

    use super::*;
    use crate::graph::{GraphEmulator, GraphOptions};
    use crate::http::{Body, RawHttp};

    const MULT: u64 = 327_680;

    /// hyper drops a handler whose connection it sees end before the body does (seen when a client is
    /// killed mid-fragment under load): the fragment must still count for nothing and free its range,
    /// or the session refuses that range for ever.
    #[test]
    fn a_fragment_whose_handler_is_dropped_mid_body_frees_its_range() {
        let emu = GraphEmulator::start(GraphOptions::default()).unwrap();
        let drive = emu.add_user("alice@contoso.com");
        let mut c = RawHttp::connect(emu.addr()).unwrap();
        let auth = format!("Bearer {}", emu.token());
        let r = c
            .request(
                "POST",
                &format!("/v1.0/drives/{drive}/root:/d.bin:/createUploadSession"),
                &[
                    ("Authorization", auth.as_str()),
                    ("Content-Type", "application/json"),
                ],
                Body::Bytes(b"{\"item\":{}}"),
            )
            .unwrap();
        let url: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let url = url["uploadUrl"].as_str().unwrap().to_owned();
        let stalled = emu
            .stall_fragment(&url, 0, MULT, 2 * MULT, &[7; 1000])
            .unwrap();
        let id = stalled.session().to_owned();
        let file = emu.shared.lock().sessions[&id].file.clone();
        // What the handler holds while it receives; dropped with the handler's future.
        drop(Receiving {
            shared: &emu.shared,
            id: &id,
            file: file.clone(),
            at: 0,
            armed: true,
        });
        assert!(!emu.receiving(&id), "the range is free again");
        assert_eq!(
            std::fs::metadata(&file).unwrap().len(),
            0,
            "its bytes cut off"
        );
        stalled.close();
        // The handler of this test's request was not dropped: wait for it to see the close and end.
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while emu.sessions()[0].bytes_received < 1000 {
            assert!(Instant::now() < deadline, "the cut request never ended");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let r = RawHttp::connect(emu.addr())
            .unwrap()
            .request(
                "PUT",
                &url[url.find("/upload/").unwrap()..],
                &[(
                    "Content-Range",
                    &format!("bytes 0-{}/{}", MULT - 1, 2 * MULT),
                )],
                Body::Bytes(&vec![1; MULT as usize]),
            )
            .unwrap();
        assert_eq!(r.status, 202, "{}", r.text());
        assert_eq!(emu.sessions()[0].accepted, vec![(0, MULT - 1)]);
    }
}
