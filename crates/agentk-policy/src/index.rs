//! The evaluation index: for each syscall, the rules that can match it, split by whether the
//! target's literal prefix can rule them out.
//!
//! A rule whose every target pattern starts with a literal (`https://api.example.invalid/*`)
//! can only match targets that start with one of those literals, so it is filed under them;
//! the rest ("open" rules) are scanned in order. Finding the first match then costs one ordered
//! scan of the open rules plus one map look-up per distinct prefix length, instead of a scan of
//! every rule. A property test checks the result against a naive evaluator.

use std::collections::BTreeMap;

use agentk_labels::Syscall;

use crate::eval::Probe;
use crate::model::Rule;

#[derive(Clone, Debug, Default)]
struct SyscallIndex {
    /// Rules any target might match, in policy order.
    open: Vec<usize>,
    /// Rules filed under each literal target prefix, in policy order.
    by_prefix: BTreeMap<Box<[u8]>, Vec<usize>>,
    /// The distinct prefix lengths in `by_prefix`, ascending.
    prefix_lens: Vec<usize>,
}

/// Per-syscall rule index.
#[derive(Clone, Debug, Default)]
pub(crate) struct RuleIndex {
    per_syscall: Vec<SyscallIndex>,
}

impl RuleIndex {
    pub(crate) fn new(rules: &[Rule]) -> Self {
        let per_syscall = Syscall::ALL
            .iter()
            .map(|syscall| {
                let mut index = SyscallIndex::default();
                for (i, rule) in rules.iter().enumerate() {
                    if rule.syscall_table & syscall.bit() == 0 {
                        continue;
                    }
                    let prefixes: Option<Vec<&[u8]>> = rule.when.targets().and_then(|patterns| {
                        patterns
                            .iter()
                            .map(|p| Some(p.literal_prefix().as_bytes()).filter(|prefix| !prefix.is_empty()))
                            .collect()
                    });
                    match prefixes {
                        None => index.open.push(i),
                        Some(prefixes) => {
                            for prefix in prefixes {
                                let list = index.by_prefix.entry(prefix.into()).or_default();
                                if list.last() != Some(&i) {
                                    list.push(i);
                                }
                            }
                        }
                    }
                }
                let mut lens: Vec<usize> = index.by_prefix.keys().map(|k| k.len()).collect();
                lens.sort_unstable();
                lens.dedup();
                index.prefix_lens = lens;
                index
            })
            .collect();
        RuleIndex { per_syscall }
    }

    /// The first rule, in policy order, that matches.
    pub(crate) fn first_match<'r>(&self, rules: &'r [Rule], probe: &Probe<'_>) -> Option<&'r Rule> {
        let index = self.per_syscall.get(probe.syscall.index())?;
        let hit = |i: &usize| rules.get(*i).is_some_and(|r| r.matches(probe));
        // The earliest open hit bounds the search among prefixed rules.
        let mut best = index.open.iter().copied().find(|i| hit(i));
        let bytes = probe.target.as_bytes();
        for &len in index.prefix_lens.iter().take_while(|&&len| len <= bytes.len()) {
            let Some(list) = bytes.get(..len).and_then(|prefix| index.by_prefix.get(prefix)) else {
                continue;
            };
            let bound = best.unwrap_or(usize::MAX);
            if let Some(i) = list.iter().copied().take_while(|&i| i < bound).find(|i| hit(i)) {
                best = Some(i);
            }
        }
        best.and_then(|i| rules.get(i))
    }
}
