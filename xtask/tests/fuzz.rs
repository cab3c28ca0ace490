//! The fuzz targets' bodies on stable, in every test run: each seed, its truncations and
//! single-byte changes, and every regression input in `fixtures/fuzz/<target>/` go through
//! `xtask::fuzz::entry` without a panic.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, reason = "tests fail loudly")]

use std::path::Path;

fn inputs(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.filter_map(Result::ok).filter(|e| e.path().is_file()).map(|e| std::fs::read(e.path()).unwrap()).collect()
}

#[test]
fn fuzz_bodies_survive_seeds_mutations_and_regressions() {
    let root = xtask::workspace_root();
    for (target, dirs) in xtask::fuzz::TARGETS {
        let mut seeds: Vec<Vec<u8>> = dirs.iter().flat_map(|d| inputs(&root.join(d))).collect();
        assert!(!seeds.is_empty(), "{target} has no seeds");
        // Log files also seed one line each.
        let lines: Vec<Vec<u8>> =
            seeds.iter().flat_map(|s| s.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect::<Vec<_>>()).collect();
        seeds.extend(lines);
        for seed in &seeds {
            xtask::fuzz::entry(target, seed);
            let step = (seed.len() / 16).max(1);
            for cut in (0..seed.len()).step_by(step) {
                xtask::fuzz::entry(target, &seed[..cut]);
                let mut changed = seed.clone();
                changed[cut] ^= 0x20;
                xtask::fuzz::entry(target, &changed);
            }
        }
        for regression in inputs(&root.join("fixtures/fuzz").join(target)) {
            xtask::fuzz::entry(target, &regression);
        }
    }
}
