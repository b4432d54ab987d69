//! The peer settings file: who is where.
//!
//! One node a line, `id address port`, separated by white space, as in the
//! peer-settings system. `#` starts a comment and blank lines are
//! ignored. The id `tracker` names the file tracker that every peer joins.
//!
//! ```text
//! # id      address        port
//! tracker   10.77.0.1      5000
//! peer1     labpc2         5001     # a host name, looked up once at start
//! peer2     [fd00:77::3]   5002     # IPv6, bracketed or bare (fd00:77::3)
//! ```
//!
//! An address is an IP address or a host name. A host name is looked up
//! once, when the file is read, and the node's address is the first one the
//! system's resolver gives (`/etc/hosts`, then DNS, in the order the system
//! prefers: often IPv6 before IPv4 when the name has both). From then on
//! only that IP address is used: file records carry IP addresses, and the
//! tracker compares them with the address a connection comes from. To pick
//! one address of a name that has several, write that address instead.

use crate::error::{Error, Result};
use crate::wire::protocol::Invalid;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

/// The id of the file tracker's line.
pub const TRACKER_ID: &str = "tracker";

/// The settings file used when no `--settings` is given.
pub const DEFAULT_SETTINGS_FILE: &str = "peer_settings.txt";

/// One line of the settings file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    pub addr: SocketAddr,
    /// Its line in the settings file (from 1), for messages about it.
    pub line: usize,
}

/// The whole settings file, in file order.
#[derive(Debug, Clone)]
pub struct Settings {
    pub path: PathBuf,
    pub nodes: Vec<Node>,
}

impl Settings {
    /// Reads and checks a settings file.
    pub fn load(path: &Path) -> Result<Settings> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::io(
                format!("cannot read the settings file {}", path.display()),
                e,
            )
        })?;
        Settings::parse(path, &text)
    }

    /// Checks the text of a settings file, looking host names up with the
    /// system's resolver; `path` is only used in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Settings> {
        Settings::parse_with(path, text, &system_lookup)
    }

    /// Like [`Settings::parse`], with `lookup` turning a host name into its
    /// addresses (tests pass one that never asks the network).
    pub fn parse_with(path: &Path, text: &str, lookup: &Lookup<'_>) -> Result<Settings> {
        let mut nodes: Vec<Node> = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let error = |reason: String| Error::Settings {
                file: path.to_path_buf(),
                line: index + 1,
                reason,
            };
            let content = line.split('#').next().unwrap_or("");
            let fields: Vec<&str> = content.split_whitespace().collect();
            let [id, address, port] = fields.as_slice() else {
                if fields.is_empty() {
                    continue;
                }
                return Err(error(wrong_field_count(&fields)));
            };
            let port = match port.parse::<u16>() {
                Ok(port) if port >= 1 => port,
                _ => {
                    return Err(error(format!(
                        "port {port:?} is not a number from 1 to 65535"
                    )))
                }
            };
            if nodes.iter().any(|node| node.id == *id) {
                return Err(error(format!("the id {id:?} is used twice")));
            }
            // Last, so that a line with another mistake costs no lookup.
            let ip = ip_of(address, lookup).map_err(|Invalid(reason)| error(reason))?;
            nodes.push(Node {
                id: id.to_string(),
                addr: SocketAddr::new(ip, port),
                line: index + 1,
            });
        }
        Ok(Settings {
            path: path.to_path_buf(),
            nodes,
        })
    }

    /// The node with this id.
    pub fn node(&self, id: &str) -> Result<&Node> {
        self.nodes.iter().find(|node| node.id == id).ok_or_else(|| {
            let ids: Vec<&str> = self.nodes.iter().map(|node| node.id.as_str()).collect();
            let listed = if ids.is_empty() {
                "it lists no node".to_string()
            } else {
                format!("its ids: {}", ids.join(", "))
            };
            Error::Unknown(format!(
                "no node {id:?} in the settings file {} ({listed})",
                self.path.display()
            ))
        })
    }

    /// The file tracker's address.
    pub fn tracker(&self) -> Result<SocketAddr> {
        Ok(self.node(TRACKER_ID)?.addr)
    }

    /// Where node `id` is written: `peer_settings.txt, line 3`, for a
    /// message that asks the user to fix it.
    pub fn where_is(&self, id: &str) -> String {
        match self.nodes.iter().find(|node| node.id == id) {
            Some(node) => format!("{}, line {}", self.path.display(), node.line),
            None => self.path.display().to_string(),
        }
    }

    /// The id of the node at `addr`, if the file lists one.
    pub fn id_of(&self, addr: SocketAddr) -> Option<&str> {
        self.nodes
            .iter()
            .find(|node| node.addr == addr)
            .map(|node| node.id.as_str())
    }

    /// The id of the one node of the file at this IP address, if exactly
    /// one is there (a lab, where every machine has its own address).
    pub fn only_id_at(&self, ip: IpAddr) -> Option<&str> {
        let mut there = self.nodes.iter().filter(|node| node.addr.ip() == ip);
        match (there.next(), there.next()) {
            (Some(node), None) => Some(node.id.as_str()),
            _ => None,
        }
    }

    /// Whether any node of the file has this IP address.
    pub fn lists_ip(&self, ip: IpAddr) -> bool {
        self.nodes.iter().any(|node| node.addr.ip() == ip)
    }

    /// Turns what a user typed, a node id or an `ip:port` (or a
    /// `host:port`), into an address.
    pub fn resolve(&self, id_or_addr: &str) -> Result<SocketAddr> {
        if let Ok(addr) = id_or_addr.parse::<SocketAddr>() {
            return Ok(addr);
        }
        let unknown_id = match self.node(id_or_addr) {
            Ok(node) => return Ok(node.addr),
            Err(error) => error,
        };
        // Not an id: was it meant as an address?
        let Some((host, port)) = id_or_addr.rsplit_once(':') else {
            return Err(unknown_id);
        };
        let fix = "write an id from the settings file or ip:port (127.0.0.1:5002, [::1]:5002)";
        if port.parse::<u16>().map_or(true, |port| port == 0) {
            return Err(Error::Unknown(format!(
                "{id_or_addr:?}: the port {port:?} is not a number from 1 to 65535 ({fix})"
            )));
        }
        match std::net::ToSocketAddrs::to_socket_addrs(id_or_addr)
            .ok()
            .and_then(|mut addrs| addrs.next())
        {
            Some(addr) => Ok(addr),
            None => Err(Error::Unknown(format!(
                "{id_or_addr:?}: no machine is called {host:?} ({fix})"
            ))),
        }
    }

    /// `peer1 (127.0.0.1:5001)` when the address has an id, else the address.
    pub fn describe(&self, addr: SocketAddr) -> String {
        match self.id_of(addr) {
            Some(id) => format!("{id} ({addr})"),
            None => addr.to_string(),
        }
    }
}

