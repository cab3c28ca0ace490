//! Where a tool argument came from (guarantees **T2**, **T3**): a bounded index of the content
//! servers returned in this session, and the matching of each later argument against it.
//!
//! # What is remembered
//!
//! Every answer the client receives (tool results, resource contents, prompt messages, tool
//! descriptors, sampling results) is taken apart into its text leaves ([`returned_text`]): every
//! string of the JSON result, and, when a string is itself JSON, every string inside it. Each
//! leaf is scanned for spans that try to steer the agent ([`crate::spans`]); a suspect leaf
//! makes the addresses in the rest of its JSON object suspect ([`destinations`]: an email's
//! sender, links, phone and account numbers are as attacker-chosen as its body), when the
//! object is small enough to be one record ([`RECORD_BYTES`]).
//!
//! The index ([`ContentIndex`]) keeps, per answer, the event that recorded it, its labels, its
//! text *normalised* (letters and digits only, lowercased: what survives an agent reformatting
//! a value, such as spaces in an IBAN, a `mailto:` or quotes) and which of it was suspect. It is
//! memory only: the flight log keeps digests, never content. It is bounded
//! ([`ContentIndex::new`]): the oldest answers are forgotten first.
//!
//! # How an argument is matched
//!
//! Each string (and number) leaf of a `tools/call`'s arguments is normalised the same way.
//! - A value shorter than [`MIN_VALUE_CHARS`] is not traced: "yes", "100", "EUR" occur
//!   everywhere, and a match would say nothing; an identifier that mixes letters and digits
//!   (`m-5531`, `H-5521`, `card-2`) is traced from [`MIN_ID_CHARS`].
//! - A value up to [`WORD_CHARS`] long is looked up as a whole word of returned text (or a run
//!   of short number groups, as an IBAN or a phone number is written).
//! - A value of at least [`GRAM`] characters is looked up by its [`GRAM`]-character fragments,
//!   *winnowed*: of every [`WINDOW`] consecutive fragments only the one with the smallest key
//!   is indexed (of returned text) or looked up (of a value), so both sides pick the same
//!   anchors and any common run of at least `GRAM + WINDOW - 1` characters is found, with a
//!   fraction of the lookups and memory of indexing every position. Each hit is verified
//!   against the remembered text (keys are not trusted) and extended both ways. A value up to [`WHOLE_CHARS`] long counts only when it occurs whole; a
//!   longer one when at least [`WHOLE_CHARS`] consecutive characters of it occur (a mail body
//!   quoting a sentence of a suspect mail carries it; a shared stock phrase shorter than that
//!   does not).
//!
//! A match carries the answer's labels, plus `poisoned-suspect` when the matched text lies in a
//! suspect span, and the answer's event, for the `from` link. Where a fragment occurs in several
//! answers, a suspect occurrence is kept over a clean one, so content repeated elsewhere
//! cannot launder it.
//!
//! # What it cannot see
//!
//! A value the agent rewrote beyond normalisation (translated, summarised, re-encoded,
//! arithmetic on an amount), a short value (under [`MIN_VALUE_CHARS`]), and content forgotten
//! because the index was full. An answer too large to index whole is reported by
//! [`ContentIndex::insert`]; the session then treats every later call as carrying what that
//! answer carried (fail closed).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;

use agentk_labels::{Label, LabelSet};
use serde_json::Value;

/// The length, in normalised characters, of an indexed fragment.
pub const GRAM: usize = 16;
/// Of every `WINDOW` consecutive fragments, one is an anchor.
pub const WINDOW: usize = 8;
/// The shortest normalised value traced.
pub const MIN_VALUE_CHARS: usize = 6;
/// The shortest normalised value traced when it holds both letters and digits (an identifier).
pub const MIN_ID_CHARS: usize = 4;

