//! The IP address plugins: `hostname`, `prefixlength_to_netmask`, `prefixlen`,
//! `network_address`, `netmask`, `ipindex`, `add_to_ip` and `ip_address_from_interface`.
//! They follow Python's `ipaddress` module, which Inmanta's versions call: an interface is
//! `address[/prefix]` (IPv4 also takes `address/netmask` and `address/hostmask`), a network
//! must have no host bits set, and addresses print in their canonical (compressed) form.

use crate::support::{error, int, text, PluginResult};
use cairn_compiler::compile::plugins::{Param, ParamType, PluginRegistry};
use cairn_compiler::compile::value::Value;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub fn register(registry: &mut PluginRegistry) {
    use ParamType::{Bool, Int, String};
    let string = |name| Param::new(name, String);
    registry.register("std::hostname", vec![string("fqdn")], |_, a| Ok(Value::str(hostname(text(&a[0])))));
    registry.register("std::prefixlength_to_netmask", vec![Param::new("prefixlen", Int)], |_, a| {
        text_result(prefixlength_to_netmask(int(&a[0])))
    });
    registry.register("std::prefixlen", vec![string("addr")], |_, a| {
        parse_interface(text(&a[0])).map(|i| Value::Int(i64::from(i.prefix))).map_err(error)
    });
    registry.register("std::network_address", vec![string("addr")], |_, a| {
        text_result(parse_interface(text(&a[0])).map(|i| i.network().to_string()))
    });
    registry.register("std::netmask", vec![string("addr")], |_, a| {
        text_result(parse_interface(text(&a[0])).map(|i| i.netmask().to_string()))
    });
    registry.register(
        "std::ipindex",
        vec![string("addr"), Param::new("position", Int), Param::optional("keep_prefix", Bool, Value::Bool(false))],
        |_, a| text_result(ipindex(text(&a[0]), int(&a[1]), a[2].truthy())),
    );
    registry.register("std::add_to_ip", vec![string("addr"), Param::new("n", Int)], |_, a| {
        text_result(add_to_ip(text(&a[0]), int(&a[1])))
    });
    registry.register("std::ip_address_from_interface", vec![string("ip_interface")], |_, a| {
        text_result(parse_interface(text(&a[0])).map(|i| i.address.to_string()))
    });
}

fn text_result(result: Result<String, String>) -> PluginResult {
    result.map(|s| Value::str(&s)).map_err(error)
}

/// The host part of a fully qualified domain name: everything before the first dot.
pub fn hostname(fqdn: &str) -> &str {
    fqdn.split('.').next().unwrap_or_default()
}

/// An address with a prefix length, as Python's `ip_interface`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interface {
    pub address: IpAddr,
    pub prefix: u8,
}

impl Interface {
    fn bits(&self) -> u8 {
        if self.address.is_ipv4() {
            32
        } else {
            128
        }
    }

    fn mask(&self) -> u128 {
        mask_bits(self.prefix, self.bits())
    }

    pub fn netmask(&self) -> IpAddr {
        make_address(self.mask(), self.address.is_ipv4())
    }

    pub fn network(&self) -> IpAddr {
        make_address(address_bits(self.address) & self.mask(), self.address.is_ipv4())
    }
}

fn mask_bits(prefix: u8, bits: u8) -> u128 {
    let all: u128 = if bits >= 128 { u128::MAX } else { (1u128 << bits) - 1 };
    let host_bits = bits.saturating_sub(prefix);
    if host_bits >= 128 {
        return 0;
    }
    let host_mask: u128 = (1u128 << host_bits) - 1;
    all & !host_mask
}

fn address_bits(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn make_address(bits: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::from(bits as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(bits))
    }
}

/// Parses an address as Python's `ip_address`.
pub fn parse_address(text: &str) -> Result<IpAddr, String> {
    parse_ip(text).ok_or_else(|| format!("'{text}' does not appear to be an IPv4 or IPv6 address"))
}

/// An IPv4 or IPv6 address as Python's `ipaddress` reads one: an IPv6 address may end in a
/// scope (`fe80::1%eth0`: anything but `%` after one `%`), which addresses drop here.
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    match text.split_once('%') {
        Some((address, scope)) if !scope.is_empty() && !scope.contains('%') => address.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        Some(_) => None,
        None => text.parse::<IpAddr>().ok(),
    }
}

