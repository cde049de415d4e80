//! The one pass over a text's bytes: runs of ASCII letters looked up (case-folded) in a
//! [`WordSet`] of short words (the first words of pupils' forenames, of special-category terms,
//! of DOB labels), runs of ASCII digits, and where the first non-ASCII byte is.
//!
//! A detector that needs a list of words to start on asks this pass where they stand instead
//! of stepping an automaton byte by byte: each 64-byte block is loaded once into three masks
//! (letters, digits, non-ASCII), and each letter run costs one multiply and a bit test or two
//! (a Bloom filter) before any hash lookup. The cost follows the text's length and word
//! count, not the size of the list, so a roster of a million pupils costs about what a roster
//! of two thousand does. Words with non-ASCII letters are not runs of this pass; the detectors
//! that care look for them on their own, from the first non-ASCII byte on.

use rustc_hash::FxHashMap;

/// A set of ASCII words, each with flag bits saying which detector wants it.
pub struct WordSet {
    /// Two bits per word, from the two halves of one hash; sized to the set (about 16 bits a
    /// word), so a big roster's forenames stay as selective as a small one's.
    bloom: Box<[u64]>,
    bloom_bits: u32,
    short: FxHashMap<u128, u8>,
    long: FxHashMap<Box<[u8]>, u8>,
    max_len: usize,
}

/// The smallest and largest Bloom filters: 8 KiB, 4 MiB.
const MIN_BLOOM_BITS: u32 = 16;
const MAX_BLOOM_BITS: u32 = 25;

impl Default for WordSet {
    fn default() -> Self {
        WordSet {
            bloom: vec![0u64; 1 << (MIN_BLOOM_BITS - 6)].into_boxed_slice(),
            bloom_bits: MIN_BLOOM_BITS,
            short: FxHashMap::default(),
            long: FxHashMap::default(),
            max_len: 0,
        }
    }
}

/// `KEEP[n]`: the low n bytes of a u128 set.
const KEEP: [u128; 17] = {
    let mut k = [0u128; 17];
    let mut n = 1;
    while n <= 16 {
        k[n] = u128::MAX >> (8 * (16 - n));
        n += 1;
    }
    k
};

/// The folded key of a word of at most 16 bytes: its bytes with the ASCII case bit set, in a
/// u128 (padding bytes are 0, which no folded byte is).
#[inline]
fn short_key(word: &[u8]) -> u128 {
    debug_assert!(word.len() <= 16);
    let mut buf = [0u8; 16];
    buf[..word.len()].copy_from_slice(word);
    (u128::from_le_bytes(buf) | u128::from_le_bytes([0x20; 16])) & KEEP[word.len()]
}

