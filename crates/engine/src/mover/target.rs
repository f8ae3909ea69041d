//! The target half of a folder: journal a batch as pending, append it, journal the outcomes; find by
//! fingerprint what an interrupted append may have left on the target.

use super::*;

impl MailboxPass<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn target_half(
        &self,
        tgt: &mut Conn,
        folder: &FolderPath,
        tfolder: &FolderPath,
        uv: u32,
        checkpoint: bool,
        matcher: &FolderMatch,
        state: &mut FolderState,
        mut rx: mpsc::Receiver<Work>,
    ) -> Result<()> {
        let mut next_probe: Option<u32> = None;
        while let Some(work) = rx.recv().await {
            match work {
                Work::PageDone(last) => {
                    if checkpoint {
                        state.hwm = last;
                        self.store.save_folder_state(self.mapping, state).await?;
                    }
                }
                Work::Batch { items, _permit } => {
                    // Before any matching: a copy on the target holds the disarmed bytes.
                    let (items, changed) = self.disarm(items);
                    let items = self
                        .settle_deferred(folder, tfolder, uv, matcher, items)
                        .await?;
                    if !items.is_empty() {
                        next_probe = self
                            .append_batch(tgt, folder, tfolder, uv, items, next_probe, &changed)
                            .await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// With [`MailOptions::disarm_read_receipts`], rename each message's read-receipt request in place (the
    /// size, so the fingerprint, is kept); the uids that had one.
    fn disarm(
        &self,
        mut items: Vec<(MessageSummary, RawMessage)>,
    ) -> (Vec<(MessageSummary, RawMessage)>, HashSet<u32>) {
        let mut changed = HashSet::new();
        if self.opts.disarm_read_receipts {
            for (s, raw) in &mut items {
                if receipts::disarm_read_receipts(&mut raw.bytes) {
                    changed.insert(s.uid);
                }
            }
        }
        (items, changed)
    }

    /// Messages whose fingerprint is shared are matched by their bytes now that they are fetched: a match
    /// is settled (journaled, not appended); the rest go on to be appended and count as discovered.
    async fn settle_deferred(
        &self,
        folder: &FolderPath,
        tfolder: &FolderPath,
        uv: u32,
        matcher: &FolderMatch,
        items: Vec<(MessageSummary, RawMessage)>,
    ) -> Result<Vec<(MessageSummary, RawMessage)>> {
        if matches!(matcher, FolderMatch::Journal) {
            return Ok(items);
        }
        let mut rest = Vec::with_capacity(items.len());
        let mut recognised = Vec::new();
        let mut settled = 0u64;
        for (s, raw) in items {
            if !matcher.needs_body(&s.fingerprint) {
                rest.push((s, raw));
                continue;
            }
            let hash = content_hash(&raw.bytes);
            let done = match matcher {
                FolderMatch::Journal => false,
                FolderMatch::Rekey { old, .. } => matches!(
                    self.store
                        .claim_by_fingerprint(
                            self.mapping,
                            folder,
                            *old,
                            uv,
                            s.uid,
                            &s.fingerprint,
                            Some(&hash),
                        )
                        .await?,
                    Some(ItemStatus::Copied | ItemStatus::Skipped)
                ),
                FolderMatch::Target(index) => {
                    let hit = index
                        .lock()
                        .map_err(|_| Error::unexpected("target index poisoned"))?
                        .take_body(&s.fingerprint, &hash);
                    match hit {
                        Some(uid) => {
                            recognised.push(ItemWrite {
                                target_uid: Some(uid),
                                content_hash: Some(hash),
                                ..write(&s, ItemStatus::Copied, None, tfolder)
                            });
                            true
                        }
                        None => false,
                    }
                }
            };
            if done {
                settled += 1;
                continue;
            }
            Progress::add(&self.progress.discovered, 1);
            Progress::add(&self.progress.discovered_bytes, s.size);
            self.tally.discovered.fetch_add(1, Ordering::Relaxed);
            rest.push((s, raw));
        }
        self.store
            .write_items(self.mapping, self.pass, folder, uv, &recognised)
            .await?;
        self.tally.recognised.fetch_add(settled, Ordering::Relaxed);
        Ok(rest)
    }

    /// Journal a batch as pending, append it, journal the outcomes. Returns the target's next uid when the
    /// appends told us (UIDPLUS), so the next batch needs no STATUS round trip.
    #[allow(clippy::too_many_arguments)]
    async fn append_batch(
        &self,
        tgt: &mut Conn,
        folder: &FolderPath,
        tfolder: &FolderPath,
        uv: u32,
        items: Vec<(MessageSummary, RawMessage)>,
        known_next: Option<u32>,
        changed: &HashSet<u32>,
    ) -> Result<Option<u32>> {
        let policy = &self.opts.retry;
        let probe_from = match known_next {
            Some(n) => n,
            None => retry!(policy, "target status", tgt.folder_status(tfolder))?.uid_next,
        };
        let pending: Vec<ItemWrite> = items
            .iter()
            .map(|(s, _)| ItemWrite {
                probe_from: Some(probe_from),
                ..write(s, ItemStatus::Pending, None, tfolder)
            })
            .collect();
        self.store
            .write_items(self.mapping, self.pass, folder, uv, &pending)
            .await?;

        let mut outcome: Vec<Option<Outcome>> = vec![None; items.len()];
        let mut remaining: Vec<usize> = (0..items.len()).collect();
        let mut failures = 0u32;
        while !remaining.is_empty() {
            let reqs: Vec<AppendRequest<'_>> = remaining
                .iter()
                .map(|&i| AppendRequest {
                    bytes: &items[i].1.bytes,
                    flags: &items[i].0.flags,
                    internal_date: items[i].0.internal_date,
                })
                .collect();
            match tgt.append(tfolder, &reqs).await {
                Ok(results) if results.len() == remaining.len() => {
                    // A message refused for a passing reason with the server's word on when to come back
                    // (Exchange's `NO … Suggested Backoff Time`, or not carried out before the server ended the
                    // session) did not arrive: it is sent again after the wait. Other refusals are final for
                    // this pass.
                    let mut again = Vec::new();
                    let mut hint = None;
                    for (&i, r) in remaining.iter().zip(results) {
                        outcome[i] = Some(match r {
                            Ok(uid) => (ItemStatus::Copied, None, uid),
                            // Longer than the pass may sleep: stop here. The batch's rows stay pending
                            // and the next run reconciles them against the target (those that arrived are
                            // found there, the rest sent again), so nothing is lost or copied twice.
                            Err(e) if policy.wait_too_long(&e).is_some() => {
                                return Err(e.with_context("side", "target"));
                            }
                            Err(e)
                                if e.retry_after().is_some()
                                    && policy.may_retry(&e, failures + 1) =>
                            {
                                hint = hint.or(e.retry_after());
                                again.push(i);
                                continue;
                            }
                            // Over the target's size or line limit: nothing to retry, the user decides.
                            Err(e) if e.kind() == ferry_core::ErrorKind::TooLarge => (
                                ItemStatus::Skipped,
                                Some(format!("{TARGET_TOO_LARGE_SKIP}: {e}")),
                                None,
                            ),
                            Err(e) => (
                                ItemStatus::Failed,
                                Some(format!("target refused it: {e}")),
                                None,
                            ),
                        });
                    }
                    if !again.is_empty() {
                        failures += 1;
                        let delay = policy.delay(failures, hint);
                        tracing::warn!(
                            messages = again.len(),
                            delay_ms = delay.as_millis() as u64,
                            "target asked to slow down; sending those messages again after the wait"
                        );
                        tokio::time::sleep(delay).await;
                    }
                    remaining = again;
                }
                Ok(results) => {
                    return Err(Error::unexpected(format!(
                        "target returned {} results for {} messages",
                        results.len(),
                        remaining.len()
                    )));
                }
                Err(e) if policy.may_retry(&e, failures + 1) => {
                    failures += 1;
                    let delay = policy.delay(failures, e.retry_after());
                    tracing::warn!(error = %e, attempt = failures, "append interrupted; checking what arrived before retrying");
                    tokio::time::sleep(delay).await;
                    // Some of the batch may have landed before the cut: find those by fingerprint from the
                    // uid_next we noted before appending, and send only the rest again.
                    let wanted: Vec<&str> = remaining
                        .iter()
                        .map(|&i| items[i].0.fingerprint.as_str())
                        .collect();
                    // Never append again without knowing what arrived: if the lookup itself is cut, look
                    // again; when attempts run out, the rows stay pending for the next pass to reconcile.
                    let found = loop {
                        match self.probe(tgt, tfolder, probe_from, &wanted).await {
                            Ok(f) => break f,
                            Err(pe) if policy.may_retry(&pe, failures + 1) => {
                                failures += 1;
                                tokio::time::sleep(policy.delay(failures, pe.retry_after())).await;
                            }
                            Err(pe) => return Err(pe),
                        }
                    };
                    let mut still = Vec::new();
                    for (&i, hit) in remaining.iter().zip(found) {
                        match hit {
                            Some(uid) => outcome[i] = Some((ItemStatus::Copied, None, Some(uid))),
                            None => still.push(i),
                        }
                    }
                    remaining = still;
                }
                Err(e) if e.is_temporary() => {
                    // Out of attempts, or a wait longer than the pass may sleep: leave the rows pending;
                    // the next pass reconciles them.
                    return Err(e);
                }
                Err(e) => {
                    for &i in &remaining {
                        outcome[i] = Some((
                            ItemStatus::Failed,
                            Some(format!("target refused it: {e}")),
                            None,
                        ));
                    }
                    remaining.clear();
                }
            }
        }

        let mut writes = Vec::with_capacity(items.len());
        let (mut copied, mut skipped, mut failed, mut bytes) = (0u64, 0u64, 0u64, 0u64);
        let mut max_uid: Option<u32> = None;
        let mut all_uids = true;
        for ((s, raw), o) in items.iter().zip(outcome) {
            let (status, reason, uid) = o.unwrap_or((
                ItemStatus::Failed,
                Some("no result from the target".into()),
                None,
            ));
            match status {
                ItemStatus::Copied => {
                    copied += 1;
                    bytes += raw.bytes.len() as u64;
                }
                ItemStatus::Skipped => skipped += 1,
                _ => failed += 1,
            }
            match uid {
                Some(u) => max_uid = Some(max_uid.map_or(u, |m| m.max(u))),
                None if status == ItemStatus::Copied => all_uids = false,
                None => {}
            }
            let copied_now = status == ItemStatus::Copied;
            writes.push(ItemWrite {
                target_uid: uid,
                probe_from: Some(probe_from),
                // What Ferry wrote: the flags (the base of the three-way flag sync) and, for a copy the
                // target gave no uid for, the bytes' hash (identity where fingerprints collide). A copy with
                // a uid is hashed from the target only if its identity is ever in question (a re-key with
                // a shared fingerprint, `hash_shared_copies`): hashing every body cost ~0.5 s of CPU per
                // 850 MB copied.
                content_hash: (copied_now && uid.is_none()).then(|| content_hash(&raw.bytes)),
                flags: copied_now.then(|| s.flags.clone()),
                note: (copied_now && changed.contains(&s.uid))
                    .then(|| receipts::DISARMED_NOTE.to_owned()),
                ..write(s, status, reason, tfolder)
            });
        }
        self.store
            .write_items(self.mapping, self.pass, folder, uv, &writes)
            .await?;
        self.tally.copied.fetch_add(copied, Ordering::Relaxed);
        self.tally.bytes.fetch_add(bytes, Ordering::Relaxed);
        Progress::add(&self.progress.copied, copied);
        Progress::add(&self.progress.copied_bytes, bytes);
        if failed > 0 {
            self.count_failed(failed);
        }
        if skipped > 0 {
            self.count_skipped(skipped);
        }
        // Only when every copied message reported its uid do we know the next uid without asking.
        Ok(match (all_uids, max_uid, failed + skipped) {
            (true, Some(m), 0) => m.checked_add(1),
            _ => None,
        })
    }

    /// For each wanted fingerprint (in order), a target uid at or after `from` holding that content, each
    /// target message matched at most once.
    async fn probe(
        &self,
        tgt: &mut Conn,
        tfolder: &FolderPath,
        from: u32,
        wanted: &[&str],
    ) -> Result<Vec<Option<u32>>> {
        let want: HashSet<&str> = wanted.iter().copied().collect();
        let mut found: HashMap<String, VecDeque<u32>> = HashMap::new();
        let mut cursor = from.max(1);
        loop {
            let page = tgt
                .summaries(tfolder, cursor, ferry_core::limits::SUMMARY_PAGE)
                .await?;
            let Some(last) = page.last().map(|s| s.uid) else {
                break;
            };
            for s in page {
                if want.contains(s.fingerprint.as_str()) {
                    found.entry(s.fingerprint).or_default().push_back(s.uid);
                }
            }
            cursor = match last.checked_add(1) {
                Some(c) => c,
                None => break,
            };
        }
        Ok(wanted
            .iter()
            .map(|fp| found.get_mut(*fp).and_then(|q| q.pop_front()))
            .collect())
    }

    /// Settle rows left pending by a crash: present on the target → copied; absent → failed with a reason
    /// that says it will be retried (and the failed-retry path of this same pass copies it).
    pub(super) async fn reconcile_pending(
        &self,
        tgt: &mut Conn,
        folder: &FolderPath,
        uv: u32,
        pending: &[ItemRow],
    ) -> Result<()> {
        let policy = &self.opts.retry;
        let mut groups: HashMap<FolderPath, Vec<&ItemRow>> = HashMap::new();
        for r in pending {
            let tf = r.target_folder.clone().unwrap_or_else(|| folder.clone());
            groups.entry(tf).or_default().push(r);
        }
        let mut writes = Vec::new();
        for (tf, rows) in groups {
            let from = rows.iter().filter_map(|r| r.probe_from).min().unwrap_or(1);
            let wanted: Vec<&str> = rows.iter().map(|r| r.fingerprint.as_str()).collect();
            let found = retry!(policy, "reconcile", self.probe(tgt, &tf, from, &wanted))?;
            for (r, hit) in rows.into_iter().zip(found) {
                writes.push(match hit {
                    Some(uid) => row_write(r, ItemStatus::Copied, None, Some(uid)),
                    None => row_write(
                        r,
                        ItemStatus::Failed,
                        Some("interrupted before the target confirmed it; retried".into()),
                        None,
                    ),
                });
            }
        }
        self.store
            .write_items(self.mapping, self.pass, folder, uv, &writes)
            .await
    }
}
