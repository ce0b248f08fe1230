//! The rumprops collector: stores beacons in SQLite and answers USQL over sessions, actions and
//! their typed properties. The binary (`rumprops serve`, `rumprops query`) is a thin shell over
//! these modules, so tests drive the same code over real SQLite files and real loopback HTTP.

#![deny(missing_docs)]

pub mod alerts;
mod api;
pub mod auth;
pub mod beacon;
pub mod cli;
pub mod calculated;
pub mod client;
pub mod clickhouse;
pub mod connections;
pub mod dashboards;
pub mod derive;
pub mod export;
pub mod geo;
pub mod goals;
pub mod limits;
pub mod metrics;
pub mod ratelimit;
pub mod rollups;
pub mod server;
pub mod store;
pub mod usql;
pub mod useragent;
pub mod writer;
