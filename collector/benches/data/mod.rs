//! The benchmarks' beacons: session `i` with 10 actions, three properties each.

/// Actions in every generated beacon.
pub const ACTIONS_PER_SESSION: usize = 10;
const TIERS: [&str; 4] = ["Gold", "Silver", "Bronze", "Platinum"];

/// The one beacon of session `i` (sid `s{i:08}`, ended), as the agent sends it.
pub fn beacon_text(i: usize) -> String {
    let start = 1_732_000_000_000_i64 + i as i64 * 1000;
    let actions: Vec<String> = (0..ACTIONS_PER_SESSION)
        .map(|k| {
            let s = start + k as i64 * 500;
            format!(
                r#"{{"id":"a{k}","kind":"click","name":"click on item {k}","start":{s},"end":{},"url":"https://shop.example/p/{k}","requests":3,"requestErrors":{},"jsErrors":0,"props":{{"string":{{"page":"p{k}"}},"long":{{"items":{k}}},"double":{{"total":{}.5}}}}}}"#,
                s + 120,
                u8::from((i + k).is_multiple_of(3)),
                k * 7
            )
        })
        .collect();
    format!(
        r#"{{"v":1,"app":"easytravel","vid":"v{i}","sid":"s{i:08}","seq":0,"sentAt":{start},"session":{{"start":{start},"userId":"user{}","ended":"end_session","props":{{"string":{{"loyalty_status":"{}"}},"long":{{"visits":{}}}}}}},"actions":[{}],"issues":[]}}"#,
        i % 1000,
        TIERS[i % TIERS.len()],
        i % 50,
        actions.join(",")
    )
}

