//! The single database writer: a thread that owns the write connection and stores beacons in
//! groups. When beacons arrive faster than they are written they queue, and the next group takes
//! all that wait, up to the batch size ([`Batching`]); on SQLite a group goes at once (at low load
//! it is one beacon, so nothing waits for company), on ClickHouse it also waits for company, up
//! to a time, since every insert there makes a part to merge. Every sender learns its own
//! beacon's outcome only after the group's commit, so a 204 always means stored.

use crate::beacon::Beacon;
use crate::goals::Goals;
use crate::metrics::Metrics;
use crate::store::{self, BeaconStore, ClientInfo, IngestOutcome, Pending};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Most beacons per SQLite transaction.
pub const MAX_GROUP: usize = 64;

/// When a group of beacons is stored: once it holds `max_beacons`, or once its oldest beacon
/// has waited `max_wait`, whichever comes first (beacons already queued join it either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    /// Most beacons per group (at least 1).
    pub max_beacons: usize,
    /// Longest a beacon waits for company before its group is stored.
    pub max_wait: Duration,
}

impl Batching {
    /// SQLite: a transaction is cheap, so a group goes as soon as the writer is free.
    pub const SQLITE: Batching = Batching { max_beacons: MAX_GROUP, max_wait: Duration::ZERO };
    /// The ClickHouse defaults (`--batch-max-beacons`, `--batch-max-wait-ms`): about one insert
    /// per second per table and collector at low load, as ClickHouse asks of its writers, and
    /// groups of at most 256 beacons (about a thousand action rows) under load, well below the
    /// default of 512 open connections that wait for their acknowledgement.
    pub const CLICKHOUSE: Batching = Batching { max_beacons: 256, max_wait: Duration::from_millis(1000) };
}
/// Beacons that may wait for the writer; beyond that the server answers 503 (the agent retries).
pub const QUEUE_CAPACITY: usize = 4096;

/// One beacon to store and where to send its outcome, or the order to stop.
// `Stop` is sent once per run: boxing every beacon to shrink it would cost more than it saves.
#[allow(clippy::large_enum_variant)]
enum Job {
    Store { pending: Pending, reply: Reply, queued: Instant },
    /// Store what is queued, then close the connection and end (graceful shutdown).
    Stop,
}

/// Why a beacon was not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// The store is unreachable or overloaded (ClickHouse down): the sender should retry later.
    Unavailable(String),
    /// The store failed.
    Failed(String),
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Unavailable(m) | WriteError::Failed(m) => f.write_str(m),
        }
    }
}

/// Why a beacon could not be handed to the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitError {
    /// The queue is full: try again later.
    Busy,
    /// The writer thread is gone.
    Stopped,
}

/// The handle request handlers use to submit beacons.
#[derive(Clone)]
pub struct Writer {
    tx: SyncSender<Job>,
    metrics: Metrics,
}

/// The writer thread, to wait for at shutdown: it ends, closing the write connection, once
/// every [`Writer`] handle is dropped.
pub struct WriterThread(std::thread::JoinHandle<()>);

impl WriterThread {
    /// Waits until the writer has stored what was queued and closed its connection.
    pub fn join(self) {
        let _ = self.0.join();
    }
}

impl Writer {
    /// Starts the writer thread on an open, migrated store, storing groups as `batching`
    /// says; it keeps the queue depth and the write latency in `metrics`, and evaluates `goals`
    /// on what it stores.
    pub fn start(
        conn: Box<dyn BeaconStore>,
        metrics: Metrics,
        goals: Goals,
        batching: Batching,
    ) -> Result<(Writer, WriterThread), String> {
        let (tx, rx) = sync_channel(QUEUE_CAPACITY);
        let m = metrics.clone();
        let batching = Batching { max_beacons: batching.max_beacons.max(1), ..batching };
        let handle = std::thread::Builder::new()
            .name("rumprops-writer".to_owned())
            .spawn(move || run(conn, rx, &m, &goals, batching))
            .map_err(|e| format!("cannot start the writer thread: {e}"))?;
        Ok((Writer { tx, metrics }, WriterThread(handle)))
    }

    /// Asks the writer to store what is queued and end; beacons submitted after that are not
    /// stored (their senders get an error, never an acknowledgement). Blocks while the queue is
    /// full, so call it from a blocking thread.
    pub fn stop(&self) {
        let _ = self.tx.send(Job::Stop);
    }

    /// Queues a beacon; the receiver yields its outcome once its group is committed.
    pub fn submit(
        &self,
        beacon: Beacon,
        client: ClientInfo,
    ) -> Result<oneshot::Receiver<Result<IngestOutcome, WriteError>>, SubmitError> {
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(Job::Store { pending: (beacon, client), reply, queued: Instant::now() }) {
            Ok(()) => {
                self.metrics.queue_depth.inc();
                Ok(rx)
            }
            Err(TrySendError::Full(_)) => Err(SubmitError::Busy),
            Err(TrySendError::Disconnected(_)) => Err(SubmitError::Stopped),
        }
    }
}

/// The writer loop: ends on [`Job::Stop`] (after storing what was queued before it) or when
/// every [`Writer`] handle is dropped.
fn run(mut conn: Box<dyn BeaconStore>, rx: Receiver<Job>, metrics: &Metrics, goals: &Goals, batching: Batching) {
    let mut stopping = false;
    while !stopping {
        let Ok(first) = rx.recv() else { break };
        let mut jobs = Vec::new();
        let mut oldest: Option<Instant> = None;
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Store { pending, reply, queued } => {
                    oldest.get_or_insert(queued);
                    jobs.push((pending, reply));
                }
                Job::Stop => stopping = true,
            }
            // After a stop, take everything still queued and wait for nothing.
            if stopping {
                next = rx.try_recv().ok();
                continue;
            }
            if jobs.len() >= batching.max_beacons {
                break;
            }
            // What is queued joins at once; then wait for more until the oldest has waited enough.
            next = match rx.try_recv() {
                Ok(job) => Some(job),
                Err(TryRecvError::Disconnected) => None,
                Err(TryRecvError::Empty) => {
                    let left = oldest.map_or(Duration::ZERO, |t| batching.max_wait.saturating_sub(t.elapsed()));
                    if left.is_zero() {
                        None
                    } else {
                        // A time-out or a closed channel: the batch goes as it is.
                        rx.recv_timeout(left).ok()
                    }
                }
            };
        }
        while !jobs.is_empty() {
            let group: Vec<(Pending, Reply)> = jobs.drain(..jobs.len().min(batching.max_beacons)).collect();
            store_group(conn.as_mut(), group, metrics, goals);
        }
    }
}

type Reply = oneshot::Sender<Result<IngestOutcome, WriteError>>;

/// Stores one group and answers each of its senders after the commit.
fn store_group(conn: &mut dyn BeaconStore, group: Vec<(Pending, Reply)>, metrics: &Metrics, goals: &Goals) {
    let started = Instant::now();
    metrics.queue_depth.sub(group.len() as i64);
    let (pending, replies): (Vec<Pending>, Vec<Reply>) = group.into_iter().unzip();
    let result = conn.ingest_group(&pending, goals, store::now_ms());
    metrics.write_seconds.observe(started.elapsed().as_secs_f64());
    match result {
        Ok(outcomes) => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(outcome.map_err(|e| WriteError::Failed(e.to_string())));
            }
        }
        Err(e) => {
            let error = if conn.failures_are_transient() {
                WriteError::Unavailable(e.to_string())
            } else {
                WriteError::Failed(e.to_string())
            };
            for reply in replies {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}
