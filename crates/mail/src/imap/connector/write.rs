//! Writing to the target: creating folders, APPEND (MULTIAPPEND and LITERAL+ where offered), flags.

use super::*;

impl Session {
    pub(super) async fn create_folder(
        &mut self,
        folder: &FolderPath,
        special_use: Option<SpecialUse>,
    ) -> Result<()> {
        if folder.is_inbox() {
            return Ok(());
        }
        // RFC 3501 §6.3.3: the server creates the superiors a name needs, and most make them `\Noselect`
        // parents — which keeps a source's `\Noselect` parent a parent on the target instead of a new
        // mailbox. Only when the server refuses are the ancestors created one by one.
        let Some(refusal) = self.create_one(folder, special_use).await? else {
            return Ok(());
        };
        tracing::debug!(folder = %folder, "CREATE refused ({}); creating its parents first", refusal.summary());
        for anc in folder.ancestors() {
            if !anc.is_inbox() {
                // A parent that cannot be created shows up in the retry below.
                let _ = self.create_one(&anc, None).await?;
            }
        }
        match self.create_one(folder, special_use).await? {
            None => Ok(()),
            Some(done) => Err(completion_error(Op::Create, &done)),
        }
    }

    /// CREATE one folder; `None` when it now exists (created, or there already), else the refusal.
    pub(super) async fn create_one(
        &mut self,
        path: &FolderPath,
        special_use: Option<SpecialUse>,
    ) -> Result<Option<proto::Completion>> {
        let name = self.wire_name(path).await?;
        let role = special_use.filter(|_| self.conn.has("CREATE-SPECIAL-USE"));
        let mut cmd = Command::new("CREATE").astring(&name);
        if let Some(r) = role {
            // RFC 6154 §3.
            cmd = cmd.raw(&format!("(USE ({}))", r.attribute()));
        }
        let mut reply = self.conn.run_raw(cmd).await?;
        if !reply.done.is_ok() && role.is_some() && reply.done.has_code("USEATTR") {
            tracing::warn!(folder = %path, "the server refused the special-use role: {}", reply.done.summary());
            reply = self
                .conn
                .run_raw(Command::new("CREATE").astring(&name))
                .await?;
        }
        if reply.done.is_ok() || reply.done.has_code("ALREADYEXISTS") {
            return Ok(None);
        }
        if reply.done.status == proto::Status::No && self.exists(&name).await? {
            return Ok(None);
        }
        Ok(Some(reply.done))
    }

    pub(super) async fn exists(&mut self, name: &str) -> Result<bool> {
        let reply = self
            .conn
            .run(Command::new("LIST \"\"").astring(name), Op::Other)
            .await?;
        Ok(reply.untagged.iter().any(|f| {
            matches!(
                Response::from_bytes(f),
                Ok((_, Response::MailboxData(MailboxDatum::List { .. })))
            )
        }))
    }

