//! Ferry's engine: plans and runs mail passes, resumably and verifiably.
//!
//! Key choices (DESIGN §5):
//! - **Identity**: a message is keyed on the source by (folder, uid_validity, uid) and by its content
//!   fingerprint; a UIDVALIDITY change re-keys journal rows by fingerprint instead of copying again.
//! - **Checkpointing**: journal rows are written `pending` before an append and `copied` (with the target
//!   uid) after the target confirms; pending rows are reconciled against the target before any re-copy.
//! - **Throughput** comes from many mailboxes at once and, within a mailbox, a source task fetching the next
//!   batch while the target task appends the previous one; a shared [`budget::ByteBudget`] bounds memory.
//! - **Never destructive**: the engine has no code path that deletes or overwrites on the target.
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<dyn ferry_store::Store>, specs: Vec<ferry_engine::MappingSpec>) -> ferry_core::Result<()> {
//! let progress = std::sync::Arc::new(ferry_engine::progress::Progress::default());
//! let summary = ferry_engine::run_mail(store, specs, ferry_engine::MailOptions::default(), progress).await?;
//! println!("{} copied", summary.totals.copied);
//! # Ok(()) }
//! ```

pub mod budget;
mod dedupe;
pub mod endpoint;
pub mod files;
mod flags;
pub mod job;
pub mod mapping_csv;
pub mod mover;
pub mod pattern;
pub mod plan;
pub mod progress;
mod quiet;
pub mod retry;
pub mod verify;

pub use endpoint::EndpointOpener;
pub use job::{
    MailOptions, MailboxResult, MappingSpec, RunSummary, plan_mail, plan_mail_with_journal,
    run_mail,
};
pub use retry::{RetryPolicy, ServerWait};
pub use verify::{FolderVerify, MailboxVerify, verify_mail};
