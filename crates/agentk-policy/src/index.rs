//! The evaluation index: for each syscall, the rules that can match it, filed by a literal the
//! target must hold, so that most rules are ruled out without being tried.
//!
//! Why: a policy of a thousand rules must decide in microseconds whatever shape its target
//! patterns have. Filing rules by literal prefix alone left every pattern that starts with `*`
//! (`*.host.example.invalid/*`, `*@host.example.invalid`) to a scan of all of them.
//!
//! How: a target pattern `P*M1*…*Mn*S` can only match a target that starts with `P`, ends
//! with `S` and holds every literal (`P`, each `Mi`, `S`) somewhere. So each pattern is filed
//! under one key:
//!
//! - its literal prefix `P`, looked up once per distinct prefix length with the target's start;
//! - its literal suffix `S`, looked up once per distinct suffix length with the target's end;
//! - a [`GRAM`]-byte window of any of its literals (a "gram"), looked up with every window of
//!   the target.
//!
//! A pattern takes the key the fewest patterns of the policy could share, so its list is short
//! whichever part of it tells it apart (`https://…` rules by prefix, `*.host-N…/*` rules by a
//! gram such as `-17.`). Ties go to the prefix, then the suffix: they are exact and cost a
//! handful of look-ups, while grams cost one look-up per target byte. A rule is filed under the
//! key of each of its target patterns, since any of them may match. Rules that cannot be filed
//! (no target condition, or a pattern such as `*` or `*.io*` with no key) are "open".
//!
//! The first match is the earliest matching rule among the open rules and the lists the
//! target's keys reach. Each list is in policy order and is scanned only below the best match
//! so far, so the answer is exactly that of an in-order scan of every rule (a property test
//! checks it against a naive evaluator). Each look-up first tests one bit of a filter with
//! 8 to 16 bits per key, so a key that is not there costs a hash, not a search; a gram that
//! recurs in the target reopens no list, so a request tries each rule at most once per target
//! pattern. Keys are bytes and look-ups compare bytes, so no character is ever cut in two.
//!
//! Memory: each rule once per target pattern and syscall, its literals, and the filters. A
//! request allocates nothing unless the policy has more than [`STACK_SEEN`] gram lists for its
//! syscall.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, DefaultHasher};

use agentk_labels::Syscall;

use crate::eval::Probe;
use crate::model::Rule;
use crate::pattern::Pattern;

/// The length in bytes of the literal windows ("grams") patterns are filed under; literals
/// shorter than this give no gram. A gram is packed into a `u32`, one byte per octet.
const GRAM: usize = 4;

/// How many gram lists per syscall a request tracks without allocating (a multiple of 64).
const STACK_SEEN: usize = 4096;