    pub(super) async fn append(
        &mut self,
        folder: &FolderPath,
        messages: &[AppendRequest<'_>],
    ) -> Result<Vec<Result<Option<u32>>>> {
        let name = self.wire_name(folder).await?;
        let out = if self.conn.has("MULTIAPPEND") {
            self.append_multi(&name, messages).await?
        } else {
            self.append_each(&name, messages).await?
        };
        if let Some(e) = self.examined.as_mut()
            && e.name == name
        {
            e.stale = true;
        }
        Ok(out)
    }

    /// MULTIAPPEND (RFC 3502): one APPEND command per batch of messages, one server transaction each.
    /// On Dovecot's Maildir every APPEND transaction rewrites `dovecot-uidlist`, so one command per message
    /// is quadratic in the folder size. A batch is atomic: if the server refuses it, nothing was stored and
    /// its messages are sent again one by one to learn which one it refuses.
    pub(super) async fn append_multi(
        &mut self,
        name: &str,
        messages: &[AppendRequest<'_>],
    ) -> Result<Vec<Result<Option<u32>>>> {
        let mut batches: Vec<std::ops::Range<usize>> = Vec::new();
        let mut start = 0;
        while start < messages.len() {
            let (mut end, mut bytes) = (start, 0usize);
            while end < messages.len()
                && end - start < MULTIAPPEND_MESSAGES
                && (end == start || bytes + messages[end].bytes.len() <= MULTIAPPEND_BYTES)
            {
                bytes += messages[end].bytes.len();
                end += 1;
            }
            batches.push(start..end);
            start = end;
        }
        let cmds: Vec<Command<'_>> = batches
            .iter()
            .map(|r| multiappend_command(name, &messages[r.clone()]))
            .collect();
        let dones = if self.literal_plus_for(messages) {
            self.conn.pipeline(&cmds).await?
        } else {
            let mut dones = Vec::with_capacity(cmds.len());
            for cmd in cmds {
                let reply = self.conn.run_raw(cmd).await?;
                self.track(&reply.untagged);
                dones.push(reply.done);
            }
            dones
        };
        let mut out = Vec::with_capacity(messages.len());
        for (range, done) in batches.into_iter().zip(dones) {
            if done.is_ok() {
                let uids = done.append_uids(range.len());
                out.extend((0..range.len()).map(|i| Ok(uids.as_ref().map(|u| u[i]))));
            } else {
                tracing::debug!(
                    "MULTIAPPEND of {} messages refused ({}); appending them one by one",
                    range.len(),
                    done.summary()
                );
                out.extend(self.append_each(name, &messages[range]).await?);
            }
        }
        Ok(out)
    }

    /// RFC 7888: LITERAL+ allows non-synchronising literals of any size, LITERAL- up to 4096 bytes.
    pub(super) fn literal_plus_for(&self, messages: &[AppendRequest<'_>]) -> bool {
        self.conn.has("LITERAL+")
            || (self.conn.has("LITERAL-") && messages.iter().all(|m| m.bytes.len() <= 4096))
    }

    /// One APPEND per message: pipelined with non-synchronising literals when allowed, else one by one.
    pub(super) async fn append_each(
        &mut self,
        name: &str,
        messages: &[AppendRequest<'_>],
    ) -> Result<Vec<Result<Option<u32>>>> {
        let cmds: Vec<Command<'_>> = messages.iter().map(|m| append_command(name, m)).collect();
        let mut out = Vec::with_capacity(messages.len());
        if self.literal_plus_for(messages) {
            for chunk in cmds.chunks(PIPELINE_CHUNK) {
                let (dones, err) = self.conn.pipeline_partial(chunk).await;
                out.extend(dones.iter().map(append_result));
                let Some(e) = err else { continue };
                if !self.conn.ended_by_server() {
                    // Cut without a word: any message in flight may have arrived; the caller checks.
                    return Err(e);
                }
                // The server ended the session (BYE after errors, disconnect after throttling): what it did
                // not complete it did not store; those are sent again on a new connection.
                let wait = self
                    .conn
                    .backoff_until
                    .map(|u| u.saturating_duration_since(Instant::now()));
                while out.len() < messages.len() {
                    // The server's word on when to send again: after its backoff, or at once.
                    out.push(Err(Error::new(
                        ErrorKind::Io,
                        format!("not stored: the server ended the session first ({e}); sent again"),
                    )
                    .temporary()
                    .with_retry_after(wait.unwrap_or_default())));
                }
                return Ok(out);
            }
        } else {
            for cmd in cmds {
                let reply = self.conn.run_raw(cmd).await?;
                self.track(&reply.untagged);
                out.push(append_result(&reply.done));
            }
        }
        Ok(out)
    }

    pub(super) async fn flags(
        &mut self,
        folder: &FolderPath,
        changed_since: Option<u64>,
    ) -> Result<Vec<MessageFlags>> {
        let name = self.wire_name(folder).await?;
        let status = self.ensure_examined(&name).await?;
        if status.messages == 0 {
            return Ok(Vec::new());
        }
        let mut cmd = Command::new("UID FETCH").raw("1:* (UID FLAGS)");
        if let Some(m) = changed_since.filter(|_| self.conn.has("CONDSTORE")) {
            // RFC 7162 §3.1.4.
            cmd = cmd.raw(&format!("(CHANGEDSINCE {m})"));
        }
        let reply = self.conn.run(cmd, Op::Other).await?;
        self.track(&reply.untagged);
        let mut out = Vec::new();
        for f in &reply.untagged {
            let Ok((_, Response::Fetch(_, attrs))) = Response::from_bytes(f) else {
                continue;
            };
            let (mut uid, mut flags) = (None, None);
            for a in attrs {
                match a {
                    AttributeValue::Uid(u) => uid = Some(u),
                    AttributeValue::Flags(fl) => {
                        flags = Some(
                            fl.into_iter()
                                .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
                                .map(|f| f.into_owned())
                                .collect(),
                        )
                    }
                    _ => {}
                }
            }
            if let (Some(uid), Some(flags)) = (uid, flags) {
                out.push(MessageFlags { uid, flags });
            }
        }
        out.sort_by_key(|m| m.uid);
        Ok(out)
    }

    pub(super) async fn set_flags(
        &mut self,
        folder: &FolderPath,
        uids: &[u32],
        flags: &[String],
    ) -> Result<()> {
        let name = self.wire_name(folder).await?;
        // STORE needs the folder opened read-write; after it, reads must EXAMINE again.
        self.examined = None;
        self.cursor = None;
        self.conn
            .run(Command::new("SELECT").astring(&name), Op::Examine)
            .await?;
        let list: Vec<&str> = flags
            .iter()
            .map(String::as_str)
            .filter(|f| proto::sendable_flag(f))
            .collect();
        for chunk in uids.chunks(500) {
            let cmd = Command::new("UID STORE").raw(&format!(
                "{} FLAGS.SILENT ({})",
                proto::uid_set(chunk),
                list.join(" ")
            ));
            let reply = self.conn.run(cmd, Op::Other).await?;
            self.track(&reply.untagged);
        }
        Ok(())
    }
}

fn append_command<'a>(name: &str, m: &AppendRequest<'a>) -> Command<'a> {
    append_message(Command::new("APPEND").astring(name), m)
}

/// RFC 3502 §6.3.11: `APPEND mailbox (flags) "date" {n} ... (flags) "date" {n}`.
fn multiappend_command<'a>(name: &str, ms: &[AppendRequest<'a>]) -> Command<'a> {
    ms.iter()
        .fold(Command::new("APPEND").astring(name), append_message)
}

