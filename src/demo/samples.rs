//! The demo's sample files, built into the binary.
//!
//! The demo must work whatever state the working tree is in (a student who
//! followed the walkthrough has extra files in `served_files/`) and wherever
//! the binary runs (a checkout that was moved, a copied binary). So it never
//! reads `served_files/` at run time: the files it shows are copied into the
//! binary when it is compiled, from the list below, and written into the
//! demo's own temporary folders. A file a student adds to `served_files/` is
//! not in the list, so it never matters.

/// One sample file: its name and its bytes.
pub type Sample = (&'static str, &'static [u8]);

/// Which files each demo peer starts with: the files shipped in
/// `served_files/peerN/` when the repository was cloned.
pub const SAMPLES: [(&str, &[Sample]); 3] = [
    (
        "peer1",
        &[
            (
                "logo.png",
                include_bytes!("../../served_files/peer1/logo.png"),
            ),
            (
                "notes.txt",
                include_bytes!("../../served_files/peer1/notes.txt"),
            ),
            (
                "syllabus.txt",
                include_bytes!("../../served_files/peer1/syllabus.txt"),
            ),
        ],
    ),
    (
        "peer2",
        &[
            (
                "lecture notes.txt",
                include_bytes!("../../served_files/peer2/lecture notes.txt"),
            ),
            (
                "poem.txt",
                include_bytes!("../../served_files/peer2/poem.txt"),
            ),
        ],
    ),
    (
        "peer3",
        &[
            (
                "data.bin",
                include_bytes!("../../served_files/peer3/data.bin"),
            ),
            (
                "syllabus.txt",
                include_bytes!("../../served_files/peer3/syllabus.txt"),
            ),
        ],
    ),
];

/// The bytes of the sample `name` that `peer` starts with, if it has one.
pub fn sample(peer: &str, name: &str) -> Option<&'static [u8]> {
    SAMPLES
        .iter()
        .filter(|(id, _)| *id == peer)
        .flat_map(|(_, files)| files.iter())
        .find(|(file, _)| *file == name)
        .map(|(_, bytes)| *bytes)
}

#[cfg(test)]
mod tests {
    use super::{sample, SAMPLES};

    #[test]
    fn every_peer_has_samples_and_the_two_syllabus_copies_agree() {
        for (peer, files) in SAMPLES {
            assert!(!files.is_empty(), "{peer} has no sample");
        }
        assert_eq!(
            sample("peer1", "syllabus.txt"),
            sample("peer3", "syllabus.txt")
        );
        assert!(sample("peer2", "notes.txt").is_none());
    }
}