/// How a host name becomes IP addresses, in the order to prefer them.
pub type Lookup<'a> = dyn Fn(&str) -> io::Result<Vec<IpAddr>> + 'a;

/// The system's resolver (`/etc/hosts`, then DNS), as `ToSocketAddrs` asks
/// it; the port given to it is of no importance.
pub fn system_lookup(name: &str) -> io::Result<Vec<IpAddr>> {
    Ok((name, 0).to_socket_addrs()?.map(|addr| addr.ip()).collect())
}

/// The IP address of an address field: an IP address as it is, IPv6 also
/// in brackets (`[fd00:77::2]`, as URLs write it), or a host name, looked up
/// now with the first address it has.
/// Why a line of `fields` is not `id address port`, with a hint for the
/// usual slip: the port written after a colon (`peer1 127.0.0.1:5001`).
fn wrong_field_count(fields: &[&str]) -> String {
    let count = format!(
        "expected `id address port`, found {} field(s)",
        fields.len()
    );
    match fields {
        [id, address] => match address.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => format!(
                "{count}: write the port after a space, not a colon: `{id} {} {port}`",
                host.trim_start_matches('[').trim_end_matches(']')
            ),
            _ => count,
        },
        _ => count,
    }
}

fn ip_of(address: &str, lookup: &Lookup<'_>) -> std::result::Result<IpAddr, Invalid> {
    if let Ok(ip) = address.parse::<IpAddr>() {
        return Ok(ip);
    }
    if let Some(inside) = address.strip_prefix('[') {
        return match inside.strip_suffix(']').map(str::parse::<Ipv6Addr>) {
            Some(Ok(ip)) => Ok(IpAddr::V6(ip)),
            _ => Err(Invalid(format!(
                "{address:?} is not an IPv6 address in brackets (write it like [fd00:77::2])"
            ))),
        };
    }
    if !is_host_name(address) {
        return Err(Invalid(format!(
            "{address:?} is neither an IP address nor a host name \
             (write an address like 10.77.0.2 or fd00:77::2, or a name like labpc2)"
        )));
    }
    let fix =
        "write the machine's IP address instead, or add the name to /etc/hosts (or the lab's DNS)";
    match lookup(address) {
        Ok(ips) => ips
            .first()
            .copied()
            .ok_or_else(|| Invalid(format!("the host name {address:?} has no address: {fix}"))),
        Err(e) => Err(Invalid(format!(
            "the host name {address:?} cannot be looked up ({e}): {fix}"
        ))),
    }
}

