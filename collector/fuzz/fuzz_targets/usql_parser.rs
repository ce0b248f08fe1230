//! Fuzzes the USQL lexer and parser, and checks that every query they accept translates to SQL
//! that SQLite can prepare and run on the real schema: the parser may refuse anything, but it
//! must never panic, its error positions must lie inside the input, and an accepted query must
//! never become a SQL syntax error.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rumprops_collector::usql::{self, parser, sqlite, QueryOptions};
use std::cell::RefCell;

thread_local! {
    static DB: RefCell<Option<rusqlite::Connection>> = const { RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parser::parse(text) {
        Err(e) => assert!(e.position <= text.chars().count(), "position {} beyond the input", e.position),
        Ok(q) => {
            let opts = QueryOptions::now(0);
            let st = sqlite::translate(&q, &opts);
            DB.with(|db| {
                let mut db = db.borrow_mut();
                let conn = db.get_or_insert_with(|| {
                    let dir = std::env::temp_dir().join(format!("rumprops-fuzz-{}", std::process::id()));
                    let _ = std::fs::create_dir_all(&dir);
                    rumprops_collector::store::open(&dir.join("fuzz.db")).expect("schema")
                });
                match usql::run(conn, text, &opts) {
                    Ok(_) => {}
                    Err(usql::QueryError::Failed(m)) => {
                        assert!(!m.contains("syntax error") && !m.contains("no such"), "{m}\n{}", st.sql)
                    }
                    Err(usql::QueryError::Invalid(e)) => panic!("parsed once, refused the second time: {e}"),
                }
            });
        }
    }
});
