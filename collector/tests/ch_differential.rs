//! Differential test of the two USQL backends: the same random sessions (tests/common/sessions.rs)
//! are stored through the real ingest path of both stores, a SQLite file and the real ClickHouse
//! server (tests/common/clickhouse.rs), and random queries over the whole language are answered
//! by both. The answers must be equal: the same columns, the same rows (in the same order when
//! the query orders them: grouped queries and ORDER BY over every column), doubles to a relative
//! 1e-9. A query one store refuses and the other answers is a failure. The ClickHouse statements
//! of the queries also run on current ClickHouse (chDB, tests/common/chdb.rs) over the same rows,
//! with the same answers (one query in three: chDB is the slower).

mod common;

use common::sessions::*;
use rumprops_collector::clickhouse::{ClickHouse, StoreUrl};
use rumprops_collector::geo::Geo;
use rumprops_collector::goals::{Criterion, Goal, Goals};
use rumprops_collector::store::{self, BeaconStore, ClientInfo, Pending};
use rumprops_collector::usql::fields::{UsqlTable, ValueType};
use rumprops_collector::usql::{self, QueryOptions, QueryResult};
use rumprops_collector::clickhouse::{json_each_row, rows, schema_version, Layout, SCHEMA_MIGRATIONS};
use serde_json::Value as Json;
use std::time::Instant;

/// When the beacons are received.
const NOW: i64 = T0 + 3_600_000;

const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
];
const IPS: &[&str] = &["81.2.69.142", "81.2.69.160", "193.0.6.139", "2001:db8::1", "10.0.0.5"];

fn goals() -> Goals {
    Goals {
        goals: vec![
            Goal { name: "bought".into(), criterion: Criterion::Action("click on Buy".into()) },
            Goal { name: "any page".into(), criterion: Criterion::Url("https://x/*".into()) },
            Goal { name: "long".into(), criterion: Criterion::SessionDuration(60_000) },
            Goal { name: "busy".into(), criterion: Criterion::ActionCount(3) },
        ],
        key_user_actions: ["click on Book".to_owned()].into_iter().collect(),
    }
}

/// The beacons of the sessions with their senders: user agents, addresses and countries vary
/// by session (the same for all its beacons).
fn pending(rng: &mut Rng, sessions: &[Session]) -> Vec<Pending> {
    let mut out = Vec::new();
    for s in sessions {
        let ip = rng.chance(80).then(|| rng.pick(IPS).to_owned());
        let client = ClientInfo {
            user_agent: rng.chance(85).then(|| rng.pick(USER_AGENTS).to_owned()),
            geo: Geo { country: ip.as_ref().map(|i| format!("C{}", i.len() % 3)), ..Geo::default() },
            ip,
        };
        for b in beacons(s) {
            out.push((b, client.clone()));
        }
    }
    out
}

/// A field a random query may use: its text, type and whose it is.
#[derive(Clone)]
struct Fld {
    text: String,
    ty: ValueType,
    scope: UsqlTable,
}

fn fields_of(scope: UsqlTable) -> Vec<Fld> {
    let mut out: Vec<Fld> = scope
        .fields()
        .iter()
        .filter(|f| !matches!(f.name, "applicationType"))
        .map(|f| Fld { text: f.name.to_owned(), ty: f.ty, scope })
        .collect();
    let props: &[(&str, ValueType)] = match scope {
        UsqlTable::UserSession => &[
            ("stringProperties.tier", ValueType::Text),
            ("longProperties.score", ValueType::Long),
            ("longProperties.big", ValueType::Long),
            ("doubleProperties.ratio", ValueType::Double),
        ],
        UsqlTable::UserAction => &[("stringProperties.page", ValueType::Text), ("longProperties.items", ValueType::Long)],
        _ => &[],
    };
    out.extend(props.iter().map(|(t, ty)| Fld { text: (*t).to_owned(), ty: *ty, scope }));
    out
}

/// The field written for a query over `from`: prefixed when it is another table's.
fn written(f: &Fld, from: UsqlTable, rng: &mut Rng) -> String {
    if f.scope != from || rng.chance(20) {
        format!("{}.{}", f.scope.name(), f.text)
    } else {
        f.text.clone()
    }
}