/// Whether `text` has the shape of a host name: letters, digits, `-`, `.`
/// and `_` (which `/etc/hosts` files use, although DNS does not). Anything
/// else is a typo, and is not worth a lookup.
fn is_host_name(text: &str) -> bool {
    !text.is_empty()
        && !text.starts_with(['-', '.'])
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

#[cfg(test)]
mod tests {
    use super::Settings;
    use crate::Result;
    use std::io;
    use std::net::IpAddr;
    use std::path::Path;

    fn parse(text: &str) -> Result<Settings> {
        Settings::parse(Path::new("test_settings.txt"), text)
    }

    #[test]
    fn reads_nodes_comments_and_blank_lines() {
        let text = "# the class network\n\ntracker 127.0.0.1 5000\npeer1\t127.0.0.1   5001 # me\n  peer2 ::1 5002\n";
        let settings = parse(text).unwrap();
        assert_eq!(settings.nodes.len(), 3);
        assert_eq!(
            settings.tracker().unwrap(),
            "127.0.0.1:5000".parse().unwrap()
        );
        assert_eq!(
            settings.node("peer2").unwrap().addr,
            "[::1]:5002".parse().unwrap()
        );
        assert_eq!(
            settings.id_of("127.0.0.1:5001".parse().unwrap()),
            Some("peer1")
        );
        assert_eq!(
            settings.resolve("peer1").unwrap(),
            "127.0.0.1:5001".parse().unwrap()
        );
        assert_eq!(
            settings.resolve("10.0.0.9:7").unwrap(),
            "10.0.0.9:7".parse().unwrap()
        );
    }

    #[test]
    fn a_port_after_a_colon_gets_a_hint() {
        let error = parse("tracker 127.0.0.1:5000\n").unwrap_err().to_string();
        assert!(
            error.contains("found 2 field(s): write the port after a space, not a colon: `tracker 127.0.0.1 5000`"),
            "{error}"
        );
        let error = parse("peer1 [::1]:5001\n").unwrap_err().to_string();
        assert!(error.contains("`peer1 ::1 5001`"), "{error}");
        // Two fields without a port in them get no such hint.
        let error = parse("peer1 127.0.0.1\n").unwrap_err().to_string();
        assert!(!error.contains("colon"), "{error}");
    }

    #[test]
    fn bad_lines_name_the_file_and_line() {
        let cases = [
            ("tracker 127.0.0.1 5000\npeer1 127.0.0.1\n", 2, "field"),
            ("peer1 127.0.0.1 0\n", 1, "port"),
            ("peer1 127.0.0.1 70000\n", 1, "port"),
            ("peer1 127.0.0.1 http\n", 1, "port"),
            (
                "peer1 lab/pc2 5001\n",
                1,
                "neither an IP address nor a host name",
            ),
            ("peer1 [::1 5001\n", 1, "brackets"),
            ("peer1 [10.0.0.1] 5001\n", 1, "brackets"),
            ("peer1 -pc 5001\n", 1, "host name"),
            (
                "# c\npeer1 127.0.0.1 5001\npeer1 127.0.0.1 5002\n",
                3,
                "twice",
            ),
            ("peer1 127.0.0.1 5001 extra\n", 1, "field"),
        ];
        for (text, line, words) in cases {
            let message = parse(text).unwrap_err().to_string();
            assert!(
                message.starts_with(&format!("test_settings.txt, line {line}:")),
                "{message}"
            );
            assert!(message.contains(words), "{message}");
        }
    }

    /// A lookup that knows two names and counts its calls, so the tests
    /// never ask the network.
    fn lab_lookup(calls: &std::cell::Cell<usize>) -> impl Fn(&str) -> io::Result<Vec<IpAddr>> + '_ {
        move |name| {
            calls.set(calls.get() + 1);
            match name {
                "labpc2" => Ok(vec![
                    "10.77.0.2".parse().unwrap(),
                    "fd00:77::2".parse().unwrap(),
                ]),
                "nameless" => Ok(vec![]),
                _ => Err(io::Error::new(io::ErrorKind::NotFound, "no such host")),
            }
        }
    }

    #[test]
    fn ipv4_bare_ipv6_and_bracketed_ipv6_addresses() {
        let text = "tracker 10.77.0.1 5000\npeer1 fd00:77::2 5001\npeer2 [fd00:77::3] 5002\npeer3 [::1] 5003\n";
        let settings = parse(text).unwrap();
        let addrs: Vec<String> = settings.nodes.iter().map(|n| n.addr.to_string()).collect();
        assert_eq!(
            addrs,
            [
                "10.77.0.1:5000",
                "[fd00:77::2]:5001",
                "[fd00:77::3]:5002",
                "[::1]:5003"
            ]
        );
    }

    #[test]
    fn a_host_name_is_looked_up_once_and_its_first_address_kept() {
        let calls = std::cell::Cell::new(0);
        let lookup = lab_lookup(&calls);
        let text = "tracker 10.77.0.1 5000\npeer2 labpc2 5002\n";
        let settings = Settings::parse_with(Path::new("lab.txt"), text, &lookup).unwrap();
        assert_eq!(calls.get(), 1, "one lookup, for the one host name");
        assert_eq!(
            settings.node("peer2").unwrap().addr,
            "10.77.0.2:5002".parse().unwrap()
        );
        // Records carry the IP address: that is what the node is known by.
        assert_eq!(
            settings.id_of("10.77.0.2:5002".parse().unwrap()),
            Some("peer2")
        );
    }

    #[test]
    fn localhost_is_looked_up_with_the_system_resolver() {
        // Every system knows localhost, as 127.0.0.1 or ::1 (either may come first).
        let settings = parse("tracker localhost 5000\n").unwrap();
        let ip = settings.tracker().unwrap().ip();
        assert!(ip.is_loopback(), "localhost is {ip}");
    }

    #[test]
    fn a_host_name_that_does_not_resolve_names_the_file_line_name_and_fix() {
        let calls = std::cell::Cell::new(0);
        let lookup = lab_lookup(&calls);
        for (name, words) in [
            ("labpc9", "cannot be looked up"),
            ("nameless", "has no address"),
        ] {
            let text = format!("tracker 10.77.0.1 5000\npeer9 {name} 5009\n");
            let message = Settings::parse_with(Path::new("lab.txt"), &text, &lookup)
                .unwrap_err()
                .to_string();
            assert!(message.starts_with("lab.txt, line 2: "), "{message}");
            assert!(message.contains(&format!("{name:?}")), "{message}");
            assert!(message.contains(words), "{message}");
            assert!(
                message.contains("IP address instead") && message.contains("/etc/hosts"),
                "the fix: {message}"
            );
        }
        // A line with another mistake is refused without a lookup.
        calls.set(0);
        let bad_port = Settings::parse_with(Path::new("lab.txt"), "peer9 labpc9 0\n", &lookup);
        assert!(bad_port.unwrap_err().to_string().contains("port"));
        assert_eq!(calls.get(), 0);
    }

    #[test]
    fn typed_addresses_say_what_is_wrong_with_them() {
        let settings = parse("tracker 127.0.0.1 5000\npeer1 127.0.0.1 5001\n").unwrap();
        let port = settings.resolve("127.0.0.1:99999").unwrap_err().to_string();
        assert!(
            port.contains("port \"99999\" is not a number from 1"),
            "{port}"
        );
        // (An unknown host name is not tried here: looking it up would ask
        // the machine's name server, off this machine.)
        let local = settings.resolve("localhost:5002").unwrap();
        assert!(local.ip().is_loopback() && local.port() == 5002);
    }

    #[test]
    fn unknown_ids_list_the_known_ones() {
        let settings = parse("tracker 127.0.0.1 5000\npeer1 127.0.0.1 5001\n").unwrap();
        let message = settings.node("peer9").unwrap_err().to_string();
        assert!(
            message.contains("peer9") && message.contains("tracker, peer1"),
            "{message}"
        );
        assert!(parse("peer1 127.0.0.1 5001\n").unwrap().tracker().is_err());
    }
}
