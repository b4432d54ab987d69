//! Test data: fixed byte patterns for the files the tests share, and the
//! seeded generator (xorshift64*) the fuzz tests draw their inputs from.
//! Both give the same bytes on every run, so a failure can be replayed.

/// `len` bytes of a deterministic, non-repeating-looking pattern.
pub fn pattern_bytes(len: usize) -> Vec<u8> {
    let mut state: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (state >> 16) as u8
        })
        .collect()
}

/// Printable text of `len` bytes (for files students would look at).
pub fn text_bytes(len: usize) -> Vec<u8> {
    let line = b"The quick brown fox jumps over the lazy dog. 0123456789\n";
    line.iter().copied().cycle().take(len).collect()
}

/// Every byte value 0..=255, several times over, then a ragged tail:
/// 256 * 4 + 37 = 1061 bytes.
pub fn all_byte_values() -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..4).flat_map(|_| 0..=255u8).collect();
    bytes.extend((0..37u8).rev());
    bytes
}

/// Every keyword of the protocol, in a fixed order: what the fuzz tests'
/// token soups start from.
pub const PROTOCOL_WORDS: [&str; 16] = [
    "HELLO",
    "HI",
    "SEARCH:",
    "FOUND:",
    "NOT FOUND",
    "BYE",
    "ERROR:",
    "DOWNLOAD:",
    "LIST",
    "FILES:",
    "UPLOAD:",
    "READY",
    "DONE",
    "PING",
    "PONG",
    "FILE: ",
];

/// The fuzz seed when `P2P_FUZZ_SEED` is not set: fixed, so CI runs the same
/// cases every time.
pub const DEFAULT_FUZZ_SEED: u64 = 0x5EED_2026_0004;

/// The fuzz seed of this run: `P2P_FUZZ_SEED` (decimal, or hex with `0x`),
/// else `DEFAULT_FUZZ_SEED`.
pub fn fuzz_seed() -> u64 {
    let Ok(text) = std::env::var("P2P_FUZZ_SEED") else {
        return DEFAULT_FUZZ_SEED;
    };
    let text = text.trim();
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.unwrap_or_else(|_| panic!("P2P_FUZZ_SEED={text:?} is not a number"))
}

/// xorshift64* (Vigna): tiny, fast, and good enough to pick test inputs.
/// The same seed always gives the same stream, so a failure can be replayed.
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng::mixed(seed.wrapping_add(0x9E37_79B9_7F4A_7C15))
    }

    /// A generator for case `case` of a run with `seed`: every case has its
    /// own stream, so cases run in any order (and in parallel) reproducibly.
    pub fn for_case(seed: u64, case: u64) -> Rng {
        Rng::mixed(seed ^ case.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// Mixes `z` into a state (splitmix64's finaliser): the state must never
    /// be 0, and nearby seeds (1, 2, 3...) must start far apart.
    fn mixed(mut z: u64) -> Rng {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(z.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `1 / n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// `lo..=hi` random bytes.
    pub fn bytes(&mut self, lo: usize, hi: usize) -> Vec<u8> {
        let len = self.range(lo, hi);
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// A number of any size: small ones are common, huge ones too.
    pub fn number(&mut self) -> u64 {
        match self.below(5) {
            0 => self.below(10) as u64,
            1 => self.below(100_000) as u64,
            2 => self.next() >> self.below(64),
            3 => u64::MAX - self.below(3) as u64,
            _ => 1_000_000_000_000_000_000,
        }
    }
}
