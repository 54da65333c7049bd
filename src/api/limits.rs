//! Who a client address is for the API's limits (the limits themselves are
//! held in the database, see `db::limits`).

use std::net::IpAddr;

/// Who a client address is for limits: an IPv4 address (also when mapped
/// into IPv6), or an IPv6 /64 (one subscriber's usual allocation, so a
/// client cannot dodge its limit by changing the low bits).
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_keys_group_ipv6_by_64_and_unmap_ipv4() {
        let k = |s: &str| client_key(s.parse().unwrap()).to_string();
        let table = [
            ("203.0.113.7", "203.0.113.7"),
            ("::ffff:203.0.113.7", "203.0.113.7"),
            ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::"),
            ("2001:db8:1:2::1", "2001:db8:1:2::"),
            ("::1", "::"),
        ];
        for (ip, want) in table {
            assert_eq!(k(ip), want, "{ip}");
        }
    }
}