/// The two Bloom filter bits of a key, for a filter of 2^`bits` bits.
#[inline]
fn bloom_indexes(key: u128, bits: u32) -> (usize, usize) {
    let h =
        ((key as u64) ^ ((key >> 64) as u64).rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let a = (h >> (64 - bits)) as usize;
    let b = ((h >> 7) & ((1 << bits) - 1)) as usize;
    (a, b)
}

fn folded(word: &[u8]) -> Box<[u8]> {
    word.iter().map(|b| b | 0x20).collect()
}

impl WordSet {
    /// Adds a word (ASCII letters, any case) with `flag`. Anything else is not a word of this
    /// set: false.
    pub fn insert(&mut self, word: &str, flag: u8) -> bool {
        let w = word.as_bytes();
        if w.is_empty() || !w.iter().all(u8::is_ascii_alphabetic) {
            return false;
        }
        self.max_len = self.max_len.max(w.len());
        if w.len() <= 16 {
            let k = short_key(w);
            *self.short.entry(k).or_insert(0) |= flag;
            let wanted = (self.short.len() * 16)
                .next_power_of_two()
                .trailing_zeros()
                .clamp(MIN_BLOOM_BITS, MAX_BLOOM_BITS);
            if wanted > self.bloom_bits {
                self.rebuild_bloom(wanted);
            } else {
                self.set_bloom(k);
            }
        } else {
            *self.long.entry(folded(w)).or_insert(0) |= flag;
        }
        true
    }

    fn set_bloom(&mut self, k: u128) {
        let (a, b) = bloom_indexes(k, self.bloom_bits);
        self.bloom[a >> 6] |= 1 << (a & 63);
        self.bloom[b >> 6] |= 1 << (b & 63);
    }

    /// A filter of 2^`bits` bits holding every short word (grown as words are added; the
    /// doubling keeps the total work linear).
    fn rebuild_bloom(&mut self, bits: u32) {
        self.bloom_bits = bits;
        self.bloom = vec![0u64; 1 << (bits - 6)].into_boxed_slice();
        let keys: Vec<u128> = self.short.keys().copied().collect();
        for k in keys {
            self.set_bloom(k);
        }
    }

    /// The flags of a word (any bytes, any case); 0 when it is not in the set.
    #[inline]
    pub fn get(&self, word: &[u8]) -> u8 {
        if word.is_empty() {
            return 0;
        }
        self.get_at(word, 0, word.len())
    }

    /// The flags of the word `text[s..e]` (not empty). A short word is loaded in one 16-byte
    /// read from the whole text; the rest (long words, the last bytes of a text) go the slow
    /// way, kept out of line so this stays small enough to inline into the word pass.
    #[inline(always)]
    fn get_at(&self, text: &[u8], s: usize, e: usize) -> u8 {
        let len = e - s;
        let Some(w) = text.get(s..s + 16).filter(|_| len <= 16) else {
            return self.get_slow(&text[s..e]);
        };
        let w = u128::from_le_bytes(w.try_into().expect("16 bytes"));
        self.get_short((w | u128::from_le_bytes([0x20; 16])) & KEEP[len])
    }

    #[inline(always)]
    fn get_short(&self, k: u128) -> u8 {
        let (a, b) = bloom_indexes(k, self.bloom_bits);
        if self.bloom[a >> 6] & (1 << (a & 63)) == 0 || self.bloom[b >> 6] & (1 << (b & 63)) == 0 {
            return 0;
        }
        self.short.get(&k).copied().unwrap_or(0)
    }

    #[cold]
    #[inline(never)]
    fn get_slow(&self, word: &[u8]) -> u8 {
        if word.len() > self.max_len {
            0
        } else if word.len() <= 16 {
            self.get_short(short_key(word))
        } else {
            self.long.get(&folded(word)).copied().unwrap_or(0)
        }
    }

    /// Calls `f(start, end, flags)` for every run of ASCII letters in `text` that is in the
    /// set, in order.
    pub fn hits(&self, text: &[u8], f: impl FnMut(usize, usize, u8)) {
        if self.max_len == 0 {
            return;
        }
        self.scan(text, f, |_, _| {});
    }

    /// [`Self::hits`], and in the same pass `digit(start, end)` for every run of ASCII digits;
    /// returns where the first non-ASCII byte is, if any.
    pub fn scan(
        &self,
        text: &[u8],
        f: impl FnMut(usize, usize, u8),
        digit: impl FnMut(usize, usize),
    ) -> Option<usize> {
        scan_runs(text, &mut Lookup { set: self, text, f }, &mut Call(digit))
    }
}

/// What is done with each run of a pass; always inlined into the pass's loop.
trait OnRun {
    fn run(&mut self, start: usize, end: usize);
}

/// A closure called for each run.
struct Call<F>(F);

impl<F: FnMut(usize, usize)> OnRun for Call<F> {
    #[inline(always)]
    fn run(&mut self, start: usize, end: usize) {
        (self.0)(start, end)
    }
}

/// Each letter run looked up in a word set; `f` called for those in it.
struct Lookup<'a, F> {
    set: &'a WordSet,
    text: &'a [u8],
    f: F,
}

impl<F: FnMut(usize, usize, u8)> OnRun for Lookup<'_, F> {
    #[inline(always)]
    fn run(&mut self, start: usize, end: usize) {
        let flags = self.set.get_at(self.text, start, end);
        if flags != 0 {
            (self.f)(start, end, flags);
        }
    }
}

/// For one 64-byte block, bit i set when byte i is: an ASCII letter, an ASCII digit, not ASCII.
struct Masks {
    letters: u64,
    digits: u64,
    high: u64,
}

