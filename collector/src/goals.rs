//! Conversion goals and key user actions (`--goals FILE`), evaluated at ingest.
//!
//! ```json
//! {
//!   "goals": [
//!     {"name": "Booking", "url": "https://shop.example/booking/*/done"},
//!     {"name": "Paid", "action": "click on \"Pay\""},
//!     {"name": "Long visit", "sessionDurationMs": 600000},
//!     {"name": "Engaged", "actionCount": 5}
//!   ],
//!   "keyUserActions": ["click on \"Book\"", "loading of page /checkout"]
//! }
//! ```
//!
//! A goal has a unique non-empty `name` and exactly one criterion: `url`, a destination URL
//! pattern matched against an action's URL (`*` any run of characters, the rest literal and
//! case-sensitive, the whole URL); `action`, an action name (exact); `sessionDurationMs`, a
//! session lasting at least that long; `actionCount`, a session with at least that many actions.
//! An action matches its `url` and `action` goals; a session matches the goals of its actions and
//! its own duration and count goals. A key user action is an action whose name is listed.
//! Stored data keeps the goals in force when it was ingested.

use serde::Deserialize;
use std::collections::HashSet;
use std::path::Path;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct GoalSpec {
    name: String,
    url: Option<String>,
    action: Option<String>,
    session_duration_ms: Option<i64>,
    action_count: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct GoalsFile {
    #[serde(default)]
    goals: Vec<GoalSpec>,
    #[serde(default)]
    key_user_actions: Vec<String>,
}

/// What reaches a goal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Criterion {
    /// An action whose URL matches the pattern.
    Url(String),
    /// An action with this name.
    Action(String),
    /// A session at least this long (ms).
    SessionDuration(i64),
    /// A session with at least this many actions.
    ActionCount(i64),
}

/// One conversion goal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Goal {
    /// Its name, as `matchingConversionGoals` lists it.
    pub name: String,
    /// What reaches it.
    pub criterion: Criterion,
}

/// The goals and key user actions in force.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Goals {
    /// Conversion goals, in file order.
    pub goals: Vec<Goal>,
    /// Names of key user actions.
    pub key_user_actions: HashSet<String>,
}

impl Goals {
    /// Reads a goals file; every mistake is an error naming the goal and what is wrong.
    pub fn load(path: &Path) -> Result<Goals, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("--goals {}: {e}", path.display()))?;
        Goals::parse(&text).map_err(|e| format!("--goals {}: {e}", path.display()))
    }

    /// Reads goals from JSON text.
    pub fn parse(text: &str) -> Result<Goals, String> {
        let file: GoalsFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut names = HashSet::new();
        let mut goals = Vec::with_capacity(file.goals.len());
        for (i, g) in file.goals.into_iter().enumerate() {
            let at = format!("goals[{i}]");
            if g.name.trim().is_empty() {
                return Err(format!("{at}.name: empty"));
            }
            if !names.insert(g.name.clone()) {
                return Err(format!("{at}.name: {:?} is already a goal", g.name));
            }
            let mut criteria = Vec::new();
            if let Some(u) = g.url {
                criteria.push(Criterion::Url(u));
            }
            if let Some(a) = g.action {
                criteria.push(Criterion::Action(a));
            }
            if let Some(ms) = g.session_duration_ms {
                if ms < 0 {
                    return Err(format!("{at}.sessionDurationMs: negative"));
                }
                criteria.push(Criterion::SessionDuration(ms));
            }
            if let Some(n) = g.action_count {
                if n < 1 {
                    return Err(format!("{at}.actionCount: below 1"));
                }
                criteria.push(Criterion::ActionCount(n));
            }
            if criteria.len() != 1 {
                return Err(format!("{at}: needs exactly one of url, action, sessionDurationMs, actionCount"));
            }
            goals.push(Goal { name: g.name, criterion: criteria.remove(0) });
        }
        Ok(Goals { goals, key_user_actions: file.key_user_actions.into_iter().collect() })
    }

    /// The goals an action reaches (its `url` and `action` goals), in file order.
    pub fn action_goals(&self, name: &str, url: &str) -> Vec<&str> {
        self.goals
            .iter()
            .filter(|g| match &g.criterion {
                Criterion::Url(p) => wildcard_match(p, url),
                Criterion::Action(a) => a == name,
                _ => false,
            })
            .map(|g| g.name.as_str())
            .collect()
    }

    /// The goals a session reaches: those `action_goal` says its actions reached, and its duration
    /// and action-count goals, in file order.
    pub fn session_goals(&self, duration_ms: i64, action_count: i64, action_goal: impl Fn(&str) -> bool) -> Vec<&str> {
        self.goals
            .iter()
            .filter(|g| match &g.criterion {
                Criterion::Url(_) | Criterion::Action(_) => action_goal(&g.name),
                Criterion::SessionDuration(ms) => duration_ms >= *ms,
                Criterion::ActionCount(n) => action_count >= *n,
            })
            .map(|g| g.name.as_str())
            .collect()
    }

    /// Whether an action of this name is a key user action.
    pub fn is_key_user_action(&self, name: &str) -> bool {
        self.key_user_actions.contains(name)
    }
}

