//! Geo fields from the client address, read with the `maxminddb` crate from MaxMind-format
//! databases (`--geoip FILE`, repeatable): GeoLite2/GeoIP2 City or Country, DB-IP lite, and an
//! ASN or ISP database for `isp`. Names are the English ones (`names.en`). A field is taken from
//! the first database that has it; a field no database has is NULL.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

/// The geo fields of one address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Geo {
    /// `city`.
    pub city: Option<String>,
    /// `region`: the first (largest) subdivision.
    pub region: Option<String>,
    /// `country`.
    pub country: Option<String>,
    /// `continent`.
    pub continent: Option<String>,
    /// `isp`: the ISP, else the autonomous system's organization.
    pub isp: Option<String>,
}

#[derive(Deserialize, Default)]
struct Named {
    #[serde(default)]
    names: BTreeMap<String, String>,
}

impl Named {
    fn english(self) -> Option<String> {
        self.names.get("en").cloned()
    }
}

#[derive(Deserialize, Default)]
struct Traits {
    isp: Option<String>,
    autonomous_system_organization: Option<String>,
}

/// The members of the City, Country, ISP and ASN layouts this collector reads.
#[derive(Deserialize, Default)]
struct Record {
    city: Option<Named>,
    #[serde(default)]
    subdivisions: Vec<Named>,
    country: Option<Named>,
    continent: Option<Named>,
    isp: Option<String>,
    autonomous_system_organization: Option<String>,
    traits: Option<Traits>,
}

/// One open database.
struct Database {
    path: String,
    reader: maxminddb::Reader<Vec<u8>>,
}

/// The databases given with `--geoip`, read into memory at start.
#[derive(Default)]
pub struct GeoDb {
    databases: Vec<Database>,
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.databases.iter().map(|d| &d.path)).finish()
    }
}

impl GeoDb {
    /// Opens the databases; an unreadable file or one that is not a MaxMind database is an error
    /// naming it.
    pub fn open(paths: &[impl AsRef<Path>]) -> Result<GeoDb, String> {
        let mut databases = Vec::with_capacity(paths.len());
        for p in paths {
            let p = p.as_ref();
            let reader = maxminddb::Reader::open_readfile(p)
                .map_err(|e| format!("--geoip {}: not a readable MaxMind database: {e}", p.display()))?;
            databases.push(Database { path: p.display().to_string(), reader });
        }
        Ok(GeoDb { databases })
    }

    /// Whether any database is open.
    pub fn is_empty(&self) -> bool {
        self.databases.is_empty()
    }

    /// One line per database for the start-up message: its path, type and build date.
    pub fn describe(&self) -> Vec<String> {
        self.databases
            .iter()
            .map(|d| {
                let m = d.reader.metadata();
                let (y, mo, day) = crate::usql::time::civil_from_days((m.build_epoch / 86_400) as i64);
                format!("{} ({}, built {y}-{mo:02}-{day:02})", d.path, m.database_type)
            })
            .collect()
    }

    /// The geo fields of `ip`; all absent when no database knows the address.
    pub fn lookup(&self, ip: IpAddr) -> Geo {
        let mut geo = Geo::default();
        for d in &self.databases {
            // An address outside a database's tree, or a record of another layout, adds nothing.
            let Ok(result) = d.reader.lookup(ip) else { continue };
            let Ok(Some(r)) = result.decode::<Record>() else { continue };
            let traits = r.traits.unwrap_or_default();
            fill(&mut geo.city, r.city.and_then(Named::english));
            fill(&mut geo.region, r.subdivisions.into_iter().next().and_then(Named::english));
            fill(&mut geo.country, r.country.and_then(Named::english));
            fill(&mut geo.continent, r.continent.and_then(Named::english));
            fill(&mut geo.isp, r.isp.or(traits.isp).or(r.autonomous_system_organization).or(traits.autonomous_system_organization));
        }
        geo
    }
}

fn fill(slot: &mut Option<String>, value: Option<String>) {
    if slot.is_none() {
        *slot = value.filter(|v| !v.is_empty());
    }
}