fn quoted(s: &str, rng: &mut Rng) -> String {
    if rng.chance(50) {
        format!("'{}'", s.replace('\'', "''"))
    } else {
        format!("\"{}\"", s.replace('"', "\"\""))
    }
}

/// A literal for a field of `ty` (with the field's name to pick likely values).
fn literal(f: &Fld, rng: &mut Rng) -> String {
    match f.ty {
        ValueType::Text | ValueType::TextArray => {
            let words: &[&str] = match f.text.as_str() {
                "userId" => &["alice", "bob", "carol", "dave"],
                "name" | "actionName" => NAMES,
                "application" => APPS,
                "type" => &["click", "Error", "PageChange", "RageClick"],
                "connectionType" => &["WIFI", "LAN", "MOBILE", "OFFLINE", "UNKNOWN"],
                "userExperienceScore" => &["SATISFIED", "TOLERATED", "FRUSTRATED", "UNDEFINED"],
                "apdexCategory" => &["SATISFIED", "TOLERATING", "FRUSTRATED", "UNKNOWN"],
                "endReason" => &["END_EVENT", "TIMEOUT"],
                "browserFamily" => &["Chrome", "Firefox", "Mobile Safari", "Safari"],
                "matchingConversionGoals" => &["bought", "any page", "long", "busy"],
                "country" => &["C0", "C1", "C2"],
                _ => WORDS,
            };
            quoted(rng.pick(words), rng)
        }
        ValueType::Ip => format!("'{}'", rng.pick(IPS)),
        ValueType::Boolean => rng.pick(&["true", "false"]).to_owned(),
        ValueType::Double => rng.pick(&["-1.5", "0.0", "0.25", "1.0", "2.5", "0.1"]).to_owned(),
        ValueType::Date => {
            if rng.chance(30) {
                rng.pick(&["$NOW - DURATION(\"2h\")", "\"2023-11-14 22:20\"", "$TIME_FRAME_START"]).to_owned()
            } else {
                (T0 + rng.below(200) as i64 * 1000).to_string()
            }
        }
        ValueType::Long => match f.text.as_str() {
            "longProperties.big" => rng.pick(&["9223372036854775807", "-9223372036854775808", "0", "9007199254740993"]).to_owned(),
            "screenWidth" => rng.pick(&["0", "390", "1280", "1920"]).to_owned(),
            _ => (rng.below(12) as i64 * 50 - 100).to_string(),
        },
    }
}

fn condition(rng: &mut Rng, fields: &[Fld], from: UsqlTable, depth: u32) -> String {
    if depth > 0 && rng.chance(40) {
        let a = condition(rng, fields, from, depth - 1);
        let b = condition(rng, fields, from, depth - 1);
        return match rng.below(3) {
            0 => format!("({a} AND {b})"),
            1 => format!("({a} OR {b})"),
            _ => format!("NOT ({a})"),
        };
    }
    let f = rng.pick(fields);
    let name = written(&f, from, rng);
    let not = if rng.chance(30) { "NOT " } else { "" };
    match rng.below(7) {
        0 | 1 => {
            let ordered = !matches!(f.ty, ValueType::TextArray | ValueType::Boolean);
            let op = if ordered { rng.pick(&["=", "!=", "<", "<=", ">", ">=", "<>"]) } else { rng.pick(&["=", "!="]) };
            format!("{name} {op} {}", literal(&f, rng))
        }
        2 => {
            let items: Vec<String> = (0..1 + rng.below(3)).map(|_| literal(&f, rng)).collect();
            format!("{name} {not}IN ({})", items.join(", "))
        }
        3 => format!("{name} IS {not}NULL"),
        4 if f.ty == ValueType::Text => {
            let pat = rng.pick(&["G%", "%ld", "G?ld", "%", "a\\%b", "*o*", "click on B%", "%book", "%o?", "\\\"%"]);
            format!("{name} {not}LIKE '{pat}'")
        }
        5 if f.ty == ValueType::Text => {
            let prefix = rng.pick(&["G", "Go", "click on B", "", "a%", "C"]);
            format!("{name} {not}STARTSWITH '{prefix}'")
        }
        _ if !matches!(f.ty, ValueType::TextArray | ValueType::Boolean) => format!("{name} {not}BETWEEN {} AND {}", literal(&f, rng), literal(&f, rng)),
        _ => format!("{name} IS NOT NULL"),
    }
}