/// `*` matches any run of characters (also none); everything else matches itself. The whole
/// text must match.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("https://shop.example/booking/*/done", "https://shop.example/booking/42/done"));
        assert!(wildcard_match("*/done", "https://x/done"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*b*c", "abc"));
        assert!(!wildcard_match("a*b*c", "acb"));
        assert!(!wildcard_match("ab*ba", "aba"), "the ends may not overlap");
        assert!(!wildcard_match("https://shop.example/", "https://shop.example/x"));
        assert!(!wildcard_match("*/Done", "https://x/done"), "case-sensitive");
    }

    #[test]
    fn reads_and_evaluates() {
        let g = Goals::parse(
            r#"{"goals": [{"name": "Booking", "url": "*/booking/*"}, {"name": "Paid", "action": "click on Pay"},
                {"name": "Long", "sessionDurationMs": 1000}, {"name": "Engaged", "actionCount": 3}],
                "keyUserActions": ["click on Pay"]}"#,
        )
        .unwrap();
        assert_eq!(g.action_goals("click on Pay", "https://s/booking/1"), vec!["Booking", "Paid"]);
        assert_eq!(g.action_goals("other", "https://s/"), Vec::<&str>::new());
        assert_eq!(g.session_goals(1000, 2, |n| n == "Paid"), vec!["Paid", "Long"]);
        assert_eq!(g.session_goals(10, 3, |_| false), vec!["Engaged"]);
        assert!(g.is_key_user_action("click on Pay") && !g.is_key_user_action("click on pay"));
    }

    #[test]
    fn mistakes_are_named() {
        for (text, want) in [
            (r#"{"goals": [{"name": "", "url": "*"}]}"#, "goals[0].name: empty"),
            (r#"{"goals": [{"name": "a", "url": "*"}, {"name": "a", "action": "x"}]}"#, "goals[1].name: \"a\" is already a goal"),
            (r#"{"goals": [{"name": "a"}]}"#, "goals[0]: needs exactly one of"),
            (r#"{"goals": [{"name": "a", "url": "*", "action": "x"}]}"#, "goals[0]: needs exactly one of"),
            (r#"{"goals": [{"name": "a", "actionCount": 0}]}"#, "goals[0].actionCount: below 1"),
            (r#"{"goals": [{"name": "a", "sessionDurationMs": -1}]}"#, "goals[0].sessionDurationMs: negative"),
            (r#"{"goal": []}"#, "unknown field `goal`"),
            (r#"{"goals": [{"name": "a", "urls": "*"}]}"#, "unknown field `urls`"),
        ] {
            let e = Goals::parse(text).unwrap_err();
            assert!(e.contains(want), "{e:?} should contain {want:?}");
        }
    }
}