/// A literal a target must hold for a pattern to match it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Key<'a> {
    /// The target starts with it.
    Prefix(&'a [u8]),
    /// The target ends with it.
    Suffix(&'a [u8]),
    /// The target holds these [`GRAM`] bytes somewhere.
    Gram(u32),
}

/// Packs a window of [`GRAM`] bytes the way [`Grams::each_list`] rolls them from a target.
fn gram(window: &[u8]) -> u32 {
    window.iter().fold(0, |gram, &byte| gram << 8 | u32::from(byte))
}

/// Every key `pattern` could be filed under, without repeats; empty when it has none.
fn keys_of(pattern: &Pattern) -> Vec<Key<'_>> {
    let mut keys = Vec::new();
    let prefix = pattern.literal_prefix().as_bytes();
    if !prefix.is_empty() {
        keys.push(Key::Prefix(prefix));
    }
    let suffix = pattern.literal_suffix().as_bytes();
    if !pattern.is_exact() && !suffix.is_empty() {
        keys.push(Key::Suffix(suffix));
    }
    for literal in pattern.as_str().split('*') {
        keys.extend(literal.as_bytes().windows(GRAM).map(|window| Key::Gram(gram(window))));
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// A hasher with fixed keys: building the index reads no entropy, and only the policy's own
/// literals are hashed.
type FixedHasher = BuildHasherDefault<DefaultHasher>;

/// How many patterns could share each key. Grams, by far the most numerous, are counted in a
/// table of their own with small entries.
#[derive(Default)]
struct Shared<'a> {
    affixes: HashMap<Key<'a>, u32, FixedHasher>,
    grams: HashMap<u32, u32, FixedHasher>,
}

impl<'a> Shared<'a> {
    /// Counts the keys of one pattern.
    fn add(&mut self, keys: &[Key<'a>]) {
        for &key in keys {
            let count = match key {
                Key::Gram(gram) => self.grams.entry(gram).or_default(),
                affix => self.affixes.entry(affix).or_default(),
            };
            *count = count.saturating_add(1);
        }
    }

    fn count(&self, key: Key<'a>) -> u32 {
        let count = match key {
            Key::Gram(gram) => self.grams.get(&gram),
            affix => self.affixes.get(&affix),
        };
        count.copied().unwrap_or(0)
    }

    /// The key of `keys` that the fewest patterns share, the earliest in key order on a tie:
    /// a prefix, then a suffix, then a gram.
    fn rarest(&self, keys: &[Key<'a>]) -> Option<Key<'a>> {
        keys.iter().copied().min_by_key(|&key| (self.count(key), key))
    }
}

/// A multiplicative hash step: the high bits depend on every bit of `x`.
fn mix(x: u64) -> u64 {
    x.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// A hash of `bytes`, eight at a time.
fn hash_bytes(bytes: &[u8]) -> u64 {
    let word = |chunk: &[u8]| chunk.iter().fold(0, |word, &byte| word << 8 | u64::from(byte));
    bytes.chunks(8).fold(bytes.len() as u64, |hash, chunk| mix(hash.rotate_left(29) ^ word(chunk)))
}

/// A set of hashes, one bit each in a table of eight to sixteen bits per member. "No" is
/// certain and costs one bit test; "maybe" (about one time in eight for a non-member) sends
/// the caller to the exact table. Empty, it holds nothing.
#[derive(Clone, Debug, Default)]
struct Filter {
    bits: Vec<u64>,
    /// The table has `1 << (64 - shift)` bits, indexed by a hash's top bits.
    shift: u32,
}

impl Filter {
    fn new(hashes: &[u64]) -> Self {
        let len = (hashes.len() * 8).next_power_of_two().max(64);
        let mut filter = Filter { bits: vec![0; len / 64], shift: 64 - len.trailing_zeros() };
        for &hash in hashes {
            let (word, bit) = filter.slot(hash);
            if let Some(word) = filter.bits.get_mut(word) {
                *word |= bit;
            }
        }
        filter
    }

    fn slot(&self, hash: u64) -> (usize, u64) {
        let at = hash.checked_shr(self.shift).unwrap_or(0);
        ((at >> 6) as usize, 1 << (at & 63))
    }

    fn may_hold(&self, hash: u64) -> bool {
        let (word, bit) = self.slot(hash);
        self.bits.get(word).is_some_and(|w| w & bit != 0)
    }
}

/// Rules filed under literals found at one end of the target.
#[derive(Clone, Debug, Default)]
struct Affixes {
    /// Rules filed under each literal, in policy order.
    lists: BTreeMap<Box<[u8]>, Vec<usize>>,
    /// The distinct literal lengths in `lists`, ascending.
    lens: Vec<usize>,
    /// The [`hash_bytes`] of each literal in `lists`.
    filter: Filter,
}

impl Affixes {
    fn file(&mut self, literal: &[u8], rule: usize) {
        push_once(self.lists.entry(literal.into()).or_default(), rule);
    }

    fn finish(&mut self) {
        self.lens = self.lists.keys().map(|k| k.len()).collect();
        self.lens.sort_unstable();
        self.lens.dedup();
        self.lists.values_mut().for_each(Vec::shrink_to_fit);
        let hashes: Vec<u64> = self.lists.keys().map(|k| hash_bytes(k)).collect();
        self.filter = Filter::new(&hashes);
    }

    /// Calls `visit` with each list whose literal starts (`at_end` false) or ends the target.
    fn each_list(&self, target: &[u8], at_end: bool, mut visit: impl FnMut(&[usize])) {
        for &len in self.lens.iter().take_while(|&&len| len <= target.len()) {
            let part = if at_end { target.get(target.len() - len..) } else { target.get(..len) };
            let part = part.filter(|part| self.filter.may_hold(hash_bytes(part)));
            if let Some(list) = part.and_then(|part| self.lists.get(part)) {
                visit(list);
            }
        }
    }
}

/// Rules filed under a [`GRAM`]-byte window of one of their literals.
#[derive(Clone, Debug, Default)]
struct Grams {
    /// The grams, ascending; `lists[i]` holds the rules filed under `keys[i]`, in policy order.
    keys: Vec<u32>,
    lists: Vec<Vec<usize>>,
    /// The keys, [`mix`]ed: most target windows stop at this test.
    filter: Filter,
    /// The earliest rule in any list.
    first: Option<usize>,
}

impl Grams {
    fn new(filed: BTreeMap<u32, Vec<usize>>) -> Self {
        let first = filed.values().filter_map(|list| list.first().copied()).min();
        let (keys, mut lists): (Vec<u32>, Vec<Vec<usize>>) = filed.into_iter().unzip();
        lists.iter_mut().for_each(Vec::shrink_to_fit);
        let hashes: Vec<u64> = keys.iter().map(|&key| mix(key.into())).collect();
        Grams { filter: Filter::new(&hashes), keys, lists, first }
    }

    /// Calls `visit` once with each list filed under a window of `target`.
    fn each_list(&self, target: &[u8], mut visit: impl FnMut(&[usize])) {
        if self.keys.is_empty() {
            return;
        }
        let mut seen = Seen::new();
        let mut window = 0u32;
        for (at, &byte) in target.iter().enumerate() {
            window = window << 8 | u32::from(byte);
            if at + 1 < GRAM {
                continue;
            }
            if !self.filter.may_hold(mix(window.into())) {
                continue;
            }
            if let Ok(i) = self.keys.binary_search(&window)
                && seen.first_visit(i, self.keys.len())
                && let Some(list) = self.lists.get(i)
            {
                visit(list);
            }
        }
    }
}

/// The gram lists one request has visited, one bit each: the first [`STACK_SEEN`] on the
/// stack, any others in a bit set made when first needed.
// SECURITY: a target repeating one gram (4 KiB of `aaaa`) must not scan its list once per
// occurrence; with this, a request scans each list at most once.
struct Seen {
    low: [u64; STACK_SEEN / 64],
    high: Vec<u64>,
}

impl Seen {
    fn new() -> Self {
        Seen { low: [0; STACK_SEEN / 64], high: Vec::new() }
    }

    /// Records list `i` of `lists`; `true` the first time.
    fn first_visit(&mut self, i: usize, lists: usize) -> bool {
        let word = match i.checked_sub(STACK_SEEN) {
            None => self.low.get_mut(i / 64),
            Some(high) => {
                if self.high.is_empty() {
                    self.high = vec![0; lists.saturating_sub(STACK_SEEN).div_ceil(64)];
                }
                self.high.get_mut(high / 64)
            }
        };
        // Unreachable for `i < lists`; visiting a list twice is slower, never wrong.
        let Some(word) = word else { return true };
        let bit = 1 << (i % 64);
        let first = *word & bit == 0;
        *word |= bit;
        first
    }
}

/// Appends `rule` unless it is already last (a rule with two patterns under one key).
fn push_once(list: &mut Vec<usize>, rule: usize) {
    if list.last() != Some(&rule) {
        list.push(rule);
    }
}

#[derive(Clone, Debug, Default)]
struct SyscallIndex {
    /// Rules any target might match, in policy order.
    open: Vec<usize>,
    /// Rules filed under a literal target prefix.
    prefixes: Affixes,
    /// Rules filed under a literal target suffix.
    suffixes: Affixes,
    /// Rules filed under an inner literal.
    grams: Grams,
}

impl SyscallIndex {
    /// Files the rules that apply to `syscall` under `keys[i]`, the key of each target pattern
    /// of rule `i` (`None` for a rule that stays open).
    fn new(syscall: Syscall, rules: &[Rule], keys: &[Option<Vec<Key<'_>>>]) -> Self {
        let mut index = SyscallIndex::default();
        let mut grams: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        let applying =
            rules.iter().zip(keys).enumerate().filter(|(_, (rule, _))| rule.syscall_table & syscall.bit() != 0);
        for (i, (_, keys)) in applying {
            let Some(keys) = keys else {
                index.open.push(i);
                continue;
            };
            for key in keys {
                match *key {
                    Key::Prefix(literal) => index.prefixes.file(literal, i),
                    Key::Suffix(literal) => index.suffixes.file(literal, i),
                    Key::Gram(gram) => push_once(grams.entry(gram).or_default(), i),
                }
            }
        }
        index.prefixes.finish();
        index.suffixes.finish();
        index.grams = Grams::new(grams);
        index
    }
}

/// Per-syscall rule index.
#[derive(Clone, Debug, Default)]
pub(crate) struct RuleIndex {
    per_syscall: Vec<SyscallIndex>,
}

impl RuleIndex {
    pub(crate) fn new(rules: &[Rule]) -> Self {
        // How many patterns could share each key, counted once over the whole policy rather
        // than per syscall: an estimate of each list's length, which only has to be good. The
        // keys of a pattern are listed again below rather than kept, so building needs memory
        // for the distinct keys only.
        let mut shared = Shared::default();
        for pattern in rules.iter().filter_map(|rule| rule.when.targets()).flatten() {
            shared.add(&keys_of(pattern));
        }
        // Each rule's key for each of its target patterns; `None` for a rule with no target
        // condition or with a pattern that has no key, which must stay open.
        let keys: Vec<Option<Vec<Key<'_>>>> = rules
            .iter()
            .map(|rule| rule.when.targets()?.iter().map(|pattern| shared.rarest(&keys_of(pattern))).collect())
            .collect();
        let per_syscall = Syscall::ALL.iter().map(|&syscall| SyscallIndex::new(syscall, rules, &keys)).collect();
        RuleIndex { per_syscall }
    }

    /// The first rule, in policy order, that matches.
    pub(crate) fn first_match<'r>(&self, rules: &'r [Rule], probe: &Probe<'_>) -> Option<&'r Rule> {
        let index = self.per_syscall.get(probe.syscall.index())?;
        let hit = |i: &usize| rules.get(*i).is_some_and(|r| r.matches(probe));
        // The earliest hit so far bounds the search in every list that follows.
        let mut best = index.open.iter().copied().find(|i| hit(i));
        let scan = |list: &[usize], best: &mut Option<usize>| {
            let bound = best.unwrap_or(usize::MAX);
            if let Some(i) = list.iter().copied().take_while(|&i| i < bound).find(|i| hit(i)) {
                *best = Some(i);
            }
        };
        let target = probe.target.as_bytes();
        index.prefixes.each_list(target, false, |list| scan(list, &mut best));
        index.suffixes.each_list(target, true, |list| scan(list, &mut best));
        // The gram scan walks the whole target: skip it when no gram list can beat the best.
        if index.grams.first.is_some_and(|first| best.is_none_or(|best| first < best)) {
            index.grams.each_list(target, |list| scan(list, &mut best));
        }
        best.and_then(|i| rules.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Policy, testing};

    /// The open rules and the longest list of `network.send` in the policy `text`.
    fn network_send_shape(text: &str) -> (Vec<usize>, usize) {
        let policy = Policy::parse("shape", text).unwrap();
        let index = &policy.index.per_syscall[Syscall::NetworkSend.index()];
        let lists = (index.prefixes.lists.values())
            .chain(index.suffixes.lists.values())
            .chain(&index.grams.lists)
            .map(Vec::len);
        (index.open.clone(), lists.max().unwrap_or(0))
    }

    /// Each synthetic shape is filed so that a request tries at most a couple of rules per
    /// list: only the catch-all stays open. (Speed is measured by `cargo xtask bench`; this
    /// guards the shape of the index that speed comes from.)
    #[test]
    fn synthetic_policies_leave_only_the_catch_all_open() {
        for text in [
            testing::synthetic_leading_star_policy(300),
            testing::synthetic_policy_for(300, &[Syscall::NetworkSend], true),
            testing::synthetic_policy_for(300, &[Syscall::NetworkSend], false),
        ] {
            let (open, longest) = network_send_shape(&text);
            assert_eq!(open, [300]);
            assert!(longest <= 2, "a list of {longest} rules");
        }
    }

    #[test]
    fn seen_counts_each_list_once() {
        let mut seen = Seen::new();
        for i in [0, 63, 64, STACK_SEEN - 1, STACK_SEEN, STACK_SEEN + 64, 9_999] {
            assert!(seen.first_visit(i, 10_000), "{i}");
            assert!(!seen.first_visit(i, 10_000), "{i}");
        }
        assert!(seen.first_visit(1, 10_000));
    }

    /// A pattern goes under the key the fewest patterns share, preferring the exact prefix and
    /// suffix keys on a tie.
    #[test]
    fn rarest_key_is_chosen() {
        let p = |text: &str| Pattern::new(text).unwrap();
        let (a, b) = (p("https://*.host-1.invalid/*"), p("https://*.host-2.invalid/*"));
        let keys = [keys_of(&a), keys_of(&b)];
        let mut shared = Shared::default();
        keys.iter().for_each(|keys| shared.add(keys));
        let rarest = shared.rarest(&keys[0]);
        // The prefix is shared; `st-1`, `t-1.`, `-1.i` and `1.in` are not, and the tie among
        // them goes to the smallest bytes.
        assert_eq!(rarest, Some(Key::Gram(gram(b"-1.i"))));
        assert_eq!(keys_of(&p("abc")), [Key::Prefix(b"abc")]);
        assert!(keys_of(&p("*ab*c*")).is_empty());
        assert_eq!(keys_of(&p("*x")), [Key::Suffix(b"x")]);
    }
}
