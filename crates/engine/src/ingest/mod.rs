//! Ingestion: the one writer thread and the queue in front of it.
//!
//! - `writer` — the thread: group commit, the consent gate, folding into the live state,
//!   rewards, checkpoints. It alone changes profiles.
//! - `checkpoint` — writing the derived state back, and restoring it on start.
//! - `erase` — erasure and expiry, the one path that forgets a person.
//! - `session` — when the session recommender retrains, and on which thread.
//! - `retention` — the hourly retention run, which goes through the writer.
//!
//! Subsystems above ingest (journeys, on-site messages) learn about committed events and
//! erasures through an [`Observer`], so the writer needs no knowledge of them.

mod checkpoint;
mod erase;
pub(crate) mod retention;
pub(crate) mod session;
pub mod trust;
mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tailor_core::{Clock, InvalidMessage, Message, Millis};
use tailor_store::Seq;
use tokio::sync::{mpsc, oneshot};

pub(crate) use checkpoint::{restore, save_now};
pub(crate) use writer::{Writer, WriterParts, purge};

use crate::error::EngineError;
use crate::govern::privacy::ErasureReport;
use crate::govern::tokens::ProfileTokens;
use crate::profile::Profile;
use trust::Origin;

/// Jobs the writer queue holds before senders wait.
const QUEUE_DEPTH: usize = 1_024;

/// The outcome of one ingest call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receipt {
    /// Newly stored events.
    pub accepted: usize,
    /// Events whose `messageId` was already in the log (acknowledged, not stored again).
    pub duplicates: usize,
    /// Events refused because they name an erased person (see `privacy`).
    pub suppressed: usize,
    /// Events not stored for lack of analytics consent (see `consent::AnalyticsGate`).
    pub withheld: usize,
    /// Unproven browser messages whose trait and consent changes were not applied to the
    /// identified person their device belongs to (see `trust::guard_identified`).
    pub ignored: usize,
    /// Messages refused by the trust model, by their index in the call (see `trust`).
    pub rejected: Vec<(usize, InvalidMessage)>,
}

/// Where the writer answers one job.
type Answer<T> = oneshot::Sender<Result<T, EngineError>>;

pub(crate) enum Job {
    Append {
        messages: Vec<Message>,
        done: Answer<Receipt>,
    },
    /// Erase one person (see `privacy`).
    Erase {
        id: String,
        done: Answer<ErasureReport>,
    },
    /// Retention: erase, without suppressing them, at most `limit` people whose latest event
    /// is older than `cutoff` (see `retention`). Answers how many people, and what went.
    Expire {
        cutoff: Millis,
        limit: usize,
        done: Answer<(u64, ErasureReport)>,
    },
    /// Checkpoint now; answers the log position the stored checkpoint covers.
    Checkpoint { done: Answer<Seq> },
    /// Checkpoint now, then stop taking jobs.
    Shutdown { done: Answer<()> },
}

/// What the writer tells the subsystems above it.
pub(crate) trait Observer: Send + Sync {
    /// Starts watching one group commit; `None` when nothing above cares about events now.
    fn watch(&self) -> Option<Box<dyn Watch + '_>>;
    /// These ids are being erased or expired: forget what is kept about them in memory.
    fn forget(&self, ids: &[String]);
}

/// One group commit, watched: each committed event with its profile as the event left it.
pub(crate) trait Watch {
    fn event(&mut self, m: &Message, seq: Seq, profile: Option<&Profile>, now: Millis);
    /// The group is committed and folded.
    fn finish(self: Box<Self>);
}

/// The handle every caller uses to reach the writer: cheap to clone.
#[derive(Clone)]
pub(crate) struct Ingest {
    jobs: mpsc::Sender<Job>,
    /// Jobs sent and not yet taken: the writer re-ranks products when it runs dry.
    queued: Arc<AtomicUsize>,
    /// Checks browsers' proofs (see `trust`).
    tokens: Arc<ProfileTokens>,
    clock: Arc<dyn Clock>,
}

impl Ingest {
    /// The handle, and the receiving end for the writer.
    pub fn channel(
        tokens: Arc<ProfileTokens>,
        clock: Arc<dyn Clock>,
    ) -> (Ingest, mpsc::Receiver<Job>) {
        let (jobs, rx) = mpsc::channel(QUEUE_DEPTH);
        let queued = Arc::new(AtomicUsize::new(0));
        (
            Ingest {
                jobs,
                queued,
                tokens,
                clock,
            },
            rx,
        )
    }

    /// Stores messages durably and folds them into profiles, as far as their origin may
    /// (see `trust`). Returns once both are done.
    pub async fn append(
        &self,
        messages: Vec<Message>,
        origin: Origin,
    ) -> Result<Receipt, EngineError> {
        let (messages, rejected) = trust::admit(messages, origin, &self.tokens, self.clock.now());
        let mut receipt = if messages.is_empty() {
            Receipt::default()
        } else {
            self.call(|done| Job::Append { messages, done }).await?
        };
        receipt.rejected = rejected;
        Ok(receipt)
    }

    /// [`Ingest::append`] of Tailor's own messages, from a thread outside the async runtime
    /// (journeys' profile updates).
    pub fn append_blocking(&self, messages: Vec<Message>) -> Result<Receipt, EngineError> {
        if messages.is_empty() {
            return Ok(Receipt::default());
        }
        self.call_blocking(|done| Job::Append { messages, done })
    }

    /// Erases the person `id` names (see `erase`), waiting until it is done.
    pub async fn erase(&self, id: &str) -> Result<ErasureReport, EngineError> {
        let id = id.to_string();
        self.call(|done| Job::Erase { id, done }).await
    }

    /// Writes every changed profile now, after everything queued before; the log position
    /// the checkpoint covers.
    pub async fn checkpoint(&self) -> Result<Seq, EngineError> {
        self.call(|done| Job::Checkpoint { done }).await
    }

    /// Checkpoints, then stops the writer; `Ok` also when it has already stopped.
    pub async fn shutdown(&self) -> Result<(), EngineError> {
        match self.call(|done| Job::Shutdown { done }).await {
            Err(EngineError::ShuttingDown) => Ok(()),
            result => result,
        }
    }

    /// Jobs waiting for the writer.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    async fn call<T>(&self, job: impl FnOnce(Answer<T>) -> Job) -> Result<T, EngineError> {
        let (done, wait) = oneshot::channel();
        self.queued.fetch_add(1, Ordering::Relaxed);
        if self.jobs.send(job(done)).await.is_err() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(EngineError::ShuttingDown);
        }
        wait.await.map_err(|_| EngineError::ShuttingDown)?
    }

    /// [`Ingest::call`] from a thread outside the async runtime (retention, journeys).
    pub fn call_blocking<T>(&self, job: impl FnOnce(Answer<T>) -> Job) -> Result<T, EngineError> {
        let (done, wait) = oneshot::channel();
        self.queued.fetch_add(1, Ordering::Relaxed);
        if self.jobs.blocking_send(job(done)).is_err() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(EngineError::ShuttingDown);
        }
        wait.blocking_recv()
            .map_err(|_| EngineError::ShuttingDown)?
    }
}
