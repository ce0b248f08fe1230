//! The collector's own metrics for operators, served on `GET /metrics` in the Prometheus text
//! format (version 0.0.4).
//!
//! Every name starts with `rumprops_collector_` and the block is introduced by its own comment
//! line, so other metrics can follow on the same endpoint, each kind in a block of its own. Each
//! running collector has its own registry (tests run several in one process).

use prometheus::{Encoder, Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

/// The Prometheus namespace of the operator metrics.
pub const NAMESPACE: &str = "rumprops_collector";

/// The operator metrics of one collector.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `POST /beacon` answers by HTTP status (204 accepted; 4xx and 5xx refused).
    pub beacons: IntCounterVec,
    /// Beacons waiting for the writer.
    pub queue_depth: IntGauge,
    /// Seconds from a group's start to its commit, one sample per group.
    pub write_seconds: Histogram,
    /// Seconds a USQL query ran, one sample per query that ran.
    pub query_seconds: Histogram,
    /// USQL queries refused because their client already runs its limit.
    pub queries_refused: IntCounterVec,
    /// Open HTTP connections.
    pub open_connections: IntGauge,
    /// Connections closed by the header, body or shutdown timeouts, by reason.
    pub connections_cut: IntCounterVec,
}

fn buckets() -> Vec<f64> {
    // 0.5 ms to about 16 s, doubling.
    prometheus::exponential_buckets(0.0005, 2.0, 16).unwrap_or_else(|_| prometheus::DEFAULT_BUCKETS.to_vec())
}

impl Metrics {
    /// A fresh set of metrics in a registry of its own.
    pub fn new() -> Result<Metrics, String> {
        Metrics::build().map_err(|e| format!("metrics: {e}"))
    }

    fn build() -> prometheus::Result<Metrics> {
        let registry = Registry::new_custom(Some(NAMESPACE.to_owned()), None)?;
        let counter = |name: &str, help: &str, label: &str| -> prometheus::Result<IntCounterVec> {
            let c = IntCounterVec::new(Opts::new(name, help), &[label])?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let gauge = |name: &str, help: &str| -> prometheus::Result<IntGauge> {
            let g = IntGauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let histogram = |name: &str, help: &str| -> prometheus::Result<Histogram> {
            let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets()))?;
            registry.register(Box::new(h.clone()))?;
            Ok(h)
        };
        Ok(Metrics {
            beacons: counter("beacons_total", "POST /beacon answers by HTTP status (204 accepted, others refused)", "status")?,
            queue_depth: gauge("writer_queue_depth", "Beacons waiting for the writer")?,
            write_seconds: histogram("write_seconds", "Time to store one group of beacons, up to its commit")?,
            query_seconds: histogram("query_seconds", "Time a USQL query ran")?,
            queries_refused: counter(
                "queries_refused_total",
                "USQL queries refused with 429 because the client already runs its limit",
                "reason",
            )?,
            open_connections: gauge("open_connections", "Open HTTP connections")?,
            connections_cut: counter(
                "connections_cut_total",
                "Connections or requests cut by a timeout or by the shutdown grace period, by reason",
                "reason",
            )?,
            registry,
        })
    }

    /// Counts one `POST /beacon` answer.
    pub fn beacon_answered(&self, status: u16) {
        self.beacons.with_label_values(&[&status.to_string()]).inc();
    }

    /// The operator block of `GET /metrics`: a comment line naming it, then the metrics.
    pub fn render(&self) -> String {
        let mut out = String::from("# rumprops collector: operator metrics\n");
        let _ = TextEncoder::new().encode_utf8(&self.registry.gather(), &mut out);
        out
    }
}

/// The `Content-Type` of `GET /metrics`.
pub fn content_type() -> String {
    TextEncoder::new().format_type().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_in_the_namespace() {
        let m = Metrics::new().unwrap();
        m.beacon_answered(204);
        m.beacon_answered(429);
        m.write_seconds.observe(0.002);
        m.open_connections.set(3);
        let text = m.render();
        assert!(text.contains("rumprops_collector_beacons_total{status=\"204\"} 1"), "{text}");
        assert!(text.contains("rumprops_collector_beacons_total{status=\"429\"} 1"), "{text}");
        assert!(text.contains("rumprops_collector_write_seconds_count 1"), "{text}");
        assert!(text.contains("rumprops_collector_open_connections 3"), "{text}");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("rumprops_collector_"), "{line}");
        }
    }
}