/// Whether a normalised value is long enough to say where it came from.
fn traceable(value: &[u8]) -> bool {
    let id = value.iter().any(u8::is_ascii_digit) && value.iter().any(|b| !b.is_ascii_digit());
    value.len() >= MIN_VALUE_CHARS || (id && value.len() >= MIN_ID_CHARS)
}
/// The longest normalised value looked up as a whole word.
pub const WORD_CHARS: usize = 64;
/// A value up to this long must occur whole; a longer one needs this many consecutive
/// characters in common.
pub const WHOLE_CHARS: usize = 32;
/// The largest JSON object whose addresses share one suspect leaf's label, in bytes of text.
pub const RECORD_BYTES: usize = 16 * 1024;
/// The default bound of the index, in bytes of normalised text (about 7 bytes of memory per
/// byte of text with its tables: `cargo xtask bench --only taint`).
pub const DEFAULT_INDEX_BYTES: usize = 4 << 20;
/// The most answers the index remembers (each costs a little beyond its text).
pub const MAX_ANSWERS: usize = 16_384;
/// The most text leaves taken from one answer.
pub const MAX_LEAVES: usize = 1 << 16;
/// The deepest JSON nesting followed in one answer (strings holding JSON included).
const MAX_DEPTH: usize = 64;
/// The most origins reported for one value.
const MAX_ORIGINS: usize = 8;

/// One text leaf of returned content, and its suspect spans (byte ranges of `text`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leaf {
    /// The text.
    pub text: String,
    /// The spans that try to steer the agent: sorted, disjoint, within `text`.
    pub suspect: Vec<Range<usize>>,
}

/// The text leaves of a returned JSON result, with their suspect spans.
#[derive(Clone, Debug, Default)]
pub struct Returned {
    /// The leaves, in document order.
    pub leaves: Vec<Leaf>,
    /// Whether the result had more leaves or depth than are taken (the rest is not indexed).
    pub truncated: bool,
}

impl Returned {
    /// Whether any span of it tries to steer the agent.
    pub fn is_suspect(&self) -> bool {
        self.leaves.iter().any(|l| !l.suspect.is_empty())
    }
}

/// Takes a returned result apart into text leaves and finds their suspect spans
/// ([`crate::spans::suspect_spans`]).
pub fn returned_text(result: &Value) -> Returned {
    returned_text_with(result, crate::spans::suspect_spans)
}

/// [`returned_text`] with another span finder (`detect` answers sorted, disjoint byte ranges).
pub fn returned_text_with(result: &Value, detect: fn(&str) -> Vec<Range<usize>>) -> Returned {
    let mut walk =
        Walk { detect, leaves: Vec::new(), groups: Vec::new(), open: Vec::new(), barrier: 0, truncated: false };
    walk.value(result, 0);
    let Walk { mut leaves, groups, truncated, .. } = walk;
    // A suspect leaf makes the addresses in the other leaves of its record (its JSON object)
    // suspect: an injected message's sender, reply-to and links are the attacker's as much as
    // its body. Its other fields (a time, a title) stay as they are, so the user's own work with
    // the record goes on; the suspect leaf's own extent is the span finder's to say.
    for members in groups {
        let size: usize = members.iter().filter_map(|&i| leaves.get(i)).map(|l| l.text.len()).sum();
        if size > RECORD_BYTES || !members.iter().filter_map(|&i| leaves.get(i)).any(|l| !l.suspect.is_empty()) {
            continue;
        }
        for &i in &members {
            if let Some(leaf) = leaves.get_mut(i)
                && leaf.suspect.is_empty()
            {
                leaf.suspect = destinations(&leaf.text);
            }
        }
    }
    Returned { leaves, truncated }
}

