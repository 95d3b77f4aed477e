//! Requests Rapport makes to addresses someone else chose (webhook endpoints), kept off the
//! network Rapport runs in. Unless the operator allows it (`RAPPORT_WEBHOOK_ALLOW_PRIVATE=true`), a
//! delivery never reaches a loopback, private, link-local (169.254.0.0/16, where the cloud
//! metadata services answer), shared (100.64.0.0/10), unique-local or otherwise special address.
//!
//! The address checked is the one connected to: host names are resolved by [`GuardedResolver`],
//! which hands the HTTP client only public addresses, so a name that resolves to 127.0.0.1 (or is
//! re-pointed there after registration) is refused as surely as the literal. Literal addresses,
//! which the client connects to without resolving, are checked by [`literal_refused`].
//!
//! Failures are reported by class ([`Failure`]), never with the text of the connect error, so the
//! delivery log cannot be used to scan ports.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whether `ip` is one a delivery may connect to without the operator's leave: a public unicast
/// address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => public_v4(v4),
            None => public_v6(v6),
        },
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT, some clouds' metadata)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local, fd00:ec2::254 among them
        || (first & 0xffc0) == 0xfe80 // link local
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x0064 && ip.segments()[1] == 0xff9b)) // NAT64 of any IPv4 address
}

/// Whether `url` names, literally, an address a delivery may not reach (or `localhost`).
pub fn literal_refused(url: &reqwest::Url, allow_private: bool) -> bool {
    if allow_private {
        return false;
    }
    let Some(host) = url.host_str() else {
        return true;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) => !is_public(ip),
        Err(_) => {
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    }
}

/// A resolver that keeps only the addresses a delivery may reach.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

/// The error of a name that resolved only to addresses a delivery may not reach.
#[derive(Debug, thiserror::Error)]
#[error("the endpoint's address is not public")]
pub struct NotPublic;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(Box::new(NotPublic) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// What went wrong with a request, in classes that say what to fix and nothing about the network
/// behind the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The endpoint is (or resolves to) an address deliveries may not reach.
    NotPublic,
    Timeout,
    /// The name did not resolve, the connection was refused or reset, or TLS failed.
    Connect,
    /// Anything else on the way (the request could not be sent whole, the answer not read).
    Other,
}

impl Failure {
    pub fn of(e: &reqwest::Error) -> Failure {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(c) = cause {
            if c.is::<NotPublic>() {
                return Failure::NotPublic;
            }
            cause = c.source();
        }
        if e.is_timeout() {
            Failure::Timeout
        } else if e.is_connect() {
            Failure::Connect
        } else {
            Failure::Other
        }
    }

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Failure::NotPublic => "not_public",
            Failure::Timeout => "timeout",
            Failure::Connect => "connect",
            Failure::Other => "other",
        }
    }

    /// In words, for the delivery log and the endpoint's disable reason.
    pub fn explain(self, timeout: std::time::Duration) -> String {
        match self {
            Failure::NotPublic => "refused: the endpoint is not a public address (an operator may allow private ones with RAPPORT_WEBHOOK_ALLOW_PRIVATE=true)".into(),
            Failure::Timeout => format!("no answer within {}s", timeout.as_secs()),
            Failure::Connect => "could not connect to the endpoint".into(),
            Failure::Other => "the request failed on the way".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_to_metadata_address_is_refused() {
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            let ip: IpAddr = refused.parse().unwrap();
            assert!(!is_public(ip), "{refused} must be refused");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"] {
            let ip: IpAddr = public.parse().unwrap();
            assert!(is_public(ip), "{public} is public");
        }
    }

    #[test]
    fn literal_and_local_names_are_refused_unless_allowed() {
        let url = |u: &str| reqwest::Url::parse(u).unwrap();
        assert!(literal_refused(
            &url("http://169.254.169.254/latest"),
            false
        ));
        assert!(literal_refused(&url("http://[::1]:8080/"), false));
        assert!(literal_refused(&url("http://localhost:9000/"), false));
        assert!(literal_refused(&url("http://api.localhost/"), false));
        assert!(!literal_refused(&url("http://127.0.0.1:9000/"), true));
        assert!(!literal_refused(&url("https://hooks.example.com/"), false));
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused_at_connect() {
        let guarded = GuardedResolver {
            allow_private: false,
        };
        let name: Name = "localhost".parse().unwrap();
        let refused = guarded.resolve(name).await;
        assert!(refused.is_err());
        let open = GuardedResolver {
            allow_private: true,
        };
        let name: Name = "localhost".parse().unwrap();
        assert!(open.resolve(name).await.is_ok());
    }
}
