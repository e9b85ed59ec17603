use core::fmt;

/// Why a policy rule from the JS side was refused: which field, what it
/// held, and what is wrong with it. `code()` is stable across the native
/// boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyError {
    /// Not "allow" or "deny".
    Action { input: String },
    /// Not an address or address/length, a length too long for the
    /// family, or host bits set beyond the length.
    Prefix { input: String, problem: String },
    /// Not a known name or a number 0..=255, or of the other address
    /// family than the prefix (ICMP with an IPv6 prefix, ICMPv6 with IPv4).
    Protocol { input: String, problem: String },
    /// Not "N" or "N-M" with N <= M <= 65535, or ports with a protocol
    /// that has none.
    Ports { input: String, problem: String },
}

impl PolicyError {
    pub fn code(&self) -> &'static str {
        match self {
            PolicyError::Action { .. } => "ERR_POLICY_ACTION",
            PolicyError::Prefix { .. } => "ERR_POLICY_PREFIX",
            PolicyError::Protocol { .. } => "ERR_POLICY_PROTOCOL",
            PolicyError::Ports { .. } => "ERR_POLICY_PORTS",
        }
    }

    /// The rule field at fault: "action", "prefix", "protocol" or "ports".
    pub fn field(&self) -> &'static str {
        match self {
            PolicyError::Action { .. } => "action",
            PolicyError::Prefix { .. } => "prefix",
            PolicyError::Protocol { .. } => "protocol",
            PolicyError::Ports { .. } => "ports",
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::Action { input } => write!(
                f,
                "policy rule action {input:?}: expected \"allow\" or \"deny\""
            ),
            PolicyError::Prefix { input, problem }
            | PolicyError::Protocol { input, problem }
            | PolicyError::Ports { input, problem } => {
                write!(f, "policy rule {} {input:?}: {problem}", self.field())
            }
        }
    }
}

impl std::error::Error for PolicyError {}
