//! Per-session zero-trust policy in the data plane: which destinations a
//! client may reach, and how fast.
//!
//! A [`Policy`] is an ordered list of [`Rule`]s over the destination
//! address, the upper-layer protocol and the destination port; the first
//! rule that matches decides, and `default` decides when none does. An
//! optional [`TokenBucket`] then limits the rate of what is allowed.
//! Rules are built once, from strings at the JS boundary ([`Rule::parse`]);
//! checking a packet allocates nothing.
//!
//! Non-first fragments have no ports, so rules with ports do not match them
//! and they fall through to later rules or the default. Without their first
//! fragment they cannot be reassembled, so this lets nothing through that a
//! port rule denied.

mod error;
mod prefix;
mod rate;

use core::net::IpAddr;
use core::ops::RangeInclusive;

use crate::ip::{self, IpHeader, PROTO_ICMP, PROTO_ICMPV6, PROTO_SCTP, PROTO_TCP, PROTO_UDP};
pub use error::PolicyError;
pub use prefix::Prefix;
pub use rate::TokenBucket;

/// What a rule or the default says about a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Allow,
    Deny,
}

impl Action {
    /// "allow" or "deny", in any ASCII case.
    pub fn parse(s: &str) -> Result<Action, PolicyError> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("allow") {
            Ok(Action::Allow)
        } else if t.eq_ignore_ascii_case("deny") {
            Ok(Action::Deny)
        } else {
            Err(PolicyError::Action {
                input: s.to_owned(),
            })
        }
    }
}

/// One rule: packets to `prefix`, of `protocol` (any if `None`), to a port
/// in `ports` (any, and packets without ports too, if `None`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rule {
    pub action: Action,
    pub prefix: Prefix,
    pub protocol: Option<u8>,
    pub ports: Option<RangeInclusive<u16>>,
}

impl Rule {
    /// Whether the rule applies to a packet to `dst` of `protocol` with
    /// destination port `dst_port`. A rule with ports matches only packets
    /// that have a port in the range; a prefix matches only its own
    /// address family.
    pub fn matches(&self, dst: IpAddr, protocol: u8, dst_port: Option<u16>) -> bool {
        self.prefix.contains(dst)
            && self.protocol.is_none_or(|p| p == protocol)
            && match (&self.ports, dst_port) {
                (None, _) => true,
                (Some(range), Some(port)) => range.contains(&port),
                (Some(_), None) => false,
            }
    }

    /// Builds a rule from the strings the JS side sends:
    /// - `action`: "allow" or "deny";
    /// - `prefix`: "10.0.0.0/8", "2001:db8::/32" or a bare address (see
    ///   [`Prefix::parse`]; host bits beyond the length are refused);
    /// - `protocol`: "tcp", "udp", "sctp", "icmp", "icmpv6" (any ASCII case)
    ///   or a number 0..=255; ICMP with an IPv6 prefix and ICMPv6 with an
    ///   IPv4 prefix are refused, since such a rule could never match;
    /// - `ports`: "443" or "1000-2000", only with TCP, UDP, SCTP or no
    ///   protocol (then it matches any of the three).
    ///
    /// The error names the field and says what is wrong.
    pub fn parse(
        action: &str,
        prefix: &str,
        protocol: Option<&str>,
        ports: Option<&str>,
    ) -> Result<Rule, PolicyError> {
        let action = Action::parse(action)?;
        let prefix = Prefix::parse(prefix)?;
        let protocol = protocol
            .map(|p| parse_protocol(p, prefix.addr().is_ipv4()))
            .transpose()?;
        let ports = ports.map(|p| parse_ports(p, protocol)).transpose()?;
        Ok(Rule {
            action,
            prefix,
            protocol,
            ports,
        })
    }
}

