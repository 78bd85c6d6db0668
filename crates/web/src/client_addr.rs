//! Who is asking: the client's address, as the TCP peer, or — when the peer
//! is a reverse proxy named in `PRICEGATE_TRUSTED_PROXIES` — as that proxy
//! says in `X-Forwarded-For`. The login limit and acknowledgements key on it,
//! so behind a proxy without this setting every client would be one address.
//!
//! `X-Forwarded-For` is read from the right: each proxy appends the address
//! it received from, so the first address from the right that is not a
//! trusted proxy is the client. Whatever a client wrote there itself is to
//! the left of that and is never believed.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// Reverse proxies whose `X-Forwarded-For` is believed: addresses and
/// networks (`10.0.0.0/8`, `fd00::/8`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

/// How many peers sending `X-Forwarded-For` untrusted a process names in
/// its log, each once (see [`TrustedProxies::client`]).
const UNTRUSTED_SAID: usize = 16;

impl TrustedProxies {
    /// A comma-separated list of addresses and networks; empty, or `none`
    /// (as the settings page shows the default), trusts no one.
    pub fn parse(raw: &str) -> Result<TrustedProxies, String> {
        let mut networks = Vec::new();
        if raw.trim().eq_ignore_ascii_case("none") {
            return Ok(TrustedProxies(networks));
        }
        for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (addr, prefix) = item.split_once('/').unwrap_or((item, ""));
            let addr: IpAddr =
                addr.parse().map_err(|_| format!("{item:?} is not an IP address or a network like 10.0.0.0/8"))?;
            let bits = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                "" => bits,
                p => p
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= bits)
                    .ok_or_else(|| format!("{item:?} has a prefix length that is not a number from 0 to {bits}"))?,
            };
            // No proxy is everywhere: trusted, every client could name any
            // address it likes, and the login limit would count those. No
            // private network is wider than 10.0.0.0/8 or fc00::/7 (an IPv4
            // network written as IPv6, `::ffff:10.0.0.0/104`, counts as IPv4).
            let widest = match addr {
                IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => 96 + 8,
                IpAddr::V6(_) => 7,
                IpAddr::V4(_) => 8,
            };
            if prefix < widest {
                let what = if prefix == 0 { "is every address" } else { "is wider than any private network" };
                return Err(format!(
                    "{item:?} {what}: X-Forwarded-For from a client there would be believed, so it could name \
                     itself any address, past the login limit; name the proxies' own addresses or network"
                ));
            }
            networks.push((addr, prefix));
        }
        Ok(TrustedProxies(networks))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each trusted network as written: `10.0.0.0/8`, `192.0.2.7/32`.
    pub fn networks(&self) -> Vec<String> {
        self.0.iter().map(|(addr, prefix)| format!("{addr}/{prefix}")).collect()
    }

    pub fn trusts(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.0.iter().any(|(network, prefix)| match (canonical(*network), addr) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                masked(u32::from(n).into(), *prefix, 32) == masked(u32::from(a).into(), *prefix, 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                masked(u128::from(n), *prefix, 128) == masked(u128::from(a), *prefix, 128)
            }
            _ => false,
        })
    }

    /// The client's address for a request that came from `peer`.
    ///
    /// The first request with `X-Forwarded-For` from each peer not trusted
    /// is logged (for the first [`UNTRUSTED_SAID`] such peers of a process):
    /// a reverse proxy left out of `PRICEGATE_TRUSTED_PROXIES` makes every
    /// client behind it one address, whose login failures hold off every
    /// login. (Once a process would let any client who sends the header
    /// first silence it for a proxy added later.)
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            static SAID: std::sync::Mutex<Vec<IpAddr>> = std::sync::Mutex::new(Vec::new());
            let first_from_peer = headers.contains_key("x-forwarded-for") && {
                let mut said = SAID.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let new = said.len() < UNTRUSTED_SAID && !said.contains(&canonical(peer));
                if new {
                    said.push(canonical(peer));
                }
                new
            };
            if first_from_peer {
                tracing::warn!(
                    peer = %canonical(peer),
                    "a request came with X-Forwarded-For from an address PRICEGATE_TRUSTED_PROXIES does not name, \
                     so that address is taken for the client's: if it is a reverse proxy of yours, every client \
                     behind it counts as one (a hundred failed logins among them hold off every login); name it in \
                     PRICEGATE_TRUSTED_PROXIES (said once for each address)"
                );
            }
            return canonical(peer);
        }
        let mut client = canonical(peer);
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in hops.into_iter().rev() {
            let Ok(addr) = hop.parse::<IpAddr>() else { break };
            client = canonical(addr);
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// An IPv4 address that arrived mapped into IPv6 (`::ffff:a.b.c.d`) as the IPv4 one.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

fn masked(value: u128, prefix: u8, bits: u8) -> u128 {
    if prefix == 0 { 0 } else { value >> (bits - prefix) }
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use super::TrustedProxies;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    #[test]
    fn the_client_is_the_first_untrusted_address_from_the_right() {
        let proxies = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8").unwrap();
        let ip = |s: &str| s.parse().unwrap();
        // A client that writes its own header is not believed past the proxies.
        let headers = forwarded(&["6.6.6.6, 203.0.113.7", "10.1.2.3"]);
        assert_eq!(proxies.client(ip("127.0.0.1"), &headers), ip("203.0.113.7"));
        // Straight from a client, the header is ignored.
        assert_eq!(proxies.client(ip("198.51.100.1"), &headers), ip("198.51.100.1"));
        // A proxy that sent no header, or garbage: the last address believed.
        assert_eq!(proxies.client(ip("10.0.0.9"), &HeaderMap::new()), ip("10.0.0.9"));
        assert_eq!(proxies.client(ip("127.0.0.1"), &forwarded(&["nonsense, 10.0.0.2"])), ip("10.0.0.2"));
        // IPv4 mapped into IPv6 is the IPv4 address.
        assert_eq!(proxies.client(ip("::ffff:127.0.0.1"), &forwarded(&["203.0.113.8"])), ip("203.0.113.8"));
        assert_eq!(TrustedProxies::default().client(ip("127.0.0.1"), &headers), ip("127.0.0.1"));
    }

    #[test]
    fn networks_are_parsed_and_bad_ones_refused() {
        let proxies = TrustedProxies::parse("fd00::/8,192.168.0.0/16,10.0.0.0/8").unwrap();
        assert!(proxies.trusts("fd12::1".parse().unwrap()));
        assert!(!proxies.trusts("fe80::1".parse().unwrap()));
        assert!(proxies.trusts("10.200.0.1".parse().unwrap()), "/8 is the widest private network");
        assert!(!proxies.trusts("192.0.2.1".parse().unwrap()));
        assert!(TrustedProxies::parse("fc00::/7, ::ffff:10.0.0.0/104").is_ok());
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        for bad in ["proxy.local", "10.0.0.0/33", "10.0.0.0/x", "::/129"] {
            assert!(TrustedProxies::parse(bad).is_err(), "{bad}");
        }
        for everyone in ["0.0.0.0/0", "10.0.0.1, ::/0"] {
            let refused = TrustedProxies::parse(everyone).expect_err(everyone);
            assert!(refused.contains("is every address"), "{refused}");
        }
        for wide in ["0.0.0.0/1,128.0.0.0/1", "8.0.0.0/7", "::ffff:0.0.0.0/96", "fc00::/6"] {
            let refused = TrustedProxies::parse(wide).expect_err(wide);
            assert!(refused.contains("is wider than any private network"), "{refused}");
        }
    }
}
