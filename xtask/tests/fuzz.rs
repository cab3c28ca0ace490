//! The fuzz targets' bodies on stable, in every test run: each seed, its truncations and
//! single-byte changes, and every regression input in `fixtures/fuzz/<target>/` go through
//! `xtask::fuzz::entry` without a panic; every target's seeds reach its deep end (accepted all
//! the way) at least once; and the target list matches `fuzz/Cargo.toml`.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, reason = "tests fail loudly")]

use std::path::Path;

fn inputs(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.filter_map(Result::ok).filter(|e| e.path().is_file()).map(|e| std::fs::read(e.path()).unwrap()).collect()
}

#[test]
fn fuzz_bodies_survive_seeds_mutations_and_regressions() {
    let root = xtask::workspace_root();
    for (target, _) in xtask::fuzz::TARGETS {
        let seeds = xtask::fuzz::seeds(&root, target);
        assert!(!seeds.is_empty(), "{target} has no seeds");
        let accepted = seeds.iter().filter(|seed| xtask::fuzz::entry(target, seed)).count();
        assert!(accepted > 0, "no seed of {target} reaches its verifier");
        for seed in &seeds {
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
    assert!(!xtask::fuzz::entry("no-such-target", b"anything"));
}

#[test]
fn the_target_list_matches_the_fuzz_crate() {
    let manifest = std::fs::read_to_string(xtask::workspace_root().join("fuzz/Cargo.toml")).unwrap();
    let mut bins: Vec<&str> =
        manifest.lines().filter_map(|l| l.strip_prefix("name = \"")).map(|l| l.trim_end_matches('"')).collect();
    bins.retain(|b| *b != "agentk-fuzz");
    let mut targets: Vec<&str> = xtask::fuzz::TARGETS.iter().map(|(t, _)| *t).collect();
    bins.sort_unstable();
    targets.sort_unstable();
    assert_eq!(bins, targets);
    for target in targets {
        let source =
            std::fs::read_to_string(xtask::workspace_root().join(format!("fuzz/fuzz_targets/{target}.rs"))).unwrap();
        assert!(source.contains(&format!("xtask::fuzz::entry(\"{target}\", data)")), "{target}");
    }
}
