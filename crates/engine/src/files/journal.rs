//! The journal writer of one pass: a task that writes the pass's rows in order, merging what is queued
//! into one transaction, so neither the walk nor the copies wait on the database.
//!
//! Crash safety needs one ordering only: a file's pending row is committed before any of its bytes is
//! sent. Each queued batch gets a [`Durable`] that opens once the batch is committed; a directory's
//! copies wait for their own directory's, not the walk. Rows are written in the order they are queued,
//! so a file's `copied` row (queued after its copy, so after its pending row was committed) always
//! lands last.

use ferry_core::id::{MappingId, PassId};
use ferry_core::{Error, ErrorKind, Result};
use ferry_store::{FileItemWrite, FileStore};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Batches waiting for the writer, at most (the walk waits when it is that far ahead).
const QUEUE: usize = 64;
/// Rows in one transaction, at most.
const MAX_ROWS: usize = 4096;

struct Batch {
    rows: Vec<FileItemWrite>,
    durable: watch::Sender<bool>,
}

/// Opens once a batch is committed.
#[derive(Clone)]
pub(super) struct Durable(watch::Receiver<bool>);

impl Durable {
    /// Wait until the batch is committed; an error when the writer failed before it was.
    pub(super) async fn wait(mut self) -> Result<()> {
        self.0
            .wait_for(|committed| *committed)
            .await
            .map(|_| ())
            .map_err(|_| Error::new(ErrorKind::Store, "the journal could not be written"))
    }
}

/// See the module docs.
pub(super) struct Journal {
    tx: Option<mpsc::Sender<Batch>>,
    task: Option<JoinHandle<Result<()>>>,
}

impl Journal {
    pub(super) fn start(store: Arc<dyn FileStore>, mapping: MappingId, pass: PassId) -> Journal {
        let (tx, mut rx) = mpsc::channel::<Batch>(QUEUE);
        let task = tokio::spawn(async move {
            let mut rows = Vec::new();
            let mut acks = Vec::new();
            while let Some(first) = rx.recv().await {
                rows.extend(first.rows);
                acks.push(first.durable);
                while rows.len() < MAX_ROWS
                    && let Ok(more) = rx.try_recv()
                {
                    rows.extend(more.rows);
                    acks.push(more.durable);
                }
                store.write_file_items(mapping, pass, &rows).await?;
                rows.clear();
                for ack in acks.drain(..) {
                    let _ = ack.send(true);
                }
            }
            Ok(())
        });
        Journal {
            tx: Some(tx),
            task: Some(task),
        }
    }

    /// Queue `rows`; the [`Durable`] opens once they are committed.
    pub(super) async fn write(&mut self, rows: Vec<FileItemWrite>) -> Result<Durable> {
        let (durable, opens) = watch::channel(rows.is_empty());
        if rows.is_empty() {
            return Ok(Durable(opens));
        }
        let sent = match &self.tx {
            Some(tx) => tx.send(Batch { rows, durable }).await.is_ok(),
            None => false,
        };
        if sent {
            Ok(Durable(opens))
        } else {
            // The writer stopped: its error is the one to report.
            Err(self
                .finish()
                .await
                .err()
                .unwrap_or_else(|| Error::new(ErrorKind::Store, "the journal writer stopped")))
        }
    }

    /// Write what is queued and stop; the first error the writer met, if any.
    pub(super) async fn finish(&mut self) -> Result<()> {
        self.tx = None;
        match self.task.take() {
            Some(task) => task.await.map_err(|e| {
                Error::unexpected(format!("the journal writer ended abnormally: {e}"))
            })?,
            None => Ok(()),
        }
    }
}
