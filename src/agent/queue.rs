//! The outbox (DESIGN.md §5): beacons not yet acknowledged, bounded, and stored across reloads.
//!
//! Every beacon goes through the outbox, including those sent on page leave, whose answer may
//! never arrive: they stay until a 2xx comes back, and a later page of the same origin sends them
//! again. The collector stores a `(sid, seq)` once, so sending twice is harmless while losing is
//! not. When full, the oldest beacon is dropped and counted, and the count is reported.

use crate::prelude::*;
use crate::json::{self, Value};

/// At most this many beacons wait …
pub const MAX_QUEUE_ENTRIES: usize = 64;
/// … holding at most this many body bytes (localStorage is shared with the host page).
pub const MAX_QUEUE_BYTES: usize = 512 * 1024;

/// One beacon waiting for its acknowledgement.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Session id.
    pub sid: String,
    /// Beacon number within the session (kept on every resend).
    pub seq: u64,
    /// The JSON body.
    pub body: String,
    /// Epoch ms when it was built.
    pub created: i64,
    /// Failed attempts so far.
    pub failures: u32,
    /// Not to be sent before this epoch ms (backoff).
    pub not_before: i64,
    /// Epoch ms when it was handed to the transport, while no answer came (memory only: after a
    /// reload nothing is in flight). `sendBeacon` never answers: after [`IN_FLIGHT_TIMEOUT_MS`]
    /// the beacon is due again, and the collector drops the duplicate if the first one arrived.
    pub in_flight_since: Option<i64>,
}

impl Entry {
    /// A new beacon, due at once.
    pub fn new(sid: &str, seq: u64, body: String, now: i64) -> Entry {
        Entry { sid: sid.to_owned(), seq, body, created: now, failures: 0, not_before: now, in_flight_since: None }
    }

    /// When it may be sent (again).
    pub fn due_at(&self) -> i64 {
        match self.in_flight_since {
            Some(t) => t.saturating_add(IN_FLIGHT_TIMEOUT_MS).max(self.not_before),
            None => self.not_before,
        }
    }

    /// Whether this is the beacon `(sid, seq)`.
    pub fn is(&self, sid: &str, seq: u64) -> bool {
        self.seq == seq && self.sid == sid
    }
}

/// A beacon sent without an answer is due again after this long.
pub const IN_FLIGHT_TIMEOUT_MS: i64 = 60_000;

/// Unacknowledged beacons, oldest first, at most one per `(sid, seq)`.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    entries: Vec<Entry>,
    /// Beacons dropped because the outbox was full (or given up) since the count was last reported.
    pub dropped: u64,
    /// Bumped when a beacon is added, removed or merged in, so the storage text (up to 512 KiB)
    /// is rebuilt only then.
    version: u64,
}

impl PartialEq for Outbox {
    fn eq(&self, other: &Outbox) -> bool {
        self.entries == other.entries && self.dropped == other.dropped
    }
}

impl Outbox {
    /// An empty outbox.
    pub fn new() -> Outbox {
        Outbox::default()
    }

    /// The waiting beacons, oldest first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Total body bytes.
    pub fn bytes(&self) -> usize {
        let mut bytes = 0;
        for e in &self.entries {
            bytes += e.body.len();
        }
        bytes
    }

    /// A number that changes whenever the outbox may have changed.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Adds a beacon (replacing one with the same `(sid, seq)`), then drops the oldest beyond the bounds.
    pub fn push(&mut self, entry: Entry) {
        self.remove(&entry.sid, entry.seq);
        self.entries.push(entry);
        self.enforce_bounds();
    }

