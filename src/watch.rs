//! When automatic actions end: a click, a route change or the page load lasts until the
//! network is quiet.
//!
//! Requests started while such an action is open belong to the newest one; the action ends
//! once it is ready (the load event fired, for `load`) and no request of its own has been
//! pending for [`QUIET_MS`]. Custom actions (`enterAction`) are not watched: the page ends them.

use crate::prelude::*;
/// How long the network must stay quiet before an automatic action ends.
pub const QUIET_MS: i64 = 100;

#[derive(Debug, Clone, PartialEq)]
struct Watched {
    id: String,
    pending: u32,
    ready: bool,
    quiet_since: i64,
}

/// The open automatic actions, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Watcher {
    open: Vec<Watched>,
}

impl Watcher {
    /// Watches a new action; `ready` is false for `load` until the load event.
    pub fn open(&mut self, id: &str, now: i64, ready: bool) {
        self.open.push(Watched { id: id.to_owned(), pending: 0, ready, quiet_since: now });
    }

    /// A request started: it belongs to the newest open action, whose id is returned.
    pub fn request_start(&mut self) -> Option<String> {
        let w = self.open.last_mut()?;
        w.pending = w.pending.saturating_add(1);
        Some(w.id.clone())
    }

    /// A request of action `id` ended.
    pub fn request_end(&mut self, id: &str, now: i64) {
        if let Some(w) = self.open.iter_mut().find(|w| w.id == id) {
            w.pending = w.pending.saturating_sub(1);
            w.quiet_since = now;
        }
    }

    /// The action may end from now on (the load event fired).
    pub fn set_ready(&mut self, id: &str, now: i64) {
        if let Some(w) = self.open.iter_mut().find(|w| w.id == id) {
            w.ready = true;
            w.quiet_since = w.quiet_since.max(now);
        }
    }

    /// Stops watching an action (it ended some other way).
    pub fn forget(&mut self, id: &str) {
        self.remove(Some(id), 0);
    }

    /// Removes and returns the actions that are quiet now, oldest first.
    pub fn take_quiet(&mut self, now: i64) -> Vec<String> {
        self.remove(None, now)
    }

    /// Removes the action `id`, or without one the actions quiet at `now`, and returns their
    /// ids, oldest first (one `retain` serves both callers).
    fn remove(&mut self, id: Option<&str>, now: i64) -> Vec<String> {
        let mut done = Vec::new();
        self.open.retain(|w| {
            let gone = match id {
                Some(id) => w.id == id,
                None => w.ready && w.pending == 0 && now - w.quiet_since >= QUIET_MS,
            };
            if gone {
                done.push(w.id.clone());
            }
            !gone
        });
        done
    }

    /// All watched ids, oldest first.
    pub fn ids(&self) -> Vec<String> {
        let mut ids = Vec::with_capacity(self.open.len());
        for w in &self.open {
            ids.push(w.id.clone());
        }
        ids
    }

    /// When the next action may turn quiet (if nothing else happens).
    pub fn next_due(&self) -> Option<i64> {
        let mut due = None;
        for w in &self.open {
            if w.ready && w.pending == 0 {
                let at = w.quiet_since + QUIET_MS;
                due = Some(due.map_or(at, |d: i64| d.min(at)));
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn click_ends_after_its_requests_and_a_quiet_period() {
        let mut w = Watcher::default();
        w.open("a1", 1000, true);
        assert_eq!(w.request_start().as_deref(), Some("a1"));
        assert_eq!(w.request_start().as_deref(), Some("a1"));
        assert!(w.take_quiet(2000).is_empty(), "requests pending");
        assert_eq!(w.next_due(), None);
        w.request_end("a1", 2100);
        w.request_end("a1", 2300);
        assert_eq!(w.next_due(), Some(2300 + QUIET_MS));
        assert!(w.take_quiet(2399).is_empty());
        assert_eq!(w.take_quiet(2400), vec!["a1".to_owned()]);
        assert_eq!(w.request_start(), None, "no open action: the request belongs to none");
    }

    #[test]
    fn load_waits_for_the_load_event() {
        let mut w = Watcher::default();
        w.open("a1", 0, false);
        assert!(w.take_quiet(10_000).is_empty());
        w.set_ready("a1", 10_000);
        assert_eq!(w.take_quiet(10_000 + QUIET_MS), vec!["a1".to_owned()]);
    }

    #[test]
    fn requests_go_to_the_newest_action() {
        let mut w = Watcher::default();
        w.open("a1", 0, true);
        w.open("a2", 50, true);
        assert_eq!(w.request_start().as_deref(), Some("a2"));
        assert_eq!(w.take_quiet(150), vec!["a1".to_owned()]);
        w.request_end("a2", 400);
        w.forget("a9");
        assert_eq!(w.ids(), vec!["a2".to_owned()]);
        assert_eq!(w.take_quiet(500), vec!["a2".to_owned()]);
    }
}
