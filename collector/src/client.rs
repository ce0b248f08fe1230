//! Who sent a beacon: the client address behind trusted reverse proxies, and the address as
//! stored (`--ip full|masked|none`).
//!
//! `X-Forwarded-For` and `Forwarded` are honoured only when the TCP peer is inside one of the
//! `--trusted-proxy` networks; then the addresses they list are walked from the nearest hop back,
//! skipping trusted proxies, and the first untrusted one is the client (every hop trusted: the
//! farthest). `Forwarded` (RFC 7239) wins over `X-Forwarded-For` when both are present. An
//! unreadable header leaves the peer as the client. Without trusted proxies the peer is the client.

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::IpAddr;
use std::str::FromStr;

/// How the client address is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpMode {
    /// As received.
    Full,
    /// IPv4 with the last octet zeroed, IPv6 with the last 80 bits zeroed (the default).
    #[default]
    Masked,
    /// Not stored.
    None,
}

impl FromStr for IpMode {
    type Err = String;
    fn from_str(s: &str) -> Result<IpMode, String> {
        match s {
            "full" => Ok(IpMode::Full),
            "masked" => Ok(IpMode::Masked),
            "none" => Ok(IpMode::None),
            _ => Err(format!("{s:?} is not full, masked or none")),
        }
    }
}

impl IpMode {
    /// The address to store for `ip`.
    pub fn store(self, ip: IpAddr) -> Option<String> {
        match self {
            IpMode::Full => Some(ip.to_string()),
            IpMode::Masked => Some(mask(ip).to_string()),
            IpMode::None => None,
        }
    }
}

/// IPv4: the last octet zeroed; IPv6: the last 80 bits zeroed (the first 48 kept). An
/// IPv4-mapped IPv6 address is masked as the IPv4 address it carries.
pub fn mask(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => mask(IpAddr::V4(v4)),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 80) - 1)).into()),
        },
    }
}

/// Parses a `--trusted-proxy` value: a CIDR network (`10.0.0.0/8`, `::1/128`) or one address.
pub fn parse_network(s: &str) -> Result<IpNet, String> {
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    s.parse::<IpAddr>().map(IpNet::from).map_err(|_| format!("{s:?} is not a CIDR network (10.0.0.0/8) or an address"))
}

/// The client address of a request from `peer` with `headers`.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(&canonical(*ip)));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops = forwarded_for(headers).or_else(|| x_forwarded_for(headers));
    let Some(hops) = hops else { return peer };
    // Nearest hop last: walk back while the hops are our own proxies.
    let mut client = peer;
    for hop in hops.iter().rev() {
        client = *hop;
        if !is_trusted(hop) {
            break;
        }
    }
    client
}

/// An IPv4-mapped IPv6 peer (a dual-stack listener) as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// All `X-Forwarded-For` addresses in order (several headers concatenate); `None` when absent
/// or when any entry is not an address.
fn x_forwarded_for(headers: &HeaderMap) -> Option<Vec<IpAddr>> {
    let mut out = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        for part in value.to_str().ok()?.split(',') {
            out.push(canonical(parse_node(part.trim())?));
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The `for=` addresses of `Forwarded` (RFC 7239) in order; `None` when absent or when a `for`
/// is not an address (`unknown`, obfuscated names).
fn forwarded_for(headers: &HeaderMap) -> Option<Vec<IpAddr>> {
    let mut out = Vec::new();
    for value in headers.get_all("forwarded") {
        for element in value.to_str().ok()?.split(',') {
            for pair in element.split(';') {
                let Some((k, v)) = pair.trim().split_once('=') else { continue };
                if k.trim().eq_ignore_ascii_case("for") {
                    out.push(canonical(parse_node(v.trim().trim_matches('"'))?));
                }
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `192.0.2.1`, `192.0.2.1:80`, `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:443`.
fn parse_node(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    let (host, port) = s.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn headers_count_only_from_trusted_peers() {
        let trusted = [parse_network("10.0.0.0/8").unwrap(), parse_network("127.0.0.1").unwrap()];
        let xff = headers(&[("x-forwarded-for", "203.0.113.9, 10.1.2.3")]);
        assert_eq!(client_ip(ip("198.51.100.7"), &xff, &trusted), ip("198.51.100.7"), "untrusted peer: headers ignored");
        assert_eq!(client_ip(ip("10.0.0.1"), &xff, &trusted), ip("203.0.113.9"), "trusted hops skipped");
        assert_eq!(client_ip(ip("10.0.0.1"), &xff, &[]), ip("10.0.0.1"), "no trusted proxy: the peer");
        // A client cannot spoof past the first untrusted hop.
        let spoofed = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &spoofed, &trusted), ip("203.0.113.9"));
        let all_trusted = headers(&[("x-forwarded-for", "10.9.9.9, 10.1.2.3")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &all_trusted, &trusted), ip("10.9.9.9"));
        let two = headers(&[("x-forwarded-for", "203.0.113.1"), ("x-forwarded-for", "203.0.113.2")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &two, &trusted), ip("203.0.113.2"));
        let bad = headers(&[("x-forwarded-for", "not-an-ip")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &bad, &trusted), ip("127.0.0.1"));
        let mapped = ip("::ffff:10.0.0.1");
        assert_eq!(client_ip(mapped, &xff, &trusted), ip("203.0.113.9"), "IPv4-mapped peer");
    }

    #[test]
    fn forwarded_header() {
        let trusted = [parse_network("::1/128").unwrap()];
        let h = headers(&[("forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43, for=\"[2001:db8:cafe::17]:4711\"")]);
        assert_eq!(client_ip(ip("::1"), &h, &trusted), ip("2001:db8:cafe::17"));
        let both = headers(&[("forwarded", "for=192.0.2.60"), ("x-forwarded-for", "203.0.113.5")]);
        assert_eq!(client_ip(ip("::1"), &both, &trusted), ip("192.0.2.60"), "Forwarded wins");
        let unknown = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(client_ip(ip("::1"), &unknown, &trusted), ip("::1"));
        assert_eq!(parse_node("192.0.2.1:8080"), Some(ip("192.0.2.1")));
    }

    #[test]
    fn masking_and_modes() {
        assert_eq!(mask(ip("203.0.113.77")), ip("203.0.113.0"));
        assert_eq!(mask(ip("2001:db8:cafe:1234:5678:9abc:def0:1234")), ip("2001:db8:cafe::"));
        assert_eq!(mask(ip("::ffff:203.0.113.77")), ip("203.0.113.0"));
        assert_eq!(IpMode::Masked.store(ip("203.0.113.77")).as_deref(), Some("203.0.113.0"));
        assert_eq!(IpMode::Full.store(ip("203.0.113.77")).as_deref(), Some("203.0.113.77"));
        assert_eq!(IpMode::None.store(ip("203.0.113.77")), None);
        assert_eq!("full".parse::<IpMode>(), Ok(IpMode::Full));
        assert!("half".parse::<IpMode>().unwrap_err().contains("not full, masked or none"));
        assert!(parse_network("10.0.0.0/33").is_err());
        assert_eq!(parse_network("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
    }
}