    fn enforce_bounds(&mut self) {
        let mut bytes = self.bytes();
        while self.entries.len() > MAX_QUEUE_ENTRIES || (bytes > MAX_QUEUE_BYTES && !self.entries.is_empty()) {
            let Some(old) = super::take_at(&mut self.entries, 0) else { break };
            bytes -= old.body.len();
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    /// Removes an acknowledged (or refused) beacon; `false` if it was not there.
    pub fn remove(&mut self, sid: &str, seq: u64) -> bool {
        self.version += 1;
        self.index_of(sid, seq).and_then(|i| super::take_at(&mut self.entries, i)).is_some()
    }

    /// The entry for `(sid, seq)`.
    /// Changes made through it (in-flight marks, retry counts, backoff) do not move
    /// [`Outbox::version`]: they reach storage with the next beacon added or removed, so a
    /// collector that keeps failing does not cost a rewrite of the stored outbox per answer.
    pub fn get_mut(&mut self, sid: &str, seq: u64) -> Option<&mut Entry> {
        let i = self.index_of(sid, seq)?;
        self.entries.get_mut(i)
    }

    /// The index of the entry for `(sid, seq)`.
    pub fn index_of(&self, sid: &str, seq: u64) -> Option<usize> {
        self.entries.iter().position(|e| e.is(sid, seq))
    }

    /// Indices of entries that may be sent at `now` (not in flight, backoff over), oldest first.
    pub fn due(&self, now: i64) -> Vec<usize> {
        let mut due = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            if e.due_at() <= now {
                due.push(i);
            }
        }
        due
    }

    /// The entry at an index from [`Outbox::due`].
    /// Like [`Outbox::get_mut`], changes through it do not move the version.
    pub fn entry_mut(&mut self, i: usize) -> Option<&mut Entry> {
        self.entries.get_mut(i)
    }

    /// When the next waiting beacon becomes due (for the runtime's timer).
    pub fn next_due(&self) -> Option<i64> {
        self.entries.iter().map(Entry::due_at).min()
    }

    /// Adds the beacons of another copy (another tab's, read from storage) that this one lacks.
    /// An entry both have keeps this copy's state. The drop count takes the larger of the two,
    /// as both usually started from the same stored count.
    pub fn merge(&mut self, other: Outbox) {
        self.version += 1;
        for e in &other.entries {
            if !self.entries.iter().any(|x| x.is(&e.sid, e.seq)) {
                self.entries.push(e.clone());
            }
        }
        crate::small::sort_by_key(&mut self.entries, |e| e.created);
        self.dropped = self.dropped.max(other.dropped);
        self.enforce_bounds();
    }

    /// The storage form: `{"v":1,"dropped":N,"q":[{"sid","seq","created","failures","notBefore","body"}]}`.
    pub fn to_storage(&self) -> String {
        let mut s = String::with_capacity(self.bytes() + 64 * self.entries.len() + 32);
        s.push_str("{\"v\":1,\"dropped\":");
        json::write_i64(&mut s, i64::try_from(self.dropped).unwrap_or(i64::MAX));
        s.push_str(",\"q\":[");
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str("{\"sid\":");
            json::write_str(&mut s, &e.sid);
            s.push_str(",\"seq\":");
            json::write_i64(&mut s, i64::try_from(e.seq).unwrap_or(i64::MAX));
            s.push_str(",\"created\":");
            json::write_i64(&mut s, e.created);
            s.push_str(",\"failures\":");
            json::write_i64(&mut s, i64::from(e.failures));
            s.push_str(",\"notBefore\":");
            json::write_i64(&mut s, e.not_before);
            s.push_str(",\"body\":");
            json::write_str(&mut s, &e.body);
            s.push('}');
        }
        s.push_str("]}");
        s
    }

    /// Reads the storage form. Malformed text is an empty outbox and malformed entries are
    /// skipped: storage is outside input (another version, another script, a full disk).
    pub fn from_storage(text: &str) -> Outbox {
        let Ok(root) = json::parse(text) else {
            return Outbox::new();
        };
        if root.get("v").and_then(Value::as_i64) != Some(1) {
            return Outbox::new();
        }
        let mut out = Outbox::new();
        out.dropped = root.get("dropped").and_then(Value::as_i64).and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
        if let Some(Value::Array(items)) = root.get("q") {
            for item in items {
                if let Some(e) = entry_from(item) {
                    out.push(e);
                }
            }
        }
        out
    }
}