/// A random query, and whether its rows come in a defined order.
fn query(rng: &mut Rng) -> (String, bool) {
    let from = rng.pick(&[UsqlTable::UserSession, UsqlTable::UserSession, UsqlTable::UserAction, UsqlTable::UserAction, UsqlTable::UserError, UsqlTable::UserEvent]);
    // Fields of the FROM table and the session's (any table's for usersession).
    let mut pool = fields_of(from);
    if from == UsqlTable::UserSession {
        if rng.chance(60) {
            pool.extend(fields_of(rng.pick(&[UsqlTable::UserAction, UsqlTable::UserAction, UsqlTable::UserError, UsqlTable::UserEvent])));
        }
    } else {
        pool.extend(fields_of(UsqlTable::UserSession));
    }
    let where_fields = if from == UsqlTable::UserSession {
        let mut all = fields_of(UsqlTable::UserSession);
        all.extend(fields_of(UsqlTable::UserAction));
        if rng.chance(20) {
            all.extend(fields_of(UsqlTable::UserError));
            all.extend(fields_of(UsqlTable::UserEvent));
        }
        all
    } else {
        pool.clone()
    };
    let filter = if rng.chance(75) { format!(" WHERE {}", condition(rng, &where_fields, from, 2)) } else { String::new() };
    // Select-list items only from the FROM table and one other.
    let other: Option<UsqlTable> = pool.iter().map(|f| f.scope).find(|s| *s != from);
    let pool: Vec<Fld> = pool.into_iter().filter(|f| f.scope == from || Some(f.scope) == other).collect();
    let numeric: Vec<Fld> = pool.iter().filter(|f| f.ty.is_numeric() && f.text != "longProperties.big").cloned().collect();
    let table = from.name();
    let limit = |rng: &mut Rng| if rng.chance(30) { format!(" LIMIT {}", 1 + rng.below(20)) } else { String::new() };
    match rng.below(10) {
        // Plain fields.
        0 | 1 => {
            let fs: Vec<String> = (0..1 + rng.below(3)).map(|_| written(&rng.pick(&pool), from, rng)).collect();
            let distinct = if rng.chance(25) { "DISTINCT " } else { "" };
            if rng.chance(50) {
                let order: Vec<String> = (1..=fs.len()).map(|i| format!("{i}{}", if rng.chance(40) { " DESC" } else { "" })).collect();
                (format!("SELECT {distinct}{} FROM {table}{filter} ORDER BY {}{}", fs.join(", "), order.join(", "), limit(rng)), true)
            } else {
                (format!("SELECT {distinct}{} FROM {table}{filter} LIMIT 5000", fs.join(", ")), false)
            }
        }
        // Aggregates, grouped or not.
        2..=5 => {
            let keys: Vec<String> = (0..rng.below(3)).map(|_| written(&rng.pick(&pool), from, rng)).collect();
            let mut keys_dedup: Vec<String> = Vec::new();
            for k in keys {
                if !keys_dedup.iter().any(|x| x.eq_ignore_ascii_case(&k)) {
                    keys_dedup.push(k);
                }
            }
            let aggs: Vec<String> = (0..1 + rng.below(3))
                .map(|_| {
                    let func = rng.pick(&["COUNT", "COUNT*", "COUNTD", "SUM", "AVG", "MIN", "MAX", "MEDIAN", "PERCENTILE"]);
                    let any = rng.pick(&pool);
                    let num = if numeric.is_empty() { any.clone() } else { rng.pick(&numeric) };
                    match func {
                        "COUNT*" => "COUNT(*)".to_owned(),
                        "COUNT" => format!("COUNT({})", written(&any, from, rng)),
                        "COUNTD" => format!("COUNT(DISTINCT {})", written(&any, from, rng)),
                        "MIN" | "MAX" if any.ty != ValueType::TextArray => format!("{func}({})", written(&any, from, rng)),
                        "MIN" | "MAX" => format!("{func}({})", written(&num, from, rng)),
                        "PERCENTILE" => format!("PERCENTILE({}, {})", written(&num, from, rng), rng.pick(&["10", "25", "90", "99.5", "100", "0"])),
                        f => format!("{f}({})", written(&num, from, rng)),
                    }
                })
                .collect();
            let mut items = keys_dedup.clone();
            let filter_item = rng.chance(15);
            for (i, a) in aggs.iter().enumerate() {
                if filter_item && i == 0 && a.starts_with("COUNT") {
                    items.push(format!("{a} FILTER > {}", rng.below(3)));
                } else {
                    items.push(a.clone());
                }
            }
            let group = if keys_dedup.is_empty() { String::new() } else { format!(" GROUP BY {}", keys_dedup.join(", ")) };
            let order = if !keys_dedup.is_empty() && rng.chance(40) {
                let col = keys_dedup.len() + 1 + rng.below(aggs.len());
                format!(" ORDER BY {col}{}", if rng.chance(50) { " DESC" } else { "" })
            } else {
                String::new()
            };
            (format!("SELECT {} FROM {table}{filter}{group}{order}{}", items.join(", "), limit(rng)), true)
        }
        // Functions.
        _ => {
            let dates: Vec<Fld> = pool.iter().filter(|f| f.ty == ValueType::Date).cloned().collect();
            let d = written(&rng.pick(&dates), from, rng);
            match rng.below(9) {
                0 => {
                    let (fmt, iv) = rng.pick(&[("HH:mm", "1m"), ("HH:mm", "5m"), ("yyyy-MM-dd HH:mm:ss.SSS", "10s"), ("EEE dd MMM yy h a", "1h"), ("yyyy-MM", "month"), ("EEEE D e", "week"), ("yyyy", "year"), ("MMMM 'at' HH''mm", "day")]);
                    let call = format!("DATETIME({d}, '{}', '{iv}')", fmt.replace('\'', "''"));
                    (format!("SELECT {call}, COUNT(*) FROM {table}{filter} GROUP BY {call}{}", limit(rng)), true)
                }
                1 => {
                    let part = rng.pick(&["YEAR", "MONTH", "DAY", "HOUR", "MINUTE"]);
                    (format!("SELECT {part}({d}), COUNT(*) FROM {table}{filter} GROUP BY {part}({d})"), true)
                }
                2 => {
                    let x = if numeric.is_empty() { "1".to_owned() } else { written(&rng.pick(&numeric), from, rng) };
                    let op = rng.pick(&["+", "-", "*", "/", "%", "MOD"]);
                    let lit = rng.pick(&["1", "2", "3", "7", "2.5", "0", "1000"]);
                    let lit = if (op == "%" || op == "MOD") && lit.contains('.') { "3" } else { lit };
                    (format!("SELECT {x} {op} {lit} FROM {table}{filter} LIMIT 5000"), false)
                }
                3 => {
                    let c = condition(rng, &where_fields, from, 1);
                    let agg = rng.pick(&["COUNT(*)", "SUM(userActionCount)", "MAX(startTime)"]);
                    let agg = if from == UsqlTable::UserSession { agg.to_owned() } else { "COUNT(*)".to_owned() };
                    if rng.chance(50) {
                        (format!("SELECT CONDITION({agg}, WHERE {c}) FROM {table}{filter}"), true)
                    } else {
                        let g = written(&rng.pick(&pool), from, rng);
                        (format!("SELECT {g}, CONDITION({agg}, WHERE {c}) FROM {table}{filter} GROUP BY {g}"), true)
                    }
                }
                4 => {
                    let a = condition(rng, &where_fields, from, 1);
                    let b = condition(rng, &where_fields, from, 1);
                    (format!("SELECT FUNNEL({a} AS \"first\", {b}) FROM {table}{filter}"), true)
                }
                5 => {
                    let g = written(&rng.pick(&pool), from, rng);
                    let k = 1 + rng.below(3);
                    let two = if rng.chance(30) {
                        let h = written(&rng.pick(&pool), from, rng);
                        if h.eq_ignore_ascii_case(&g) { String::new() } else { format!(", {h}") }
                    } else {
                        String::new()
                    };
                    let order = if rng.chance(30) { " ORDER BY COUNT(*)".to_owned() } else { String::new() };
                    (format!("SELECT TOP({g}, {k}){two}, COUNT(*) FROM {table}{filter} GROUP BY TOP({g}, {k}){two}{order}{}", limit(rng)), true)
                }
                6 => {
                    let g = written(&rng.pick(&pool), from, rng);
                    let k = 1 + rng.below(3);
                    (format!("SELECT TOP({g}, {k}) FROM {table}{filter}"), true)
                }
                7 if matches!(from, UsqlTable::UserSession | UsqlTable::UserAction) => {
                    let kind = rng.pick(&["stringProperties", "longProperties", "doubleProperties"]);
                    let owner = if from == UsqlTable::UserAction && rng.chance(50) { "useraction." } else { "" };
                    (format!("SELECT KEYS({owner}{kind}), COUNT(*) FROM {table}{filter} GROUP BY KEYS({owner}{kind})"), true)
                }
                _ => {
                    let g = written(&rng.pick(&pool), from, rng);
                    (format!("SELECT DISTINCT {g} FROM {table}{filter} ORDER BY {g} DESC{}", limit(rng)), true)
                }
            }
        }
    }
}