fn parse_protocol(s: &str, ipv4: bool) -> Result<u8, PolicyError> {
    let problem = |problem: &str| PolicyError::Protocol {
        input: s.to_owned(),
        problem: problem.to_owned(),
    };
    let t = s.trim();
    let names = [
        ("tcp", PROTO_TCP),
        ("udp", PROTO_UDP),
        ("sctp", PROTO_SCTP),
        ("icmp", PROTO_ICMP),
        ("icmpv6", PROTO_ICMPV6),
    ];
    let protocol = match names.iter().find(|(name, _)| t.eq_ignore_ascii_case(name)) {
        Some(&(_, number)) => number,
        None if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => t
            .parse()
            .map_err(|_| problem("protocol numbers go from 0 to 255"))?,
        None => {
            return Err(problem(
                "expected tcp, udp, sctp, icmp, icmpv6 or a protocol number 0..255",
            ))
        }
    };
    match (protocol, ipv4) {
        (PROTO_ICMP, false) => Err(problem(
            "ICMP is IPv4's and never matches an IPv6 prefix; use icmpv6",
        )),
        (PROTO_ICMPV6, true) => Err(problem(
            "ICMPv6 is IPv6's and never matches an IPv4 prefix; use icmp",
        )),
        _ => Ok(protocol),
    }
}

fn parse_ports(s: &str, protocol: Option<u8>) -> Result<RangeInclusive<u16>, PolicyError> {
    let problem = |problem: &str| PolicyError::Ports {
        input: s.to_owned(),
        problem: problem.to_owned(),
    };
    if let Some(p) = protocol.filter(|p| !ip::has_ports(*p)) {
        return Err(problem(&format!(
            "protocol {p} has no ports; ports need tcp, udp, sctp or no protocol"
        )));
    }
    let port = |t: &str| -> Result<u16, PolicyError> {
        let t = t.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(problem("expected a port \"443\" or a range \"1000-2000\""));
        }
        t.parse().map_err(|_| problem("ports go from 0 to 65535"))
    };
    let (first, last) = match s.split_once('-') {
        None => {
            let p = port(s)?;
            (p, p)
        }
        Some((first, last)) => (port(first)?, port(last)?),
    };
    if first > last {
        return Err(problem("the range's first port is above its last"));
    }
    Ok(first..=last)
}

/// What [`Policy::admit`] decided about a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    Allow,
    /// A rule or the default denied it.
    Denied,
    /// Allowed by the rules, over the rate.
    RateLimited,
}

impl Verdict {
    /// Stable name for drop counters.
    pub fn code(self) -> &'static str {
        match self {
            Verdict::Allow => "POLICY_ALLOW",
            Verdict::Denied => "POLICY_DENIED",
            Verdict::RateLimited => "POLICY_RATE_LIMITED",
        }
    }
}

/// A session's policy: first matching rule wins, else `default`; what is
/// allowed then passes `rate` if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub default: Action,
    pub rules: Vec<Rule>,
    pub rate: Option<TokenBucket>,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy::allow_all()
    }
}

impl Policy {
    /// No rules, allow by default, no rate limit.
    pub fn allow_all() -> Policy {
        Policy {
            default: Action::Allow,
            rules: Vec::new(),
            rate: None,
        }
    }

    /// The action of the first rule that matches, else the default. The
    /// rate limit is not consulted (see [`Policy::admit`]).
    pub fn check(&self, dst: IpAddr, protocol: u8, dst_port: Option<u16>) -> Action {
        self.rules
            .iter()
            .find(|r| r.matches(dst, protocol, dst_port))
            .map_or(self.default, |r| r.action)
    }

    /// [`Policy::check`] for a parsed packet: its destination, protocol and
    /// destination port (none for non-first fragments).
    pub fn check_packet(&self, packet: &[u8], h: &IpHeader) -> Action {
        let dst_port = ip::transport_ports(packet, h).map(|(_, dst)| dst);
        self.check(h.dst, h.protocol, dst_port)
    }

    /// Decides for one packet of `bytes` at `now_ns`: the rules first, then
    /// the rate limit for what they allow (denied packets take no tokens).
    pub fn admit(
        &mut self,
        dst: IpAddr,
        protocol: u8,
        dst_port: Option<u16>,
        bytes: usize,
        now_ns: u64,
    ) -> Verdict {
        if self.check(dst, protocol, dst_port) == Action::Deny {
            return Verdict::Denied;
        }
        match &mut self.rate {
            Some(bucket) => {
                if bucket.allow(bytes, now_ns) {
                    Verdict::Allow
                } else {
                    Verdict::RateLimited
                }
            }
            None => Verdict::Allow,
        }
    }
}
