//! When to send (DESIGN.md §5): a pure policy with explicit reasons.
//!
//! The policy only counts what waits and remembers since when; the agent asks it after each
//! event and builds beacons when it answers with a reason. Keeping it free of timers makes every
//! rule testable with plain numbers, and lets the runtime own the only `setTimeout`.

use crate::config::BatchConfig;

/// Why a batch is sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushReason {
    /// `batch.maxActions` actions wait.
    MaxActions,
    /// The waiting actions reached `batch.maxBytes`, or the next one would push them past it.
    MaxBytes,
    /// Data has waited `batch.flushIntervalMs`.
    Interval,
    /// `visibilitychange` to hidden: the last moment the page is surely alive.
    PageHidden,
    /// `pagehide` (also fired when the page enters the back/forward cache).
    PageHide,
    /// `freeze` (Page Lifecycle): the page may be discarded without another event.
    Freeze,
    /// `rumprops.flush()`.
    Manual,
    /// The session ended: its final state goes out with its end reason.
    SessionEnd,
}

impl FlushReason {
    /// Whether the page may be going away: send within the keepalive budget, newest first.
    pub fn is_leave(self) -> bool {
        matches!(self, FlushReason::PageHidden | FlushReason::PageHide | FlushReason::Freeze)
    }
}

/// Counts of what waits to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct FlushPolicy {
    batch: BatchConfig,
    actions: u64,
    bytes: u64,
    waiting_since: Option<i64>,
}

impl FlushPolicy {
    /// An empty policy for a batch config.
    pub fn new(batch: BatchConfig) -> FlushPolicy {
        FlushPolicy { batch, actions: 0, bytes: 0, waiting_since: None }
    }

    /// Whether an action of `encoded_bytes` should go into a new batch: the waiting ones are sent
    /// first (`MaxBytes`) so that a beacon stays within `batch.maxBytes` when it can.
    /// `overhead` is the rest of the body: header, session part and issues.
    pub fn before_action(&self, encoded_bytes: u64, overhead: u64) -> Option<FlushReason> {
        let body = self.bytes.saturating_add(encoded_bytes).saturating_add(overhead);
        (self.actions > 0 && body > self.batch.max_bytes).then_some(FlushReason::MaxBytes)
    }

    /// Records an action of `encoded_bytes` added at `now`; answers whether the batch is full.
    pub fn action_added(&mut self, encoded_bytes: u64, overhead: u64, now: i64) -> Option<FlushReason> {
        self.actions = self.actions.saturating_add(1);
        self.bytes = self.bytes.saturating_add(encoded_bytes.saturating_add(1));
        self.data_waiting(now);
        if self.actions >= self.batch.max_actions {
            Some(FlushReason::MaxActions)
        } else if self.bytes.saturating_add(overhead) >= self.batch.max_bytes {
            Some(FlushReason::MaxBytes)
        } else {
            None
        }
    }

    /// Records that something other than an action waits (session properties, a user id, an end).
    pub fn data_waiting(&mut self, now: i64) {
        self.waiting_since.get_or_insert(now);
    }

    /// Whether anything waits.
    pub fn has_data(&self) -> bool {
        self.waiting_since.is_some()
    }

    /// A timer tick at `now`.
    pub fn tick(&self, now: i64) -> Option<FlushReason> {
        self.due_at().filter(|&at| now >= at).map(|_| FlushReason::Interval)
    }

    /// When the interval flush is due (`None`: nothing waits, no timer needed).
    pub fn due_at(&self) -> Option<i64> {
        self.waiting_since.map(|t| t.saturating_add(i64::try_from(self.batch.flush_interval_ms).unwrap_or(i64::MAX)))
    }

    /// The page may be leaving: flush whatever waits.
    pub fn leave(&self, reason: FlushReason) -> Option<FlushReason> {
        self.has_data().then_some(reason)
    }

    /// Everything waiting was handed to the transport.
    pub fn flushed(&mut self) {
        self.actions = 0;
        self.bytes = 0;
        self.waiting_since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> FlushPolicy {
        FlushPolicy::new(BatchConfig { max_actions: 3, max_bytes: 1_000, flush_interval_ms: 10_000 })
    }

    #[test]
    fn max_actions() {
        let mut p = policy();
        assert_eq!(p.action_added(10, 100, 0), None);
        assert_eq!(p.action_added(10, 100, 1), None);
        assert_eq!(p.action_added(10, 100, 2), Some(FlushReason::MaxActions));
        p.flushed();
        assert!(!p.has_data());
        assert_eq!(p.action_added(10, 100, 3), None);
    }

    #[test]
    fn max_bytes_before_and_after() {
        let mut p = policy();
        assert_eq!(p.before_action(5_000, 100), None, "an empty batch takes any action");
        assert_eq!(p.action_added(499, 100, 0), None, "499 bytes and a comma");
        assert_eq!(p.before_action(400, 100), None);
        assert_eq!(p.before_action(401, 100), Some(FlushReason::MaxBytes));
        assert_eq!(p.action_added(399, 100, 0), Some(FlushReason::MaxBytes));
    }

    #[test]
    fn interval_counts_from_the_oldest_waiting_data() {
        let mut p = policy();
        assert_eq!(p.tick(1_000_000), None);
        assert_eq!(p.due_at(), None);
        p.data_waiting(100);
        p.action_added(1, 0, 5_000);
        assert_eq!(p.due_at(), Some(10_100));
        assert_eq!(p.tick(10_099), None);
        assert_eq!(p.tick(10_100), Some(FlushReason::Interval));
        p.flushed();
        assert_eq!(p.tick(20_000), None);
    }

    #[test]
    fn leave_flushes_only_when_data_waits() {
        let mut p = policy();
        assert_eq!(p.leave(FlushReason::PageHidden), None);
        p.data_waiting(0);
        for r in [FlushReason::PageHidden, FlushReason::PageHide, FlushReason::Freeze] {
            assert_eq!(p.leave(r), Some(r));
            assert!(r.is_leave());
        }
        assert!(!FlushReason::Manual.is_leave());
    }
}