/// The byte ranges of `text` that name a destination: an email address, a link, a phone
/// number in international form, or an account number (an IBAN-like run of groups).
pub fn destinations(text: &str) -> Vec<Range<usize>> {
    let trim = |c: char| !(c.is_alphanumeric() || c == '+' || c == '/');
    let mut words: Vec<Range<usize>> = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                words.push(s..i);
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    let mut out: Vec<Range<usize>> = Vec::new();
    let mut at = 0;
    while let Some(word) = words.get(at) {
        let raw = text.get(word.clone()).unwrap_or_default();
        let inner = raw.trim_matches(trim);
        let lower = inner.to_ascii_lowercase();
        let email = inner.split_once('@').is_some_and(|(user, host)| !user.is_empty() && host.contains('.'));
        let link = lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("www.");
        let digits = |s: &str| s.chars().filter(char::is_ascii_digit).count();
        let phone = inner.starts_with('+') && digits(inner) >= 2;
        // An account number: two letters and two digits, then groups of digits and letters.
        let bytes = inner.as_bytes();
        let account = bytes.len() >= 4
            && bytes.iter().take(2).all(u8::is_ascii_uppercase)
            && bytes.iter().skip(2).take(2).all(u8::is_ascii_digit);
        if email || link || phone || account {
            // A phone number or an account number may go on in groups: take the groups along.
            let mut end = at;
            if phone || account {
                while let Some(next) = words.get(end + 1) {
                    let group = text.get(next.clone()).unwrap_or_default().trim_matches(trim);
                    if group.is_empty()
                        || group.len() > 8
                        || !group.chars().all(|c| c.is_ascii_alphanumeric())
                        || digits(group) == 0
                    {
                        break;
                    }
                    end += 1;
                }
            }
            let last = words.get(end).map_or(word.end, |w| w.end);
            out.push(word.start..last);
            at = end + 1;
        } else {
            at += 1;
        }
    }
    out
}

struct Walk {
    detect: fn(&str) -> Vec<Range<usize>>,
    leaves: Vec<Leaf>,
    /// Each JSON object's leaves (its own, and those of nested values that are not lists of
    /// records), by index.
    groups: Vec<Vec<usize>>,
    /// The objects being walked, innermost last.
    open: Vec<usize>,
    /// Leaves join only the open objects from this position: inside a list of records, a
    /// record does not join its container.
    barrier: usize,
    truncated: bool,
}

impl Walk {
    fn value(&mut self, value: &Value, depth: usize) {
        if depth > MAX_DEPTH || self.leaves.len() >= MAX_LEAVES {
            self.truncated = true;
            return;
        }
        match value {
            Value::String(text) => self.text(text, depth),
            Value::Array(items) => {
                let saved = self.barrier;
                if items.iter().any(Value::is_object) {
                    self.barrier = self.open.len();
                }
                items.iter().for_each(|item| self.value(item, depth + 1));
                self.barrier = saved;
            }
            Value::Object(map) => {
                self.open.push(self.groups.len());
                self.groups.push(Vec::new());
                map.values().for_each(|item| self.value(item, depth + 1));
                self.open.pop();
            }
            Value::Number(_) | Value::Bool(_) | Value::Null => {}
        }
    }

    fn text(&mut self, text: &str, depth: usize) {
        let trimmed = text.trim_start();
        if (trimmed.starts_with('{') || trimmed.starts_with('['))
            && let Ok(inner) = serde_json::from_str::<Value>(text)
        {
            // Text that is JSON (a tool answering with a serialised list): its strings are the
            // leaves, so that one record's suspect text does not taint its neighbours.
            let saved = self.barrier;
            self.barrier = self.open.len();
            self.value(&inner, depth + 1);
            self.barrier = saved;
            return;
        }
        // A short leaf of one token (an id, a date, a number, `"type": "text"`) cannot hold an
        // instruction, nor an encoded one: the span finder is not asked.
        let mut suspect =
            if text.len() < 16 && !text.contains(char::is_whitespace) { Vec::new() } else { (self.detect)(text) };
        // SECURITY: whatever the finder answers, only ranges within the text on char
        // boundaries are kept, sorted and merged.
        suspect.retain(|r| {
            r.start < r.end && r.end <= text.len() && text.is_char_boundary(r.start) && text.is_char_boundary(r.end)
        });
        suspect.sort_by_key(|r| r.start);
        let mut merged: Vec<Range<usize>> = Vec::with_capacity(suspect.len());
        for range in suspect {
            match merged.last_mut() {
                Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
                _ => merged.push(range),
            }
        }
        let index = self.leaves.len();
        self.leaves.push(Leaf { text: text.to_owned(), suspect: merged });
        for &group in self.open.get(self.barrier..).unwrap_or_default() {
            if let Some(members) = self.groups.get_mut(group) {
                members.push(index);
            }
        }
    }
}

