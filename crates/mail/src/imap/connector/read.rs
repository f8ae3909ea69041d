//! Reading a folder: EXAMINE and its status, paging the summaries, fetching message bodies.

use super::*;

impl Session {
    pub(super) async fn examine(&mut self, name: &str) -> Result<FolderStatus> {
        // RFC 3501 §6.3.1: a failed SELECT/EXAMINE leaves no folder open.
        self.examined = None;
        let mut cmd = Command::new("EXAMINE").astring(name);
        if self.conn.has("CONDSTORE") {
            cmd = cmd.raw("(CONDSTORE)");
        }
        let reply = self.conn.run(cmd, Op::Examine).await?;
        let (mut validity, mut next, mut exists, mut modseq) = (None, None, 0u32, None);
        for f in &reply.untagged {
            match Response::from_bytes(f) {
                Ok((_, Response::MailboxData(MailboxDatum::Exists(n)))) => exists = n,
                Ok((
                    _,
                    Response::Data {
                        code: Some(code), ..
                    },
                )) => match code {
                    ResponseCode::UidValidity(v) => validity = Some(v),
                    ResponseCode::UidNext(v) => next = Some(v),
                    ResponseCode::HighestModSeq(v) => modseq = Some(v),
                    _ => {}
                },
                Ok(_) => {}
                Err(_) => tracing::debug!(
                    "skipping an untagged response imap-proto cannot parse: {:?}",
                    preview(f)
                ),
            }
        }
        let uid_validity = validity
            .ok_or_else(|| protocol_error(format!("EXAMINE {name} returned no UIDVALIDITY")))?;
        let uid_next = match next {
            Some(n) => n,
            None => self.status_uid_next(name).await?,
        };
        let status = FolderStatus {
            uid_validity,
            uid_next,
            messages: exists,
            highest_modseq: modseq,
        };
        self.examined = Some(Examined {
            name: name.to_owned(),
            status,
            at: Instant::now(),
            stale: false,
        });
        Ok(status)
    }

    /// Fallback for servers that omit `[UIDNEXT]` from EXAMINE.
    pub(super) async fn status_uid_next(&mut self, name: &str) -> Result<u32> {
        let reply = self
            .conn
            .run(
                Command::new("STATUS").astring(name).raw("(UIDNEXT)"),
                Op::Other,
            )
            .await?;
        for f in &reply.untagged {
            if let Ok((_, Response::MailboxData(MailboxDatum::Status { status, .. }))) =
                Response::from_bytes(f)
            {
                for a in status {
                    if let imap_proto::StatusAttribute::UidNext(n) = a {
                        return Ok(n);
                    }
                }
            }
        }
        Err(protocol_error(format!(
            "the server reports no UIDNEXT for {name}"
        )))
    }

    pub(super) async fn ensure_examined(&mut self, name: &str) -> Result<FolderStatus> {
        match &self.examined {
            Some(e) if e.name == name && !e.stale => Ok(e.status),
            _ => self.examine(name).await,
        }
    }

    pub(super) async fn folder_status(&mut self, folder: &FolderPath) -> Result<FolderStatus> {
        let name = self.wire_name(folder).await?;
        if let Some(e) = &self.examined
            && e.name == name
            && !e.stale
            && e.at.elapsed() < STATUS_CACHE
        {
            return Ok(e.status);
        }
        self.examine(&name).await
    }

    /// The sequence number of the first message with uid ≥ `uid_from`, or `None` if there is none.
    pub(super) async fn find_seq(&mut self, uid_from: u32) -> Result<Option<u32>> {
        if uid_from <= 1 {
            return Ok(Some(1));
        }
        let esearch = self.conn.has("ESEARCH");
        let cmd = if esearch {
            Command::new("SEARCH RETURN (MIN) UID").raw(&format!("{uid_from}:*"))
        } else {
            Command::new("SEARCH UID").raw(&format!("{uid_from}:*"))
        };
        let reply = self.conn.run(cmd, Op::Other).await?;
        self.track(&reply.untagged);
        let mut min: Option<u32> = None;
        for f in &reply.untagged {
            if let Some(m) = proto::esearch_min(f) {
                min = m;
            } else if let Ok((_, Response::MailboxData(MailboxDatum::Search(v)))) =
                Response::from_bytes(f)
            {
                min = v.into_iter().min();
            }
        }
        Ok(min)
    }

