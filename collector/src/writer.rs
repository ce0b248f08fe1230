//! The single database writer: a thread that owns the write connection and stores beacons in
//! groups. When beacons arrive faster than they are written they queue, and the next
//! transaction takes all that wait (up to [`MAX_GROUP`]), each in its own savepoint; at low load
//! a group is one beacon, so nothing waits for company. Every sender learns its own beacon's
//! outcome only after the group's commit, so a 204 always means stored.

use crate::beacon::Beacon;
use crate::store::{self, ClientInfo, IngestOutcome, Pending};
use rusqlite::Connection;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use tokio::sync::oneshot;

/// Most beacons per transaction.
pub const MAX_GROUP: usize = 64;
/// Beacons that may wait for the writer; beyond that the server answers 503 (the agent retries).
pub const QUEUE_CAPACITY: usize = 4096;

/// One beacon to store and where to send its outcome.
struct Job {
    pending: Pending,
    reply: oneshot::Sender<Result<IngestOutcome, String>>,
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
    /// Starts the writer thread on an open, migrated connection.
    pub fn start(conn: Connection) -> Result<(Writer, WriterThread), String> {
        let (tx, rx) = sync_channel(QUEUE_CAPACITY);
        let handle = std::thread::Builder::new()
            .name("rumprops-writer".to_owned())
            .spawn(move || run(conn, rx))
            .map_err(|e| format!("cannot start the writer thread: {e}"))?;
        Ok((Writer { tx }, WriterThread(handle)))
    }

    /// Queues a beacon; the receiver yields its outcome once its group is committed.
    pub fn submit(
        &self,
        beacon: Beacon,
        client: ClientInfo,
    ) -> Result<oneshot::Receiver<Result<IngestOutcome, String>>, SubmitError> {
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(Job { pending: (beacon, client), reply }) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(SubmitError::Busy),
            Err(TrySendError::Disconnected(_)) => Err(SubmitError::Stopped),
        }
    }
}

/// The writer loop: ends when every [`Writer`] handle is dropped.
fn run(mut conn: Connection, rx: Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let (pending, replies): (Vec<Pending>, Vec<_>) = jobs.into_iter().map(|j| (j.pending, j.reply)).unzip();
        match store::ingest_group(&mut conn, &pending, store::now_ms()) {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome.map_err(|e| e.to_string()));
                }
            }
            Err(e) => {
                let message = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(message.clone()));
                }
            }
        }
    }
}