/// Where a traced value came from: the event that recorded the answer, and the labels the
/// matched text carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The output event of the answer.
    pub event: u64,
    /// The answer's labels, with `poisoned-suspect` when the match lies in a suspect span.
    pub labels: LabelSet,
}

/// What [`ContentIndex::insert`] kept of an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inserted {
    /// Whether all of its text is in the index (an answer larger than half the bound is cut).
    pub complete: bool,
}

/// A remembered answer.
struct Entry {
    serial: u64,
    event: u64,
    labels: LabelSet,
    text: Vec<u8>,
    /// Suspect ranges of `text`, sorted and disjoint.
    suspect: Vec<Range<usize>>,
    /// The word keys it added, to take out when it is forgotten.
    words: Vec<u32>,
}

impl Entry {
    fn is_suspect(&self, range: &Range<usize>) -> bool {
        let at = self.suspect.partition_point(|s| s.end <= range.start);
        self.suspect.get(at).is_some_and(|s| s.start < range.end)
    }
}

/// Where a fragment or word occurs (12 bytes: the index holds many). `serial` is the low 32
/// bits of the answer's serial; a stale one is caught by the text comparison.
#[derive(Clone, Copy, Debug)]
struct Loc {
    serial: u32,
    pos: u32,
    len: u16,
    suspect: bool,
}

type Table = HashMap<u32, Loc, BuildHasherDefault<KeyHasher>>;

/// The bounded index of returned content of one session.
pub struct ContentIndex {
    entries: VecDeque<Entry>,
    next_serial: u64,
    grams: Table,
    words: Table,
    bytes: usize,
    max_bytes: usize,
}

