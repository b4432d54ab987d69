//! Which of a peer's files it announces to the tracker.
//!
//! The protocol lets a join carry five records at most, but a folder may
//! hold more. Which five? By default the first five in name order. But a
//! file that just arrived (downloaded, fetched, published, uploaded to us)
//! must always be among them: a peer that received a file and cannot be
//! found holding it is the surprise this rule prevents. And a student may
//! choose the five (`announce NAME ...` in the shell).
//!
//! So the peer keeps a short list of *pinned* names, newest first: files
//! that arrived, or that the user chose. The five announced are the pinned
//! names that are still shared, then the rest in name order.

use crate::lock;
use crate::wire::protocol::MAX_RECORDS_PER_JOIN;
use std::sync::{Arc, Mutex};

/// The pinned names, shared by the peer (which pins) and its tracker
/// session (which chooses at each join). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Pins(Arc<Mutex<Vec<String>>>);

impl Pins {
    /// Pins a file that just arrived: it goes first, and the oldest pin
    /// beyond five is dropped. Returns the name that this pushes out of the
    /// announced five, if any, given the folder's `shared` names.
    pub fn arrived(&self, name: &str, shared: &[String]) -> Option<String> {
        let mut pins = lock(&self.0);
        // What was announced before the file came: the same folder without it.
        let without: Vec<String> = shared.iter().filter(|n| *n != name).cloned().collect();
        let before = choose(&without, &pins);
        pins.retain(|pinned| pinned != name);
        pins.insert(0, name.to_string());
        pins.truncate(MAX_RECORDS_PER_JOIN);
        let after = choose(shared, &pins);
        before.into_iter().find(|old| !after.contains(old))
    }

    /// Pins exactly `names` (the user chose them), in that order.
    pub fn choose(&self, names: &[String]) {
        *lock(&self.0) = names.to_vec();
    }

    /// The announced five for a folder sharing `shared` (in name order).
    pub fn announced(&self, shared: &[String]) -> Vec<String> {
        choose(shared, &lock(&self.0))
    }
}

/// The announced names: the pinned ones still shared, then the others in
/// the order of `shared`, five at most. Pure, so it is tested alone.
pub fn choose(shared: &[String], pinned: &[String]) -> Vec<String> {
    let mut chosen: Vec<String> = pinned
        .iter()
        .filter(|name| shared.contains(name))
        .take(MAX_RECORDS_PER_JOIN)
        .cloned()
        .collect();
    for name in shared {
        if chosen.len() == MAX_RECORDS_PER_JOIN {
            break;
        }
        if !chosen.contains(name) {
            chosen.push(name.clone());
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::{choose, Pins};

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn without_pins_the_first_five_in_name_order() {
        let shared = names(&["a", "b", "c", "d", "e", "f", "g"]);
        assert_eq!(choose(&shared, &[]), names(&["a", "b", "c", "d", "e"]));
        assert_eq!(choose(&names(&["a"]), &[]), names(&["a"]));
    }

    #[test]
    fn pinned_files_come_first_and_gone_ones_are_skipped() {
        let shared = names(&["a", "b", "c", "d", "e", "z"]);
        assert_eq!(
            choose(&shared, &names(&["z", "deleted"])),
            names(&["z", "a", "b", "c", "d"])
        );
    }

    #[test]
    fn an_arrival_is_always_announced_and_says_what_it_pushed_out() {
        let pins = Pins::default();
        let mut shared = names(&["a", "b", "c", "d", "e"]);
        shared.push("z".into());
        assert_eq!(pins.arrived("z", &shared), Some("e".to_string()));
        assert!(pins.announced(&shared).contains(&"z".to_string()));
        // Five more arrivals: each one announced, the oldest pin dropped.
        for name in ["v", "w", "x", "y", "u"] {
            shared.push(name.into());
            shared.sort();
            pins.arrived(name, &shared);
            assert!(pins.announced(&shared).contains(&name.to_string()));
        }
        assert!(!pins.announced(&shared).contains(&"z".to_string()));
    }

    #[test]
    fn an_arrival_into_a_full_five_says_which_file_it_pushed_out() {
        // The folder as scanned after the arrival already holds the file.
        let pins = Pins::default();
        let shared = names(&["a", "b", "c", "d", "e", "f"]);
        assert_eq!(pins.arrived("f", &shared), Some("e".to_string()));
        // A second arrival pushes out the next one in name order.
        let shared = names(&["a", "b", "c", "d", "e", "f", "g"]);
        assert_eq!(pins.arrived("g", &shared), Some("d".to_string()));
    }

    #[test]
    fn an_arrival_among_few_files_pushes_nothing_out() {
        let pins = Pins::default();
        assert_eq!(pins.arrived("b", &names(&["a", "b"])), None);
    }

    #[test]
    fn the_user_may_choose_the_five() {
        let pins = Pins::default();
        let shared = names(&["a", "b", "c", "d", "e", "f"]);
        pins.choose(&names(&["f"]));
        assert_eq!(pins.announced(&shared), names(&["f", "a", "b", "c", "d"]));
    }
}