    pub(super) async fn summaries(
        &mut self,
        folder: &FolderPath,
        uid_from: u32,
        limit: u32,
    ) -> Result<Vec<MessageSummary>> {
        let name = self.wire_name(folder).await?;
        let status = self.ensure_examined(&name).await?;
        let uid_from = uid_from.max(1);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let cursor_start = match &self.cursor {
            Some(c)
                if c.name == name
                    && c.uid_validity == status.uid_validity
                    && c.next_uid == uid_from =>
            {
                Some(c.next_seq)
            }
            _ => None,
        };
        let mut start = match cursor_start {
            Some(s) => s,
            None => match self.find_seq(uid_from).await? {
                Some(s) => s,
                None => return Ok(Vec::new()),
            },
        };
        let mut resynced = cursor_start.is_none();
        loop {
            let exists = self.examined.as_ref().map_or(0, |e| e.status.messages);
            if start == 0 || start > exists {
                return Ok(Vec::new());
            }
            let lo = if start > 1 { start - 1 } else { 1 };
            let hi = (u64::from(start) + u64::from(limit) - 1).min(u64::from(exists)) as u32;
            let cmd = Command::new("FETCH").raw(&format!("{lo}:{hi} {SUMMARY_ITEMS}"));
            let reply = self.conn.run(cmd, Op::Other).await?;
            self.track(&reply.untagged);
            let page = parse_summaries(&reply.untagged);
            // The message before the cursor must be below uid_from, else the numbers shifted under us.
            let aligned = start == 1 || page.get(&lo).is_some_and(|m| m.uid < uid_from);
            if !aligned && !resynced {
                tracing::debug!(folder = %folder, uid_from, "summary cursor out of step; searching again");
                resynced = true;
                match self.find_seq(uid_from).await? {
                    Some(s) => start = s,
                    None => return Ok(Vec::new()),
                }
                continue;
            }
            let out: Vec<(u32, MessageSummary)> = page
                .into_iter()
                .filter(|(seq, m)| *seq >= start && m.uid >= uid_from)
                .take(limit as usize)
                .collect();
            if let Some((seq, last)) = out.last() {
                self.cursor = Some(Cursor {
                    name: name.clone(),
                    uid_validity: status.uid_validity,
                    next_uid: last.uid.saturating_add(1),
                    next_seq: seq + 1,
                });
            }
            return Ok(out.into_iter().map(|(_, m)| m).collect());
        }
    }

    pub(super) async fn fetch(
        &mut self,
        folder: &FolderPath,
        uids: &[u32],
    ) -> Result<Vec<RawMessage>> {
        let name = self.wire_name(folder).await?;
        self.ensure_examined(&name).await?;
        let set = proto::uid_set(uids);
        if set.is_empty() {
            return Ok(Vec::new());
        }
        let cmd = Command::new("UID FETCH").raw(&format!("{set} (UID BODY.PEEK[])"));
        let reply = self.conn.run_raw(cmd).await?;
        self.track(&reply.untagged);
        let wanted: HashSet<u32> = uids.iter().copied().collect();
        let mut got: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
        // Frames are consumed one by one and each body reuses its frame's buffer: a batch is held once in
        // memory, not twice (frames plus copies), which is what keeps the byte budget honest.
        for mut f in reply.untagged {
            let found = match Response::from_bytes(&f) {
                Ok((_, Response::Fetch(_, attrs))) => {
                    let mut uid = None;
                    let mut body = None;
                    for a in attrs {
                        match a {
                            AttributeValue::Uid(u) => uid = Some(u),
                            AttributeValue::BodySection {
                                section: None,
                                data: Some(d),
                                ..
                            }
                            | AttributeValue::Rfc822(Some(d)) => body = Some(d),
                            _ => {}
                        }
                    }
                    match (uid, body) {
                        (Some(u), Some(b)) if wanted.contains(&u) => {
                            Some((u, body_in_frame(&f, b)))
                        }
                        _ => None,
                    }
                }
                Ok(_) => None,
                Err(_) => {
                    tracing::debug!(
                        "skipping an untagged response imap-proto cannot parse: {:?}",
                        preview(&f)
                    );
                    None
                }
            };
            if let Some((u, body)) = found {
                let bytes = match body {
                    Body::Range(start, len) => {
                        f.truncate(start + len);
                        f.drain(..start);
                        if f.capacity() > f.len() + f.len() / 2 + 4096 {
                            f.shrink_to_fit();
                        }
                        f
                    }
                    Body::Owned(v) => v,
                };
                got.insert(u, bytes);
            }
        }
        if !reply.done.is_ok() {
            // Dovecot answers `NO` when some requested messages were expunged meanwhile; the rest is good.
            if got.is_empty() || reply.done.status == proto::Status::Bad {
                return Err(completion_error(Op::Other, &reply.done));
            }
            tracing::warn!(folder = %folder, "fetch: {}; returning the {} messages received", reply.done.summary(), got.len());
        }
        Ok(got
            .into_iter()
            .map(|(uid, bytes)| RawMessage { uid, bytes })
            .collect())
    }
}