impl std::fmt::Debug for ContentIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // SECURITY: never the content.
        f.debug_struct("ContentIndex")
            .field("answers", &self.entries.len())
            .field("bytes", &self.bytes)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl ContentIndex {
    /// An empty index keeping at most `max_bytes` of normalised text.
    pub fn new(max_bytes: usize) -> Self {
        ContentIndex {
            entries: VecDeque::new(),
            next_serial: 0,
            grams: HashMap::default(),
            words: HashMap::default(),
            bytes: 0,
            max_bytes,
        }
    }

    /// How many answers it remembers.
    pub fn answers(&self) -> usize {
        self.entries.len()
    }

    /// The normalised text it holds, in bytes.
    pub fn text_bytes(&self) -> usize {
        self.bytes
    }

    /// An estimate of the memory it takes, in bytes (text, spans and hash tables).
    pub fn memory_bytes(&self) -> usize {
        let loc = std::mem::size_of::<(u32, Loc)>() + 1;
        let entries: usize = self
            .entries
            .iter()
            .map(|e| {
                std::mem::size_of::<Entry>()
                    + e.text.capacity()
                    + e.suspect.capacity() * std::mem::size_of::<Range<usize>>()
                    + e.words.capacity() * 4
            })
            .sum();
        entries + (self.grams.capacity() + self.words.capacity()) * loc
    }

    /// Remembers an answer recorded as event `event` with `labels`: its leaves' text and
    /// suspect spans. The oldest answers are forgotten to stay within the bound.
    pub fn insert(&mut self, event: u64, labels: LabelSet, returned: &Returned) -> Inserted {
        let cap = self.max_bytes / 2;
        let mut text = Vec::new();
        let mut suspect: Vec<Range<usize>> = Vec::new();
        let mut word_spans: Vec<(Range<usize>, bool)> = Vec::new();
        let mut complete = !returned.truncated;
        for leaf in &returned.leaves {
            if text.len() >= cap {
                complete = false;
                break;
            }
            normalise_leaf(leaf, &mut text, &mut suspect, &mut word_spans);
            // Fragments never join two leaves.
            text.push(0);
        }
        let cap = cap.min(u32::MAX as usize);
        if text.len() > cap {
            text.truncate(cap);
            complete = false;
        }
        while (self.bytes + text.len() > self.max_bytes || self.entries.len() >= MAX_ANSWERS)
            && !self.entries.is_empty()
        {
            self.forget_oldest();
        }
        let serial = self.next_serial;
        self.next_serial += 1;
        let mut entry = Entry { serial, event, labels, text, suspect, words: Vec::new() };
        let len = entry.text.len();
        let short = serial as u32;
        for (start, key) in anchors(&entry.text) {
            let suspect = entry.is_suspect(&(start..start + GRAM));
            keep(&mut self.grams, key, Loc { serial: short, pos: start as u32, len: GRAM as u16, suspect });
        }
        for (range, _) in &word_spans {
            let Some(word) = entry.text.get(range.clone()) else { continue };
            let key = hash(word);
            let loc = Loc {
                serial: short,
                pos: range.start as u32,
                len: range.len() as u16,
                suspect: entry.is_suspect(range),
            };
            keep(&mut self.words, key, loc);
            entry.words.push(key);
        }
        self.bytes += len;
        self.entries.push_back(entry);
        Inserted { complete }
    }

    fn forget_oldest(&mut self) {
        let Some(entry) = self.entries.pop_front() else { return };
        self.bytes -= entry.text.len();
        let short = entry.serial as u32;
        for (_, key) in anchors(&entry.text) {
            if self.grams.get(&key).is_some_and(|l| l.serial == short) {
                self.grams.remove(&key);
            }
        }
        for key in &entry.words {
            if self.words.get(key).is_some_and(|l| l.serial == short) {
                self.words.remove(key);
            }
        }
    }

    fn entry(&self, serial: u32) -> Option<&Entry> {
        let first = self.entries.front()?.serial as u32;
        let entry = self.entries.get(serial.wrapping_sub(first) as usize)?;
        (entry.serial as u32 == serial).then_some(entry)
    }

    /// Where `value` came from: each distinct (answer, labels) it was found in, a suspect one
    /// first; empty when it was not found (the client's own value).
    pub fn trace(&self, value: &str) -> Vec<Origin> {
        let mut needle = Vec::with_capacity(value.len());
        normalise(value, &mut needle);
        let mut origins: Vec<Origin> = Vec::new();
        let mut add = |entry: &Entry, range: Range<usize>| {
            let mut labels = entry.labels;
            if entry.is_suspect(&range) {
                labels = labels | LabelSet::of(Label::PoisonedSuspect);
            }
            let origin = Origin { event: entry.event, labels };
            if !origins.contains(&origin) && origins.len() < MAX_ORIGINS {
                origins.push(origin);
            }
        };
        let n = needle.len();
        if !traceable(&needle) {
            return Vec::new();
        }
        if n <= WORD_CHARS
            && let Some(loc) = self.words.get(&hash(&needle))
            && let Some(entry) = self.entry(loc.serial)
        {
            let range = loc.pos as usize..loc.pos as usize + usize::from(loc.len);
            if entry.text.get(range.clone()) == Some(&needle[..]) {
                add(entry, range);
            }
        }
        if n >= GRAM {
            let need = n.min(WHOLE_CHARS);
            // Where the last verified run ended: an anchor inside it adds nothing.
            let mut covered = 0;
            for (p, key) in anchors(&needle) {
                if p < covered {
                    continue;
                }
                let Some(gram) = needle.get(p..p + GRAM) else { continue };
                let hit = self.grams.get(&key).and_then(|loc| Some((loc.pos as usize, self.entry(loc.serial)?)));
                let Some((at, entry)) = hit.filter(|(at, e)| e.text.get(*at..at + GRAM) == Some(gram)) else {
                    continue;
                };
                // Extend the common run both ways.
                let (before, after) = (needle.get(..p).unwrap_or_default(), needle.get(p..).unwrap_or_default());
                let (text_before, text_after) =
                    (entry.text.get(..at).unwrap_or_default(), entry.text.get(at..).unwrap_or_default());
                // Leftwards, only as far as the check needs: an earlier run already covered the
                // rest, and walking it again for every anchor of a repetitive value would be
                // quadratic.
                let left =
                    before.iter().rev().zip(text_before.iter().rev()).take(need).take_while(|(a, b)| a == b).count();
                let right = after.iter().zip(text_after).take_while(|(a, b)| a == b).count();
                if left + right >= need {
                    add(entry, at - left..at + right);
                }
                covered = p + right;
            }
        }
        // A suspect origin first: it decides.
        origins.sort_by_key(|o| !o.labels.contains(Label::PoisonedSuspect));
        origins
    }
}