fn numbers_equal(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(_), Json::Number(_)) => match (a.as_i64(), b.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()),
                _ => a == b,
            },
        },
        (Json::Array(x), Json::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(u, v)| numbers_equal(u, v)),
        _ => a == b,
    }
}

fn rows_equal(a: &[Vec<Json>], b: &[Vec<Json>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.len() == y.len() && x.iter().zip(y).all(|(u, v)| numbers_equal(u, v)))
}

fn sorted(rows: &[Vec<Json>]) -> Vec<Vec<Json>> {
    let mut r = rows.to_vec();
    r.sort_by_key(|row| serde_json::to_string(row).unwrap_or_default());
    r
}

/// Both answers, or why they differ.
fn compare(q: &str, ordered: bool, lite: &Result<QueryResult, usql::QueryError>, ch: &Result<QueryResult, usql::QueryError>) -> Result<(), String> {
    match (lite, ch) {
        (Ok(a), Ok(b)) => {
            if a.column_names != b.column_names || a.is_branch != b.is_branch {
                return Err(format!("{q}\n columns: {:?} vs {:?}", a.column_names, b.column_names));
            }
            let same = if ordered { rows_equal(&a.values, &b.values) } else { rows_equal(&sorted(&a.values), &sorted(&b.values)) };
            if same {
                Ok(())
            } else {
                Err(format!("{q}\n sqlite:     {:?}\n clickhouse: {:?}", a.values, b.values))
            }
        }
        (Err(a), Err(b)) => {
            let (a, b) = (a.to_string(), b.to_string());
            if a == b || (a.contains("integer overflow") && b.contains("integer overflow")) {
                Ok(())
            } else {
                Err(format!("{q}\n both failed, differently:\n sqlite:     {a}\n clickhouse: {b}"))
            }
        }
        (Ok(_), Err(e)) => Err(format!("{q}\n only ClickHouse refused: {e}")),
        (Err(e), Ok(_)) => Err(format!("{q}\n only SQLite refused: {e}")),
    }
}