/// Summaries from FETCH responses, keyed by sequence number (several responses for one message merge).
pub(super) fn parse_summaries(frames: &[Vec<u8>]) -> BTreeMap<u32, MessageSummary> {
    #[derive(Default)]
    struct Partial {
        uid: Option<u32>,
        size: Option<u32>,
        flags: Vec<String>,
        date: Option<chrono::DateTime<chrono::FixedOffset>>,
        header: Option<Vec<u8>>,
    }
    let mut parts: BTreeMap<u32, Partial> = BTreeMap::new();
    for f in frames {
        let (seq, attrs) = match Response::from_bytes(f) {
            Ok((_, Response::Fetch(seq, attrs))) => (seq, attrs),
            Ok(_) => continue,
            Err(_) => {
                tracing::debug!(
                    "skipping an untagged response imap-proto cannot parse: {:?}",
                    preview(f)
                );
                continue;
            }
        };
        let p = parts.entry(seq).or_default();
        for a in attrs {
            match a {
                AttributeValue::Uid(u) => p.uid = Some(u),
                AttributeValue::Rfc822Size(s) => p.size = Some(s),
                AttributeValue::Flags(fl) => {
                    p.flags = fl
                        .into_iter()
                        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
                        .map(|f| f.into_owned())
                        .collect();
                }
                AttributeValue::InternalDate(d) => p.date = proto::parse_internal_date(&d),
                AttributeValue::BodySection { data, .. } => {
                    p.header = Some(data.map(|d| d.into_owned()).unwrap_or_default())
                }
                _ => {}
            }
        }
    }
    parts
        .into_iter()
        .filter_map(|(seq, p)| {
            let uid = p.uid?;
            let header = p.header.unwrap_or_default();
            let fields = parse_headers(&header);
            let size = u64::from(p.size.unwrap_or(0));
            Some((
                seq,
                MessageSummary {
                    uid,
                    size,
                    flags: p.flags,
                    internal_date: p.date,
                    message_id: fields.message_id.clone(),
                    fingerprint: fingerprint(&fields, size),
                    from: fields.values[2].clone(),
                    subject: fields.values[5].clone(),
                },
            ))
        })
        .collect()
}

pub(super) fn preview(f: &[u8]) -> String {
    let end = f.len().min(120);
    String::from_utf8_lossy(&f[..end]).into_owned()
}

/// Where a fetched body lies: inside the response frame (the usual case: imap-proto borrows literals) or
/// in its own buffer.
enum Body {
    Range(usize, usize),
    Owned(Vec<u8>),
}

fn body_in_frame(frame: &[u8], body: std::borrow::Cow<'_, [u8]>) -> Body {
    match body {
        std::borrow::Cow::Borrowed(b) => {
            let start = (b.as_ptr() as usize).wrapping_sub(frame.as_ptr() as usize);
            if start <= frame.len() && start + b.len() <= frame.len() {
                Body::Range(start, b.len())
            } else {
                Body::Owned(b.to_vec())
            }
        }
        std::borrow::Cow::Owned(v) => Body::Owned(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_parse_merge_and_drop_recent() {
        let frames = vec![
            b"* 1 FETCH (UID 5 RFC822.SIZE 120 FLAGS (\\Seen \\Recent $Work) INTERNALDATE \"07-Jul-2024 10:00:00 +0200\" BODY[HEADER.FIELDS (MESSAGE-ID DATE FROM TO CC SUBJECT)] {34}\r\nMessage-ID: <a@b>\r\nSubject: hi\r\n\r\n)\r\n".to_vec(),
            b"* 2 FETCH (UID 9 RFC822.SIZE 7 FLAGS () INTERNALDATE \" 1-Jan-2020 00:00:00 +0000\" BODY[HEADER.FIELDS (MESSAGE-ID DATE FROM TO CC SUBJECT)] {2}\r\n\r\n)\r\n".to_vec(),
            b"* garbage that does not parse\r\n".to_vec(),
        ];
        let s = parse_summaries(&frames);
        assert_eq!(s.len(), 2);
        let a = &s[&1];
        assert_eq!((a.uid, a.size), (5, 120));
        assert_eq!(a.flags, ["\\Seen", "$Work"]);
        assert_eq!(a.message_id.as_deref(), Some("a@b"));
        assert_eq!(
            a.internal_date.map(|d| d.to_rfc3339()).as_deref(),
            Some("2024-07-07T10:00:00+02:00")
        );
        assert_eq!(s[&2].message_id, None);
        assert_ne!(s[&1].fingerprint, s[&2].fingerprint);
    }
}