/// Keeps `loc` under `key`, unless a suspect occurrence is already kept there and this one is
/// clean: a clean copy elsewhere must not launder suspect text.
fn keep(map: &mut Table, key: u32, loc: Loc) {
    match map.get(&key) {
        Some(old) if old.suspect && !loc.suspect => {}
        _ => {
            map.insert(key, loc);
        }
    }
}

/// Appends `leaf`'s normalised text to `out`, its suspect spans (shifted) to `suspect`, and
/// its words (and runs of short number groups) to `words`.
fn normalise_leaf(
    leaf: &Leaf,
    out: &mut Vec<u8>,
    suspect: &mut Vec<Range<usize>>,
    words: &mut Vec<(Range<usize>, bool)>,
) {
    let spans = &leaf.suspect;
    let mut span = 0;
    let mut open: Option<usize> = None;
    // Word boundaries: whitespace in the original text.
    let mut word_start: Option<usize> = None;
    let mut groups: Vec<Range<usize>> = Vec::new();
    for (i, c) in leaf.text.char_indices() {
        while spans.get(span).is_some_and(|s| s.end <= i) {
            span += 1;
        }
        let in_span = spans.get(span).is_some_and(|s| s.start <= i);
        if c.is_whitespace() {
            if let Some(start) = word_start.take() {
                push_word(out, start, words, &mut groups);
            }
            continue;
        }
        let before = out.len();
        push_normalised(c, out);
        if out.len() == before {
            continue;
        }
        if word_start.is_none() {
            word_start = Some(before);
        }
        match (in_span, open) {
            (true, None) => open = Some(before),
            (false, Some(start)) => {
                suspect.push(start..before);
                open = None;
            }
            _ => {}
        }
    }
    if let Some(start) = word_start.take() {
        push_word(out, start, words, &mut groups);
    }
    flush_groups(words, &mut groups);
    if let Some(start) = open {
        suspect.push(start..out.len());
    }
}

/// Records the word `start..out.len()`; short groups holding a digit are gathered into runs
/// (an IBAN or a phone number written in groups), flushed at the first other word.
fn push_word(out: &[u8], start: usize, words: &mut Vec<(Range<usize>, bool)>, groups: &mut Vec<Range<usize>>) {
    let end = out.len();
    let len = end - start;
    if len == 0 {
        return;
    }
    if len <= WORD_CHARS && out.get(start..end).is_some_and(traceable) {
        words.push((start..end, false));
    }
    if len <= 8 && out.get(start..end).is_some_and(|w| w.iter().any(u8::is_ascii_digit)) {
        groups.push(start..end);
        if groups.len() >= 8 {
            flush_groups(words, groups);
        }
    } else {
        flush_groups(words, groups);
    }
}

/// Adds every run of two or more consecutive groups as a word (normalised text is contiguous,
/// so a run is one range).
fn flush_groups(words: &mut Vec<(Range<usize>, bool)>, groups: &mut Vec<Range<usize>>) {
    for (i, first) in groups.iter().enumerate() {
        for last in groups.iter().skip(i + 1) {
            let range = first.start..last.end;
            if (MIN_VALUE_CHARS..=WORD_CHARS).contains(&range.len()) {
                words.push((range, false));
            }
        }
    }
    groups.clear();
}

/// Appends the letters and digits of `text`, lowercased, to `out`.
fn normalise(text: &str, out: &mut Vec<u8>) {
    text.chars().for_each(|c| push_normalised(c, out));
}

