//! IP families: which family an address is, the EndpointSlice address type
//! it goes under, and the order addresses are listed in.

use std::net::IpAddr;

/// An IP family, as a Service's `spec.ipFamilies` and an EndpointSlice's
/// `addressType` name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IpFamily {
    V4,
    V6,
}

impl IpFamily {
    /// The family of an address; `None` when it is not an IP address. An
    /// IPv4-mapped IPv6 address is IPv4, as Go's `net.IP.To4` says.
    pub fn of(ip: &str) -> Option<IpFamily> {
        parse(ip).map(|ip| match ip {
            IpAddr::V4(_) => IpFamily::V4,
            IpAddr::V6(_) => IpFamily::V6,
        })
    }

    /// The family a Service's `spec.ipFamilies` entry names (`IPv4`, `IPv6`).
    pub fn from_service_family(family: &str) -> Option<IpFamily> {
        match family {
            "IPv4" => Some(IpFamily::V4),
            "IPv6" => Some(IpFamily::V6),
            _ => None,
        }
    }

    /// The EndpointSlice `addressType` of this family.
    pub fn address_type(self) -> &'static str {
        match self {
            IpFamily::V4 => "IPv4",
            IpFamily::V6 => "IPv6",
        }
    }

    /// The family an EndpointSlice `addressType` names (not `FQDN`).
    pub fn from_address_type(address_type: &str) -> Option<IpFamily> {
        IpFamily::from_service_family(address_type)
    }
}

/// The address in its canonical text form (`ParseIPSloppy(ip).String()`),
/// or `None` when it is not an IP address.
pub fn canonical(ip: &str) -> Option<String> {
    parse(ip).map(|ip| ip.to_string())
}

/// The key addresses sort by: their sixteen bytes (IPv4 mapped into IPv6,
/// as Go holds them), so `10.0.0.9` comes before `10.0.0.10`. Text that is
/// not an address sorts after every address.
pub fn sort_key(ip: &str) -> (bool, [u8; 16], &str) {
    match parse(ip) {
        Some(IpAddr::V4(v4)) => (false, v4.to_ipv6_mapped().octets(), ip),
        Some(IpAddr::V6(v6)) => (false, v6.octets(), ip),
        None => (true, [0; 16], ip),
    }
}

fn parse(ip: &str) -> Option<IpAddr> {
    match ip.trim().parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => Some(match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        }),
        v4 => Some(v4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_follow_the_address() {
        let cases = [
            ("10.0.0.1", Some(IpFamily::V4)),
            ("fd00::1", Some(IpFamily::V6)),
            ("::ffff:10.0.0.1", Some(IpFamily::V4)),
            ("not an ip", None),
            ("", None),
        ];
        for (ip, family) in cases {
            assert_eq!(IpFamily::of(ip), family, "{ip}");
        }
    }

    #[test]
    fn addresses_sort_numerically_and_ipv4_first() {
        let mut ips = vec!["fd00::1", "10.0.0.10", "junk", "10.0.0.9"];
        ips.sort_by_key(|ip| sort_key(ip));
        assert_eq!(ips, ["10.0.0.9", "10.0.0.10", "fd00::1", "junk"]);
    }

    #[test]
    fn canonical_text_is_the_parsed_address() {
        assert_eq!(canonical("FD00:0::1").as_deref(), Some("fd00::1"));
        assert_eq!(canonical("::ffff:10.0.0.1").as_deref(), Some("10.0.0.1"));
        assert_eq!(canonical("nope"), None);
    }
}