/// Add one message to an APPEND: `(flags) ["date"] literal` (RFC 3501 §6.3.11).
fn append_message<'a>(cmd: Command<'a>, m: &AppendRequest<'a>) -> Command<'a> {
    let mut flags: Vec<&str> = Vec::new();
    for f in m.flags {
        if proto::sendable_flag(f) {
            flags.push(f);
        } else if !f.eq_ignore_ascii_case("\\Recent") {
            tracing::warn!("flag {f:?} is not a valid IMAP keyword; not copied");
        }
    }
    let mut cmd = cmd.raw(&format!("({})", flags.join(" ")));
    if let Some(d) = &m.internal_date {
        cmd = cmd.raw(&format!("\"{}\"", proto::format_internal_date(d)));
    }
    cmd.literal(m.bytes)
}

fn append_result(done: &proto::Completion) -> Result<Option<u32>> {
    if done.is_ok() {
        Ok(done.append_uid())
    } else {
        Err(completion_error(Op::Append, done).with_operation("append"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_commands_carry_flags_and_date_but_never_recent() {
        let flags = vec![
            "\\Seen".to_owned(),
            "\\Recent".to_owned(),
            "$Label1".to_owned(),
            "bad flag".to_owned(),
        ];
        let date = proto::parse_internal_date("07-Jul-2024 10:00:00 +0200");
        let m = AppendRequest {
            bytes: b"Subject: x\r\n\r\nhi\r\n",
            flags: &flags,
            internal_date: date,
        };
        let c = append_command("Sent Items", &m);
        assert_eq!(
            c.redacted(),
            "APPEND \"Sent Items\" (\\Seen $Label1) \"07-Jul-2024 10:00:00 +0200\" {18}"
        );
    }
}