/// Appends `c` lowercased to `out` when it is a letter or a digit; nothing otherwise.
fn push_normalised(c: char, out: &mut Vec<u8>) {
    if c.is_ascii_alphanumeric() {
        out.push(c.to_ascii_lowercase() as u8);
    } else if !c.is_ascii() && c.is_alphanumeric() {
        let mut buf = [0u8; 4];
        for lower in c.to_lowercase() {
            out.extend_from_slice(lower.encode_utf8(&mut buf).as_bytes());
        }
    }
}

/// The base of the rolling hash of fragments.
const BASE: u64 = 0x0000_0100_0000_01b3;

/// `BASE` to the power `GRAM - 1`: what the byte leaving a fragment weighed.
const OUT_WEIGHT: u64 = {
    let mut weight: u64 = 1;
    let mut i = 1;
    while i < GRAM {
        weight = weight.wrapping_mul(BASE);
        i += 1;
    }
    weight
};

/// The keys of every fragment of `text` (a rolling hash, mixed to 32 bits); `u32::MAX` for a
/// fragment that crosses a leaf boundary (a zero byte), which is never an anchor.
fn gram_keys(text: &[u8]) -> Vec<u32> {
    let Some(first) = text.get(..GRAM) else { return Vec::new() };
    let mut keys = Vec::with_capacity(text.len() - GRAM + 1);
    let mut h = first.iter().fold(0u64, |h, &b| h.wrapping_mul(BASE).wrapping_add(u64::from(b) + 1));
    let mut zero_until = first.iter().rposition(|&b| b == 0).map_or(0, |z| z + 1);
    let push = |h: u64, start: usize, zero_until: usize, keys: &mut Vec<u32>| {
        let mixed = (h ^ (h >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        let key = ((mixed ^ (mixed >> 32)) as u32).min(u32::MAX - 1);
        keys.push(if start < zero_until { u32::MAX } else { key });
    };
    push(h, 0, zero_until, &mut keys);
    for (start, (&out, &inc)) in text.iter().zip(text.iter().skip(GRAM)).enumerate() {
        h = h
            .wrapping_sub((u64::from(out) + 1).wrapping_mul(OUT_WEIGHT))
            .wrapping_mul(BASE)
            .wrapping_add(u64::from(inc) + 1);
        if inc == 0 {
            zero_until = start + GRAM + 1;
        }
        push(h, start + 1, zero_until, &mut keys);
    }
    keys
}

/// The winnowed fragments of `text`, as (position, key): in each window of [`WINDOW`]
/// consecutive fragments, the one with the smallest key (the rightmost on a tie), each once.
/// A text shorter than a window has one anchor.
fn anchors(text: &[u8]) -> Vec<(usize, u32)> {
    let keys = gram_keys(text);
    let mut out: Vec<(usize, u32)> = Vec::with_capacity(keys.len() / 4 + 1);
    let width = WINDOW.min(keys.len()).max(1);
    // The rightmost smallest key of the current window; the window is scanned again only when
    // it leaves (about once per window), so each position costs a comparison or two.
    let mut best: Option<(usize, u32)> = None;
    for (end, &key) in keys.iter().enumerate().skip(width - 1) {
        let start = end + 1 - width;
        best = match best {
            Some((at, min)) if at >= start => Some(if key <= min { (end, key) } else { (at, min) }),
            _ => keys
                .get(start..=end)
                .and_then(|window| window.iter().enumerate().rev().min_by_key(|(_, k)| **k))
                .map(|(i, &k)| (start + i, k)),
        };
        if let Some(anchor) = best
            && anchor.1 != u32::MAX
            && out.last() != Some(&anchor)
        {
            out.push(anchor);
        }
    }
    out
}

/// A fast, well-mixed 32-bit hash (not keyed: every hit is verified against the text).
fn hash(bytes: &[u8]) -> u32 {
    let mut h: u64 = 0x9e37_79b9_7f4a_7c15 ^ bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        word.iter_mut().zip(rest).for_each(|(w, r)| *w = *r);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    ((h ^ (h >> 33)) >> 32) as u32
}

/// The hasher of keys that are already hashes.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u32(&mut self, n: u32) {
        // Spread over the whole word: the table takes its buckets from the low bits and its
        // tags from the high ones.
        self.0 = u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}
