//! The source half of a folder: page the summaries, decide each message, fetch in batches within the byte
//! budget and hand them to the target half.

use super::*;

impl MailboxPass<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn source_half(
        &self,
        src: &mut Conn,
        folder: &FolderPath,
        tfolder: &FolderPath,
        status: &FolderStatus,
        hwm: u32,
        matcher: &FolderMatch,
        retry_failed: &[ItemRow],
        tx: mpsc::Sender<Work>,
    ) -> Result<()> {
        let policy = &self.opts.retry;
        let uv = status.uid_validity;

        // Items that failed in an earlier pass (or whose append was never confirmed) are tried again first.
        let mut retry_summaries = Vec::new();
        let mut vanished = Vec::new();
        for row in retry_failed {
            let page = retry!(policy, "summaries", src.summaries(folder, row.uid, 1))?;
            match page.into_iter().next() {
                Some(s) if s.uid == row.uid => retry_summaries.push(s),
                _ => vanished.push(row_write(
                    row,
                    ItemStatus::Skipped,
                    Some("vanished from the source before it could be copied".into()),
                    None,
                )),
            }
        }
        if !vanished.is_empty() {
            // These were counted failed before; they are now accounted for as skipped.
            self.store
                .write_items(self.mapping, self.pass, folder, uv, &vanished)
                .await?;
            self.count_skipped(vanished.len() as u64);
        }
        if !retry_summaries.is_empty() {
            self.send_batches(src, folder, tfolder, uv, retry_summaries, &tx)
                .await?;
        }

        let mut from = match matcher {
            FolderMatch::Journal => hwm.saturating_add(1).max(1),
            _ => 1,
        };
        let page_size = ferry_core::limits::SUMMARY_PAGE;
        loop {
            let page = retry!(policy, "summaries", src.summaries(folder, from, page_size))?;
            let (Some(first), Some(last)) =
                (page.first().map(|s| s.uid), page.last().map(|s| s.uid))
            else {
                break;
            };
            // Matched against the target, the journal's rows are re-decided: they do not filter.
            let journaled: HashSet<u32> = match matcher {
                FolderMatch::Target(_) => HashSet::new(),
                _ => self
                    .store
                    .journaled_uids(self.mapping, folder, uv, first, last)
                    .await?
                    .into_iter()
                    .collect(),
            };
            let mut todo = Vec::new();
            let mut skipped = Vec::new();
            let mut recognised = Vec::new();
            for s in page {
                if journaled.contains(&s.uid) {
                    continue;
                }
                let mut deferred = false;
                match matcher {
                    FolderMatch::Journal => {}
                    FolderMatch::Rekey { old, .. } => {
                        if matcher.needs_body(&s.fingerprint) {
                            // The claim waits for the bytes (see the target half).
                            deferred = true;
                        } else {
                            // A claimed row that was copied or skipped is settled; one that failed (or was
                            // never confirmed) is copied now under its new key.
                            let claimed = self
                                .store
                                .claim_by_fingerprint(
                                    self.mapping,
                                    folder,
                                    *old,
                                    uv,
                                    s.uid,
                                    &s.fingerprint,
                                    None,
                                )
                                .await?;
                            if matches!(claimed, Some(ItemStatus::Copied | ItemStatus::Skipped)) {
                                continue;
                            }
                        }
                    }
                    FolderMatch::Target(index) => {
                        let hit = index
                            .lock()
                            .map_err(|_| Error::unexpected("target index poisoned"))?
                            .lookup(&s.fingerprint);
                        match hit {
                            Hit::Found(uid) => {
                                recognised.push(ItemWrite {
                                    target_uid: Some(uid),
                                    ..write(&s, ItemStatus::Copied, None, tfolder)
                                });
                                continue;
                            }
                            Hit::NeedBody => deferred = true,
                            Hit::Absent => {}
                        }
                    }
                }
                if s.size > self.opts.max_size {
                    Progress::add(&self.progress.discovered, 1);
                    Progress::add(&self.progress.discovered_bytes, s.size);
                    self.tally.discovered.fetch_add(1, Ordering::Relaxed);
                    let reason = format!(
                        "{SIZE_LIMIT_SKIP} ({} > {}; see --max-size)",
                        mib(s.size),
                        mib(self.opts.max_size)
                    );
                    skipped.push(write(&s, ItemStatus::Skipped, Some(reason), tfolder));
                    continue;
                }
                if !deferred {
                    // A deferred message is counted by the target half once it is known to be new.
                    Progress::add(&self.progress.discovered, 1);
                    Progress::add(&self.progress.discovered_bytes, s.size);
                    self.tally.discovered.fetch_add(1, Ordering::Relaxed);
                }
                todo.push(s);
            }
            if !recognised.is_empty() {
                self.store
                    .write_items(self.mapping, self.pass, folder, uv, &recognised)
                    .await?;
                self.tally
                    .recognised
                    .fetch_add(recognised.len() as u64, Ordering::Relaxed);
            }
            if !skipped.is_empty() {
                self.store
                    .write_items(self.mapping, self.pass, folder, uv, &skipped)
                    .await?;
                self.count_skipped(skipped.len() as u64);
            }
            self.send_batches(src, folder, tfolder, uv, todo, &tx)
                .await?;
            if tx.send(Work::PageDone(last)).await.is_err() {
                return Ok(()); // the target half stopped; its error is reported
            }
            from = match last.checked_add(1) {
                Some(n) => n,
                None => break,
            };
        }
        Ok(())
    }

    pub(super) fn count_skipped(&self, n: u64) {
        self.tally.skipped.fetch_add(n, Ordering::Relaxed);
        Progress::add(&self.progress.skipped, n);
    }

    pub(super) fn count_failed(&self, n: u64) {
        self.tally.failed.fetch_add(n, Ordering::Relaxed);
        Progress::add(&self.progress.failed, n);
    }

    /// Cut `todo` into batches (by count and bytes), fetch each within the byte budget, hand it over.
    async fn send_batches(
        &self,
        src: &mut Conn,
        folder: &FolderPath,
        tfolder: &FolderPath,
        uv: u32,
        todo: Vec<MessageSummary>,
        tx: &mpsc::Sender<Work>,
    ) -> Result<()> {
        let policy = &self.opts.retry;
        let batch_bytes = self
            .opts
            .batch_bytes
            .min(self.budget.total_bytes() / 4)
            .max(1);
        let mut rest: VecDeque<MessageSummary> = todo.into();
        while !rest.is_empty() {
            let mut batch = Vec::new();
            let mut bytes = 0u64;
            while let Some(s) = rest.front() {
                if !batch.is_empty()
                    && (batch.len() >= self.opts.batch_messages || bytes + s.size > batch_bytes)
                {
                    break;
                }
                bytes += s.size;
                if let Some(s) = rest.pop_front() {
                    batch.push(s);
                }
            }
            let permit = self.budget.acquire(bytes).await;
            let uids: Vec<u32> = batch.iter().map(|s| s.uid).collect();
            let fetched = match retry!(policy, "fetch", src.fetch(folder, &uids)) {
                Ok(f) => f,
                Err(e) if !e.is_temporary() && batch.len() > 1 => {
                    // One bad message must not sink its batch: fetch one by one and fail only that one.
                    let mut all = Vec::new();
                    let mut failed = Vec::new();
                    for s in &batch {
                        match retry!(policy, "fetch", src.fetch(folder, &[s.uid])) {
                            Ok(mut one) => all.append(&mut one),
                            Err(e) if !e.is_temporary() => failed.push(write(
                                s,
                                ItemStatus::Failed,
                                Some(format!("source refused to return it: {e}")),
                                tfolder,
                            )),
                            Err(e) => return Err(e),
                        }
                    }
                    self.store
                        .write_items(self.mapping, self.pass, folder, uv, &failed)
                        .await?;
                    self.count_failed(failed.len() as u64);
                    all
                }
                Err(e) if !e.is_temporary() => {
                    let failed: Vec<_> = batch
                        .iter()
                        .map(|s| {
                            write(
                                s,
                                ItemStatus::Failed,
                                Some(format!("source refused to return it: {e}")),
                                tfolder,
                            )
                        })
                        .collect();
                    self.store
                        .write_items(self.mapping, self.pass, folder, uv, &failed)
                        .await?;
                    self.count_failed(failed.len() as u64);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut by_uid: HashMap<u32, RawMessage> =
                fetched.into_iter().map(|m| (m.uid, m)).collect();
            let mut items = Vec::with_capacity(batch.len());
            let mut gone = Vec::new();
            for s in batch {
                match by_uid.remove(&s.uid) {
                    Some(raw) => items.push((s, raw)),
                    None => gone.push(write(
                        &s,
                        ItemStatus::Skipped,
                        Some("vanished from the source before it could be copied".into()),
                        tfolder,
                    )),
                }
            }
            if !gone.is_empty() {
                self.store
                    .write_items(self.mapping, self.pass, folder, uv, &gone)
                    .await?;
                self.count_skipped(gone.len() as u64);
            }
            if !items.is_empty()
                && tx
                    .send(Work::Batch {
                        items,
                        _permit: permit,
                    })
                    .await
                    .is_err()
            {
                return Ok(());
            }
        }
        Ok(())
    }
}