/// Parses `address[/prefix]` as Python's `ip_interface`: the prefix is a length, or for IPv4
/// a netmask (`255.255.255.0`) or hostmask (`0.0.0.255`).
pub fn parse_interface(text: &str) -> Result<Interface, String> {
    let invalid = |detail: String| format!("'{text}' does not appear to be an IPv4 or IPv6 interface ({detail})");
    let (address, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let address: IpAddr = parse_ip(address).ok_or_else(|| invalid(format!("'{address}' is not an address")))?;
    let bits = if address.is_ipv4() { 32u8 } else { 128 };
    let prefix = match prefix {
        None => bits,
        Some(p) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => match p.parse::<u8>() {
            Ok(n) if n <= bits => n,
            _ => return Err(invalid(format!("the prefix length is at most {bits}"))),
        },
        Some(p) if address.is_ipv4() => {
            let mask: Option<Ipv4Addr> = p.parse().ok();
            mask.and_then(|m| prefix_of_mask(u32::from(m))).ok_or_else(|| invalid(format!("'{p}' is not a valid netmask")))?
        }
        Some(p) => return Err(invalid(format!("'{p}' is not a valid prefix length"))),
    };
    Ok(Interface { address, prefix })
}

/// The prefix length of an IPv4 netmask (leading ones) or hostmask (leading zeros).
fn prefix_of_mask(mask: u32) -> Option<u8> {
    let ones = mask.leading_ones();
    if mask.checked_shl(ones).unwrap_or(0) == 0 {
        return u8::try_from(ones).ok();
    }
    let zeros = mask.leading_zeros();
    if mask == u32::MAX.checked_shr(zeros).unwrap_or(0) {
        return u8::try_from(zeros).ok();
    }
    None
}

/// Parses a network as Python's `ip_network` (strict): host bits must be zero.
pub fn parse_network(text: &str) -> Result<Interface, String> {
    let interface = parse_interface(text).map_err(|_| format!("'{text}' does not appear to be an IPv4 or IPv6 network"))?;
    if address_bits(interface.address) & !interface.mask() & mask_bits(interface.bits(), interface.bits()) != 0 {
        return Err(format!("{text} has host bits set"));
    }
    Ok(interface)
}

/// `255.255.255.255/prefixlen`'s netmask.
pub fn prefixlength_to_netmask(prefixlen: i64) -> Result<String, String> {
    let prefix = u8::try_from(prefixlen).ok().filter(|p| *p <= 32).ok_or_else(|| format!("'{prefixlen}' is not a valid netmask"))?;
    Ok(Interface { address: IpAddr::V4(Ipv4Addr::BROADCAST), prefix }.netmask().to_string())
}

/// The address at `position` in the network `network` (negative positions count back from
/// the broadcast address), optionally with the network's prefix appended.
pub fn ipindex(network: &str, position: i64, keep_prefix: bool) -> Result<String, String> {
    let net = parse_network(network)?;
    let first = address_bits(net.network());
    let last = first | (!net.mask() & mask_bits(net.bits(), net.bits()));
    let out_of_range = || format!("address out of range: position {position} in {network}");
    let bits = if position >= 0 {
        first.checked_add(position as u128).filter(|b| *b <= last).ok_or_else(out_of_range)?
    } else {
        let back = position.unsigned_abs() as u128 - 1;
        last.checked_sub(back).filter(|b| *b >= first).ok_or_else(out_of_range)?
    };
    let address = make_address(bits, net.address.is_ipv4());
    Ok(if keep_prefix { format!("{address}/{}", net.prefix) } else { address.to_string() })
}

/// `ip_address(addr) + n`.
pub fn add_to_ip(addr: &str, n: i64) -> Result<String, String> {
    let address = parse_address(addr)?;
    let max: u128 = if address.is_ipv4() { u128::from(u32::MAX) } else { u128::MAX };
    let base = address_bits(address);
    let bits = if n >= 0 { base.checked_add(n as u128) } else { base.checked_sub(n.unsigned_abs() as u128) };
    match bits.filter(|b| *b <= max) {
        Some(bits) => Ok(make_address(bits, address.is_ipv4()).to_string()),
        None => Err(format!("{addr} + {n} is outside the {} address space", if address.is_ipv4() { "IPv4" } else { "IPv6" })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interface(text: &str) -> Interface {
        parse_interface(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn netmasks() {
        assert_eq!(prefixlength_to_netmask(24), Ok("255.255.255.0".to_string()));
        assert_eq!(prefixlength_to_netmask(20), Ok("255.255.240.0".to_string()));
        assert_eq!(prefixlength_to_netmask(0), Ok("0.0.0.0".to_string()));
        assert_eq!(prefixlength_to_netmask(32), Ok("255.255.255.255".to_string()));
        assert!(prefixlength_to_netmask(33).is_err());
        assert!(prefixlength_to_netmask(-1).is_err());
        assert_eq!(interface("2001:db8::1/64").netmask().to_string(), "ffff:ffff:ffff:ffff::");
        assert_eq!(interface("::1/128").netmask().to_string(), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
        assert_eq!(interface("::1/0").netmask().to_string(), "::");
    }

    #[test]
    fn interfaces() {
        assert_eq!(interface("192.168.1.100/24").prefix, 24);
        assert_eq!(interface("192.168.1.100").prefix, 32);
        assert_eq!(interface("fe80::1").prefix, 128);
        assert_eq!(interface("10.1.2.3/255.255.0.0").prefix, 16);
        assert_eq!(interface("10.1.2.3/0.0.255.255").prefix, 16);
        assert_eq!(interface("10.1.2.3/024").prefix, 24);
        assert_eq!(interface("192.168.2.10/24").network().to_string(), "192.168.2.0");
        assert_eq!(interface("2001:db8:85a3::8a2e:370:7334/64").network().to_string(), "2001:db8:85a3::");
        assert!(parse_interface("10.0.0.1/33").is_err());
        assert!(parse_interface("10.0.0.1/255.0.255.0").is_err());
        assert!(parse_interface("::1/ffff::").is_err());
        assert!(parse_interface("10.0.0").is_err());
        assert!(parse_interface("10.0.0.1/").is_err());
        assert!(parse_network("10.0.0.1/8").is_err());
        assert!(parse_network("10.0.0.0/8").is_ok());
    }

    #[test]
    fn indexes() {
        assert_eq!(ipindex("192.168.0.0/16", 1, false), Ok("192.168.0.1".to_string()));
        assert_eq!(ipindex("192.168.0.0/16", 256, false), Ok("192.168.1.0".to_string()));
        assert_eq!(ipindex("192.168.0.0/16", 256, true), Ok("192.168.1.0/16".to_string()));
        assert_eq!(ipindex("192.168.0.0/24", -1, false), Ok("192.168.0.255".to_string()));
        assert_eq!(ipindex("192.168.0.0/24", -256, false), Ok("192.168.0.0".to_string()));
        assert!(ipindex("192.168.0.0/24", -257, false).is_err());
        assert!(ipindex("192.168.0.0/24", 256, false).is_err());
        assert_eq!(ipindex("2001:0db8:85a3::0/64", 100000, false), Ok("2001:db8:85a3::1:86a0".to_string()));
        assert_eq!(ipindex("10.0.0.5/32", 0, false), Ok("10.0.0.5".to_string()));
        assert!(ipindex("10.0.0.5/24", 0, false).is_err());
    }

    #[test]
    fn addition() {
        assert_eq!(add_to_ip("192.168.22.11", 22), Ok("192.168.22.33".to_string()));
        assert_eq!(add_to_ip("192.168.22.250", 22), Ok("192.168.23.16".to_string()));
        assert_eq!(add_to_ip("::1", 15), Ok("::10".to_string()));
        assert_eq!(add_to_ip("10.0.0.1", -2), Ok("9.255.255.255".to_string()));
        assert!(add_to_ip("255.255.255.255", 1).is_err());
        assert!(add_to_ip("0.0.0.0", -1).is_err());
        assert!(add_to_ip("10.0.0.1/24", 1).is_err());
    }

    #[test]
    fn hostnames() {
        assert_eq!(hostname("test.something.com"), "test");
        assert_eq!(hostname("single"), "single");
        assert_eq!(hostname(""), "");
        assert_eq!(hostname(".x"), "");
    }
}
