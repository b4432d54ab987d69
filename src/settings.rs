//! The peer settings file: who is where.
//!
//! One node a line, `id address port`, separated by white space, as in the
//! peer-settings seed project. `#` starts a comment and blank lines are
//! ignored. The id `tracker` names the file tracker that every peer joins.
//!
//! ```text
//! # id      address    port
//! tracker   127.0.0.1  5000
//! peer1     127.0.0.1  5001
//! ```

use crate::error::{Error, Result};
use std::net::{IpAddr, SocketAddr};
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

    /// Checks the text of a settings file; `path` is only used in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Settings> {
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
                return Err(error(format!(
                    "expected `id address port`, found {} field(s)",
                    fields.len()
                )));
            };
            let ip: IpAddr = address.parse().map_err(|_| {
                error(format!(
                    "{address:?} is not an IP address (write 127.0.0.1, not a host name)"
                ))
            })?;
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
            nodes.push(Node {
                id: id.to_string(),
                addr: SocketAddr::new(ip, port),
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
            Error::Other(format!(
                "no node {id:?} in the settings file {} ({listed})",
                self.path.display()
            ))
        })
    }

    /// The file tracker's address.
    pub fn tracker(&self) -> Result<SocketAddr> {
        Ok(self.node(TRACKER_ID)?.addr)
    }

    /// The id of the node at `addr`, if the file lists one.
    pub fn id_of(&self, addr: SocketAddr) -> Option<&str> {
        self.nodes
            .iter()
            .find(|node| node.addr == addr)
            .map(|node| node.id.as_str())
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
            return Err(Error::Other(format!(
                "{id_or_addr:?}: the port {port:?} is not a number from 1 to 65535 ({fix})"
            )));
        }
        match std::net::ToSocketAddrs::to_socket_addrs(id_or_addr)
            .ok()
            .and_then(|mut addrs| addrs.next())
        {
            Some(addr) => Ok(addr),
            None => Err(Error::Other(format!(
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn bad_lines_name_the_file_and_line() {
        let cases = [
            ("tracker 127.0.0.1 5000\npeer1 127.0.0.1\n", 2, "field"),
            ("peer1 127.0.0.1 0\n", 1, "port"),
            ("peer1 127.0.0.1 70000\n", 1, "port"),
            ("peer1 127.0.0.1 http\n", 1, "port"),
            ("peer1 localhost 5001\n", 1, "IP address"),
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