/// [`Masks`] of a whole 64-byte block (SSE2, which every x86-64 CPU has: 16 bytes a step).
#[cfg(target_arch = "x86_64")]
#[inline]
fn block_masks(chunk: &[u8; 64]) -> Masks {
    use std::arch::x86_64::*;
    let (mut letters, mut digits, mut high) = (0u64, 0u64, 0u64);
    for k in 0..4 {
        // SAFETY: SSE2 is part of x86-64, so these instructions always exist; the 16 bytes
        // read are inside `chunk` (k * 16 + 16 <= 64), with an unaligned load.
        let (l, d, h) = unsafe {
            let v = _mm_loadu_si128(chunk.as_ptr().add(k * 16) as *const __m128i);
            // c - lo < n, unsigned: a signed compare once lo is moved to -128.
            let in_range = |v: __m128i, lo: u8, n: i8| {
                let shifted = _mm_add_epi8(v, _mm_set1_epi8(128u8.wrapping_sub(lo) as i8));
                _mm_movemask_epi8(_mm_cmplt_epi8(shifted, _mm_set1_epi8(-128 + n)))
            };
            (
                in_range(_mm_or_si128(v, _mm_set1_epi8(0x20)), b'a', 26),
                in_range(v, b'0', 10),
                _mm_movemask_epi8(v),
            )
        };
        letters |= (l as u16 as u64) << (16 * k);
        digits |= (d as u16 as u64) << (16 * k);
        high |= (h as u16 as u64) << (16 * k);
    }
    Masks {
        letters,
        digits,
        high,
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn block_masks(chunk: &[u8; 64]) -> Masks {
    masks(chunk)
}

/// [`Masks`] of up to 64 bytes, a byte at a time.
#[inline]
fn masks(chunk: &[u8]) -> Masks {
    let (mut letters, mut digits, mut high) = (0u64, 0u64, 0u64);
    for (i, &c) in chunk.iter().enumerate() {
        letters |= (((c | 0x20).wrapping_sub(b'a') < 26) as u64) << i;
        digits |= ((c.wrapping_sub(b'0') < 10) as u64) << i;
        high |= ((c >= 0x80) as u64) << i;
    }
    Masks {
        letters,
        digits,
        high,
    }
}

/// The runs of one class of byte across blocks: where the open run started, and whether the
/// last byte of the previous block was in the class.
#[derive(Default)]
struct Runs {
    start: usize,
    carry: u64,
}

impl Runs {
    /// Reports every run of `m` (the class mask of the block at `base`) that ends in it.
    #[inline(always)]
    fn block(&mut self, m: u64, base: usize, f: &mut impl OnRun) {
        let prev = (m << 1) | self.carry;
        let mut edges = m ^ prev;
        while edges != 0 {
            let i = edges.trailing_zeros() as usize;
            edges &= edges - 1;
            if m & (1 << i) != 0 {
                self.start = base + i;
            } else {
                f.run(self.start, base + i);
            }
        }
        self.carry = m >> 63;
    }

    /// A run reaching the end of a text that fills its last block.
    fn end(&self, len: usize, f: &mut impl OnRun) {
        if len % 64 == 0 && self.carry == 1 {
            f.run(self.start, len);
        }
    }
}

/// One pass over `text`: `letter(start, end)` for every maximal run of ASCII letters,
/// `digit(start, end)` for every maximal run of ASCII digits, each in order; returns where
/// the first non-ASCII byte is, if any.
pub fn runs(
    text: &[u8],
    letter: impl FnMut(usize, usize),
    digit: impl FnMut(usize, usize),
) -> Option<usize> {
    scan_runs(text, &mut Call(letter), &mut Call(digit))
}

#[inline(always)]
fn scan_runs(text: &[u8], letter: &mut impl OnRun, digit: &mut impl OnRun) -> Option<usize> {
    let (mut letters, mut digits) = (Runs::default(), Runs::default());
    let mut first_high = None;
    let mut base = 0usize;
    for chunk in text.chunks(64) {
        let m = if let Ok(c) = <&[u8; 64]>::try_from(chunk) {
            block_masks(c)
        } else {
            masks(chunk)
        };
        if m.high != 0 && first_high.is_none() {
            first_high = Some(base + m.high.trailing_zeros() as usize);
        }
        letters.block(m.letters, base, letter);
        if (m.digits | digits.carry) != 0 {
            digits.block(m.digits, base, digit);
        }
        base += chunk.len();
    }
    letters.end(text.len(), letter);
    digits.end(text.len(), digit);
    first_high
}

/// Calls `f(start, end)` for every maximal run of ASCII letters in `text`, in order.
pub fn letter_runs(text: &[u8], f: impl FnMut(usize, usize)) {
    runs(text, f, |_, _| {});
}

/// The maximal runs of ASCII digits in `text`, in order.
pub fn digit_runs(text: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    runs(text, |_, _| {}, |s, e| out.push((s, e)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letters(t: &str) -> Vec<&str> {
        let mut v = Vec::new();
        letter_runs(t.as_bytes(), |s, e| v.push(&t[s..e]));
        v
    }

    fn runs_reference(t: &[u8], class: fn(&u8) -> bool) -> Vec<(usize, usize)> {
        let mut v = Vec::new();
        let mut i = 0;
        while i < t.len() {
            if class(&t[i]) {
                let s = i;
                while i < t.len() && class(&t[i]) {
                    i += 1;
                }
                v.push((s, i));
            } else {
                i += 1;
            }
        }
        v
    }

    #[test]
    fn letter_runs_of_a_text() {
        assert_eq!(
            letters("Olivia Smith's 12 books"),
            ["Olivia", "Smith", "s", "books"]
        );
        assert_eq!(letters("Zoë"), ["Zo"]);
        assert_eq!(letters(""), Vec::<&str>::new());
        let long = "a".repeat(64);
        assert_eq!(letters(&long), [long.as_str()]);
        let t = format!("{} {}", "x".repeat(63), "y".repeat(70));
        assert_eq!(letters(&t).len(), 2);
        let t = format!("{} 2013-03-12 {}", "x".repeat(60), "9".repeat(64));
        assert_eq!(
            digit_runs(t.as_bytes()),
            [(61, 65), (66, 68), (69, 71), (72, 136)]
        );
    }

    proptest::proptest! {
        #[test]
        fn runs_agree_with_the_reference(t in proptest::collection::vec(
            proptest::sample::select(vec![
                b'a', b'Z', b' ', b'1', b'0', b'9', b'/', b':', b'@', b'[', b'`', b'{', 0xc3, 0xa9,
            ]),
            0..300,
        )) {
            let (mut l, mut d) = (Vec::new(), Vec::new());
            let high = runs(&t, |s, e| l.push((s, e)), |s, e| d.push((s, e)));
            proptest::prop_assert_eq!(l, runs_reference(&t, u8::is_ascii_alphabetic));
            proptest::prop_assert_eq!(d, runs_reference(&t, u8::is_ascii_digit));
            proptest::prop_assert_eq!(high, t.iter().position(|&c| c >= 0x80));
        }
    }

    #[test]
    fn a_big_set_grows_its_filter_and_keeps_every_word() {
        let mut set = WordSet::default();
        let words: Vec<String> = (0..50_000u32)
            .map(|i| {
                let mut w = String::new();
                let mut n = i;
                for _ in 0..5 {
                    w.push((b'a' + (n % 26) as u8) as char);
                    n /= 26;
                }
                w
            })
            .collect();
        for w in &words {
            set.insert(w, 1);
        }
        assert!(set.bloom_bits > MIN_BLOOM_BITS);
        assert!(
            words
                .iter()
                .all(|w| set.get(w.to_uppercase().as_bytes()) == 1)
        );
        assert_eq!(set.get(b"zzzzzz"), 0);
    }

    #[test]
    fn lookup_is_case_folded_and_exact() {
        let mut set = WordSet::default();
        assert!(set.insert("Olivia", 1));
        assert!(set.insert("olivia", 2));
        assert!(set.insert("Maximilianalexander", 1));
        assert!(!set.insert("Zoë", 1));
        assert!(!set.insert("", 1));
        assert_eq!(set.get(b"OLIVIA"), 3);
        assert_eq!(set.get(b"olivi"), 0);
        assert_eq!(set.get(b"olivias"), 0);
        assert_eq!(set.get(b"MAXIMILIANALEXANDER"), 1);
        // Bytes that are not letters never fold onto one.
        assert_eq!(set.get(b"oliv\x09a"), 0);
        assert_eq!(set.get(b"@livia"), 0);
        // The same word read from inside a longer text (a 16-byte load past its end).
        let t = b"xx Olivia and more text after it";
        assert_eq!(set.get_at(t, 3, 9), 3);
        assert_eq!(set.get_at(t, 3, 8), 0);
        let mut hits = Vec::new();
        set.hits(b"Dear Olivia, olivia2 and xolivia", |s, e, f| {
            hits.push((s, e, f))
        });
        assert_eq!(hits, [(5, 11, 3), (13, 19, 3)]);
    }
}