fn entry_from(v: &Value) -> Option<Entry> {
    let int = |name: &str| v.get(name).and_then(Value::as_i64);
    Some(Entry {
        sid: v.get("sid")?.as_str().filter(|s| !s.is_empty())?.to_owned(),
        seq: u64::try_from(int("seq")?).ok()?,
        body: v.get("body")?.as_str()?.to_owned(),
        created: int("created")?,
        failures: u32::try_from(int("failures")?).ok()?,
        not_before: int("notBefore")?,
        in_flight_since: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, bytes: usize) -> Entry {
        Entry::new("s1", seq, "x".repeat(bytes), seq as i64)
    }

    #[test]
    fn version_moves_with_every_change_and_not_otherwise() {
        let mut q = Outbox::new();
        let v0 = q.version();
        q.push(Entry::new("s", 1, "{}".into(), 0));
        let v1 = q.version();
        assert_ne!(v0, v1);
        let _ = q.due(10);
        let _ = q.to_storage();
        assert_eq!(q.version(), v1, "reading changes nothing");
        q.remove("s", 1);
        assert_ne!(q.version(), v1);
        let back = Outbox::from_storage(&q.to_storage());
        assert_eq!(back, q, "equality ignores the version");
    }

    #[test]
    fn bounded_by_count_dropping_the_oldest() {
        let mut q = Outbox::new();
        for seq in 1..=(MAX_QUEUE_ENTRIES as u64 + 5) {
            q.push(entry(seq, 10));
        }
        assert_eq!(q.entries().len(), MAX_QUEUE_ENTRIES);
        assert_eq!(q.dropped, 5);
        assert_eq!(q.entries()[0].seq, 6);
    }

    #[test]
    fn bounded_by_bytes() {
        let mut q = Outbox::new();
        for seq in 1..=10 {
            q.push(entry(seq, 60_000));
        }
        assert!(q.bytes() <= MAX_QUEUE_BYTES);
        assert_eq!(q.entries().len(), MAX_QUEUE_BYTES / 60_000);
        assert_eq!(q.dropped as usize, 10 - MAX_QUEUE_BYTES / 60_000);
    }

    #[test]
    fn same_sid_seq_replaces_and_ack_removes() {
        let mut q = Outbox::new();
        q.push(entry(1, 1));
        q.push(entry(2, 1));
        q.push(Entry::new("s1", 1, "new".into(), 9));
        assert_eq!(q.entries().len(), 2);
        assert_eq!(q.entries()[1].body, "new");
        assert!(q.remove("s1", 1));
        assert!(!q.remove("s1", 1));
        assert!(!q.remove("s2", 2));
        assert_eq!(q.entries().len(), 1);
    }

    #[test]
    fn due_skips_in_flight_and_backoff() {
        let mut q = Outbox::new();
        q.push(entry(1, 1));
        q.push(entry(2, 1));
        q.push(entry(3, 1));
        q.entry_mut(0).unwrap().in_flight_since = Some(10);
        q.entry_mut(1).unwrap().not_before = 100;
        assert_eq!(q.due(50), vec![2]);
        assert_eq!(q.due(100), vec![1, 2]);
        assert_eq!(q.next_due(), Some(3));
        assert_eq!(q.due(10 + IN_FLIGHT_TIMEOUT_MS), vec![0, 1, 2], "an unanswered send is due again");
    }

    #[test]
    fn storage_round_trip_forgets_in_flight() {
        let mut q = Outbox::new();
        q.push(Entry::new("abc", 3, "{\"v\":1,\"x\":\"é\\n\"}".into(), 1_732_600_000_000));
        q.push(entry(4, 3));
        q.get_mut("abc", 3).unwrap().failures = 2;
        q.get_mut("abc", 3).unwrap().not_before = 1_732_600_005_000;
        q.get_mut("s1", 4).unwrap().in_flight_since = Some(5);
        q.dropped = 7;
        let back = Outbox::from_storage(&q.to_storage());
        q.get_mut("s1", 4).unwrap().in_flight_since = None;
        assert_eq!(back, q);
    }

    #[test]
    fn bad_storage_is_empty_or_skips_entries() {
        for bad in ["", "[]", "{\"v\":2,\"q\":[]}", "{\"v\":1", "null", "{\"v\":1,\"q\":{}}"] {
            assert!(Outbox::from_storage(bad).is_empty(), "{bad}");
        }
        let mixed = r#"{"v":1,"dropped":-3,"q":[{"sid":"a","seq":1},
            {"sid":"a","seq":2,"created":1,"failures":0,"notBefore":1,"body":"b"},
            {"sid":"","seq":3,"created":1,"failures":0,"notBefore":1,"body":"b"},
            {"sid":"a","seq":-4,"created":1,"failures":0,"notBefore":1,"body":"b"}]}"#;
        let q = Outbox::from_storage(mixed);
        assert_eq!(q.entries().len(), 1);
        assert_eq!(q.entries()[0].seq, 2);
        assert_eq!(q.dropped, 0);
    }

    #[test]
    fn merge_takes_the_union() {
        let mut a = Outbox::new();
        a.push(entry(1, 1));
        a.push(entry(3, 1));
        let mut b = Outbox::new();
        b.push(entry(2, 1));
        b.push(Entry::new("s1", 3, "theirs".into(), 3));
        b.dropped = 4;
        a.merge(b);
        let seqs: Vec<u64> = a.entries().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![1, 2, 3]);
        assert_eq!(a.get_mut("s1", 3).unwrap().body, "x");
        assert_eq!(a.dropped, 4);
    }
}
