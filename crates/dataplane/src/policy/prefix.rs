use core::fmt;
use core::net::IpAddr;

use super::PolicyError;

/// An address prefix: an IPv4 or IPv6 network and its length. Host bits
/// beyond the length are always zero (see [`Prefix::new`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

fn mask_v4(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - len as u32).unwrap_or(0)
}

fn mask_v6(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - len as u32).unwrap_or(0)
}

impl Prefix {
    /// The prefix `addr/len`. Refused when `len` exceeds the family's width
    /// (32 or 128) or `addr` has bits set beyond `len`: a policy is written
    /// by hand, and "10.0.0.1/8" is more likely a typo for "10.0.0.1/32"
    /// than a way to write "10.0.0.0/8", so silently masking it could
    /// widen a rule by millions of addresses (`ip route` refuses it too).
    /// The error names the network the length would give.
    pub fn new(addr: IpAddr, len: u8) -> Result<Prefix, PolicyError> {
        let problem = |problem: String| PolicyError::Prefix {
            input: format!("{addr}/{len}"),
            problem,
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(problem(format!("length {len} is longer than {max} bits")));
        }
        let masked = Prefix { addr, len }.network();
        if masked != addr {
            return Err(problem(format!(
                "host bits set beyond /{len}; the network is {masked}/{len}"
            )));
        }
        Ok(Prefix { addr, len })
    }

    /// A single host: /32 or /128.
    pub fn host(addr: IpAddr) -> Prefix {
        let len = if addr.is_ipv4() { 32 } else { 128 };
        Prefix { addr, len }
    }

    /// Parses "10.0.0.0/8", "2001:db8::/32", or a bare address ("192.0.2.7",
    /// a /32 or /128). The rules of [`Prefix::new`] apply.
    pub fn parse(s: &str) -> Result<Prefix, PolicyError> {
        let problem = |problem: &str| PolicyError::Prefix {
            input: s.to_owned(),
            problem: problem.to_owned(),
        };
        let t = s.trim();
        let (addr, len) = match t.split_once('/') {
            None => (t, None),
            Some((addr, len)) => (addr, Some(len)),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| problem("expected an IPv4 or IPv6 address, optionally /length"))?;
        let Some(len) = len else {
            return Ok(Prefix::host(addr));
        };
        if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(problem("the length after '/' must be a decimal number"));
        }
        let len: u8 = len
            .parse()
            .map_err(|_| problem("the length is longer than 128 bits"))?;
        Prefix::new(addr, len).map_err(|e| match e {
            PolicyError::Prefix { problem, .. } => PolicyError::Prefix {
                input: s.to_owned(),
                problem,
            },
            other => other,
        })
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The length in bits; 0 matches every address of the family.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => IpAddr::V4((u32::from(a) & mask_v4(self.len)).into()),
            IpAddr::V6(a) => IpAddr::V6((u128::from(a) & mask_v6(self.len)).into()),
        }
    }

    /// Whether `ip` is in the prefix. Addresses of the other family never
    /// are (an IPv4-mapped IPv6 address is IPv6 here).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask_v4(self.len) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask_v6(self.len) == u128::from(net)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_at_the_edges() {
        assert_eq!(mask_v4(0), 0);
        assert_eq!(mask_v4(1), 0x8000_0000);
        assert_eq!(mask_v4(32), u32::MAX);
        assert_eq!(mask_v6(0), 0);
        assert_eq!(mask_v6(128), u128::MAX);
        assert_eq!(mask_v6(127), u128::MAX - 1);
    }

    #[test]
    fn host_bits_are_refused_not_masked() {
        let a: IpAddr = "10.1.2.3".parse().unwrap();
        assert!(Prefix::new(a, 8).is_err());
        assert!(Prefix::new(a, 32).is_ok());
        assert!(Prefix::new(a, 33).is_err());
        let zero = Prefix::new("::".parse().unwrap(), 0).unwrap();
        assert!(zero.contains("ffff::".parse().unwrap()));
        assert!(!zero.contains(a));
    }
}
