//! A small stand-in for libFuzzer on the stable toolchain: a target's seed corpus, then inputs
//! that are random or mutated from the seeds, all from a fixed seed so every run (and every CI
//! machine) tries the same inputs. A failure names the input, to be kept in the corpus.

use std::panic::{catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};

/// Runs `property` over the seeds of `target`, then `iterations` generated inputs (or
/// `FUZZ_SMOKE_ITERATIONS` of them when set). Returns how many inputs it ran.
pub fn run(target: &str, property: fn(&[u8]), iterations: usize) -> usize {
    let iterations = std::env::var("FUZZ_SMOKE_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(iterations);
    let seeds = seeds(target);
    let mut rng = Rng::for_target(target);
    let mut runs = 0;
    let mut input = Vec::new();
    for i in 0..seeds.len() + iterations {
        input.clear();
        match seeds.get(i) {
            Some(seed) => input.extend_from_slice(seed),
            None if rng.below(4) == 0 => random(&mut rng, &mut input),
            None => {
                input.extend_from_slice(&seeds[rng.below(seeds.len())]);
                for _ in 0..=rng.below(4) {
                    mutate(&mut rng, &mut input, &seeds);
                }
            }
        }
        if let Err(panic) = catch_unwind(|| property(&input)) {
            eprintln!(
                "fuzz target {target} failed on b\"{}\" (keep it as a file in fuzz/corpus/{target}/)",
                input.escape_ascii()
            );
            resume_unwind(panic);
        }
        runs += 1;
    }
    runs
}

/// The seed corpus, in name order: `fuzz/corpus/<target>/`, found from either crate that
/// compiles this file (the fuzz crate itself, or the http crate's smoke test).
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir: PathBuf = [manifest.join("corpus"), manifest.join("../../fuzz/corpus")]
        .into_iter()
        .map(|root| root.join(target))
        .find(|dir| dir.is_dir())
        .unwrap_or_else(|| panic!("no seed corpus fuzz/corpus/{target}/"));
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    let seeds: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect();
    assert!(!seeds.is_empty(), "{} holds no seeds", dir.display());
    seeds
}

/// Pieces that parsers of this product care about: separators, units, limits, Unicode that
/// trims, folds or counts differently, JSON and TOML punctuation.
const TOKENS: &[&str] = &[
    " ",
    "\t",
    "\n",
    "\r\n",
    "\0",
    "\u{7}",
    "\u{85}",
    "\u{a0}",
    "\u{2028}",
    "\u{feff}",
    "\u{200b}",
    "é",
    "İ",
    "ß",
    "\u{212a}",
    "Σ",
    "ﬃ",
    "\u{1f600}",
    "\u{fffd}",
    "@",
    ".",
    "-",
    "+",
    "_",
    ",",
    ":",
    "/",
    "=",
    "'",
    "\"",
    "\\",
    "{",
    "}",
    "[",
    "]",
    "0",
    "1",
    "9",
    "00",
    "-0",
    "1e3",
    "1e400",
    "255",
    "256",
    "300",
    "65536",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "18446744073709551615",
    "999999999999999999",
    "1000000000000000000",
    "d",
    "h",
    "m",
    "s",
    "w",
    "ms",
    "us",
    "ns",
    "y",
    "M",
    "years",
    "months",
    "T",
    "Z",
    "z",
    "t",
    "+00:00",
    "-23:59",
    "60",
    "9999",
    "0000",
    "null",
    "true",
    "false",
    "[[",
    "\"\"\"",
    "'''",
    "\\u0000",
    "\\ud800",
    "\\udc00",
    "http://",
    "https://",
    "sqlite://",
    "postgres://",
    "RAPPORT_",
    "=\"",
    "\"\n",
];

fn random(rng: &mut Rng, out: &mut Vec<u8>) {
    let len = rng.below(80);
    while out.len() < len {
        match rng.below(10) {
            0..=4 => out.push(b' ' + rng.below(95) as u8),
            5 | 6 => out.extend_from_slice(TOKENS[rng.below(TOKENS.len())].as_bytes()),
            _ => out.push(rng.next() as u8),
        }
    }
}

/// One libFuzzer-style mutation: flip, set, insert or delete bytes, insert a token, copy a
/// chunk, splice in another seed, or cut the end.
fn mutate(rng: &mut Rng, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    const MAX_LEN: usize = 4096;
    let at = rng.below(input.len() + 1);
    match rng.below(9) {
        0 if at < input.len() => input[at] ^= 1 << rng.below(8),
        1 if at < input.len() => {
            input[at] = *b"\0\x7f\x80\xff09 \n-."
                .get(rng.below(20))
                .unwrap_or(&(rng.next() as u8))
        }
        2 => input.insert(at, rng.next() as u8),
        3 if at < input.len() => {
            let end = (at + 1 + rng.below(8)).min(input.len());
            input.drain(at..end);
        }
        4 | 5 => {
            let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
            input.splice(at..at, token.iter().copied());
        }
        6 if at < input.len() => {
            let end = (at + 1 + rng.below(16)).min(input.len());
            let chunk = input[at..end].to_vec();
            let to = rng.below(input.len() + 1);
            input.splice(to..to, chunk);
        }
        7 => {
            let other = &seeds[rng.below(seeds.len())];
            let from = rng.below(other.len() + 1);
            input.truncate(at);
            input.extend_from_slice(&other[from..]);
        }
        _ => input.truncate(at),
    }
    input.truncate(MAX_LEN);
}

/// splitmix64: tiny, good enough for picking mutations, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn for_target(target: &str) -> Rng {
        // FNV-1a of the name: each target its own fixed sequence.
        let seed = target.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