type QueryAnswer = Result<QueryResult, usql::QueryError>;

/// Every how manyth query also runs on current ClickHouse (chDB).
const CURRENT_EVERY: usize = 3;

/// Queries compared per run (`CH_DIFF_QUERIES` asks for another number, e.g. a longer run).
const QUERIES: usize = 1200;

#[test]
fn sqlite_and_clickhouse_give_the_same_answers() {
    let server = common::clickhouse::server();
    let db = common::clickhouse::fresh_database();
    let url: StoreUrl = server.store_url(&db).parse().unwrap();
    let mut ch = ClickHouse::open(url.clone(), None, false).unwrap();
    ch.set_goals(goals());
    let dir = tempfile::tempdir().unwrap();
    let mut conn = store::open(&dir.path().join("d.db")).unwrap();
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let sessions = gen_sessions(&mut rng, 150);
    let pending = pending(&mut rng, &sessions);
    for group in pending.chunks(64) {
        for out in conn.ingest_group(group, &goals(), NOW).unwrap() {
            out.unwrap();
        }
        for out in ch.ingest_group(group, &goals(), NOW).unwrap() {
            out.unwrap();
        }
    }
    let queries = std::env::var("CH_DIFF_QUERIES").ok().and_then(|n| n.parse().ok()).unwrap_or(QUERIES);
    let cases: Vec<(String, bool, QueryOptions)> = (0..queries)
        .map(|_| {
            let (q, ordered) = query(&mut rng);
            let mut opts = QueryOptions::now(30 * 60_000);
            opts.now_ms = NOW + 7_200_000;
            opts.include_live = rng.chance(70);
            if rng.chance(25) {
                opts.start_timestamp = Some(T0 + rng.below(1000) as i64 * 1000);
                opts.end_timestamp = Some(T0 + 500_000 + rng.below(1000) as i64 * 1000);
            }
            if rng.chance(20) {
                opts.offset_utc_min = rng.pick(&[60, -300, 330, 840, -840]);
            }
            if ordered && rng.chance(20) {
                opts.page_size = Some(1 + rng.below(10) as u32);
                opts.page_offset = rng.below(5) as u32;
            }
            (q, ordered, opts)
        })
        .collect();
    // Current ClickHouse (chDB, in its own process meanwhile): the same ingest rows, then the
    // statements of the queries.
    let mut script: Vec<String> = vec![SCHEMA_MIGRATIONS.to_owned()];
    for v in 1..=schema_version() {
        script.extend(Layout::Single.statements(v));
    }
    let (beacon_rows, action_rows) = rows(&pending, &goals(), NOW);
    script.push(format!("INSERT INTO actions FORMAT JSONEachRow\n{}", json_each_row(&action_rows)));
    script.push(format!("INSERT INTO beacons FORMAT JSONEachRow\n{}", json_each_row(&beacon_rows)));
    let first = script.len();
    // One query in three: chDB (26.9) takes several times as long as 18.16 per statement.
    let plans: Vec<Option<(usql::plan::Query, usql::clickhouse::Statement)>> = cases
        .iter()
        .enumerate()
        .map(|(i, (q, _, opts))| usql::parser::parse(q).ok().filter(|_| i % CURRENT_EVERY == 0).map(|p| {
            let st = usql::clickhouse::translate(&p, opts, &goals());
            (p, st)
        }))
        .collect();
    script.extend(cases.iter().zip(&plans).filter_map(|((_, _, opts), p)| p.as_ref().map(|(_, st)| usql::clickhouse::text(st, opts))));
    let chdb = std::thread::spawn(move || {
        let started = Instant::now();
        (common::chdb::run(None, &script), started.elapsed(), script)
    });
    // 18.16 and SQLite, the queries split over two threads with a client and a reader each.
    let started = Instant::now();
    let db_path = dir.path().join("d.db");
    let answers: Vec<(QueryAnswer, QueryAnswer)> = std::thread::scope(|scope| {
        let parts: Vec<_> = cases
            .chunks(cases.len().div_ceil(2).max(1))
            .map(|part| {
                let (url, db_path) = (url.clone(), db_path.clone());
                scope.spawn(move || {
                    let mut ch = ClickHouse::new(url).unwrap();
                    ch.set_goals(goals());
                    let conn = store::open_reader(&db_path).unwrap();
                    part.iter().map(|(q, _, opts)| (usql::run(&conn, q, opts), usql::clickhouse::run(&ch, q, opts))).collect::<Vec<_>>()
                })
            })
            .collect();
        parts.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let elapsed = started.elapsed();
    let mut failures = Vec::new();
    let mut answered = 0;
    let mut with_rows = 0;
    let mut refusals: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for (i, ((q, ordered, _), (lite, other))) in cases.iter().zip(&answers).enumerate() {
        match lite {
            Ok(r) => {
                answered += 1;
                let trivial = r.values.iter().all(|row| row.iter().all(|v| v.is_null() || v.as_i64() == Some(0)));
                with_rows += usize::from(!trivial);
            }
            Err(e) => *refusals.entry(e.to_string().split(" (at").next().unwrap_or("").to_owned()).or_insert(0) += 1,
        }
        if let Err(e) = compare(q, *ordered, lite, other) {
            failures.push(format!("#{i} {e}"));
        }
    }
    let compared = answers.len();
    println!(
        "{compared} random queries compared on SQLite and ClickHouse 18.16 ({answered} answered, {with_rows} with rows beyond zeros and nulls, {} differed) in {:.1} s",
        failures.len(),
        elapsed.as_secs_f64()
    );
    for (why, n) in &refusals {
        println!("  refused by both, {n}×: {why}");
    }
    let (now, chdb_time, script) = chdb.join().unwrap();
    for (s, r) in script.iter().zip(&now.results).take(first) {
        if let Err(e) = r {
            panic!("chDB {}: {s}: {e}", now.version);
        }
    }
    let mut current_errors = Vec::new();
    let parsed = cases.iter().zip(&plans).zip(&answers).filter_map(|((c, p), a)| p.as_ref().map(|p| (c, p, a)));
    let mut current = 0;
    for (((q, ordered, opts), (plan, st), (lite, _)), r) in parsed.zip(&now.results[first..]) {
        let got = match r {
            Ok(body) => usql::clickhouse::answer(plan, st, opts, body, None),
            Err(e) => Err(usql::clickhouse::failure(e, opts)),
        };
        if let Err(e) = compare(q, *ordered, lite, &got) {
            current_errors.push(format!("chDB {}: {e}", now.version));
        }
        current += 1;
    }
    let current_failures = current_errors.len();
    println!(
        "{current} of them also on current ClickHouse (chDB {}, {:.1} s): {current_failures} differed",
        now.version,
        chdb_time.as_secs_f64()
    );
    let shown: Vec<String> = failures.iter().take(10).chain(current_errors.iter().take(10)).cloned().collect();
    assert!(
        failures.is_empty() && current_errors.is_empty(),
        "{} of {compared} queries differ on 18.16, {current_failures} on chDB:\n{}",
        failures.len(),
        shown.join("\n\n")
    );
    assert!(compared >= queries && current == plans.iter().filter(|p| p.is_some()).count());
    assert!(answered * 10 >= compared * 8, "only {answered} of {compared} queries were answered");
    assert!(with_rows * 3 >= answered, "only {with_rows} of {answered} answers had rows");
}

#[test]
fn a_sum_beyond_64_bits_fails_alike_and_user_text_stays_a_literal() {
    let server = common::clickhouse::server();
    let db = common::clickhouse::fresh_database();
    let mut ch = ClickHouse::open(server.store_url(&db).parse().unwrap(), None, false).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut conn = store::open(&dir.path().join("o.db")).unwrap();
    let tiers = ["it's", "a\\'b", "x'); DROP TABLE beacons; --"];
    let pending: Vec<Pending> = (0..3)
        .map(|i| {
            let b = common::beacon(&format!("o{i}"), 1, Some("end_session"), serde_json::json!({"string": {"tier": tiers[i]}}), serde_json::json!([]));
            let mut b: serde_json::Value = b;
            b["session"]["props"]["long"] = serde_json::json!({"big": i64::MAX, "small": 1});
            (rumprops_collector::beacon::parse_beacon(b.to_string().as_bytes()).unwrap(), ClientInfo::default())
        })
        .collect();
    conn.ingest_group(&pending, &Goals::default(), NOW).unwrap();
    ch.ingest_group(&pending, &Goals::default(), NOW).unwrap();
    let mut opts = QueryOptions::now(0);
    opts.include_live = true;
    for q in ["SELECT SUM(longProperties.big) FROM usersession", "SELECT stringProperties.tier, SUM(longProperties.big) FROM usersession GROUP BY stringProperties.tier"] {
        let lite = usql::run(&conn, q, &opts);
        let other = usql::clickhouse::run(&ch, q, &opts);
        compare(q, true, &lite, &other).unwrap();
    }
    let e = usql::clickhouse::run(&ch, "SELECT SUM(longProperties.big) FROM usersession", &opts).unwrap_err().to_string();
    assert!(e.contains("integer overflow"), "{e}");
    for t in tiers {
        let q = format!("SELECT COUNT(*), SUM(longProperties.small) FROM usersession WHERE stringProperties.tier = '{}'", t.replace('\'', "''"));
        let got = usql::clickhouse::run(&ch, &q, &opts).unwrap();
        assert_eq!(got.values, vec![vec![Json::from(1), Json::from(1)]], "{q}");
        compare(&q, true, &usql::run(&conn, &q, &opts), &Ok(got)).unwrap();
    }
    assert_eq!(server.query_in(&db, "SELECT count() FROM beacons").unwrap().trim(), "3");
}
