//! T2: suspect spans in returned MCP content, measured on a hand-written corpus.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, reason = "tests fail loudly on purpose")]
#![allow(clippy::print_stdout, reason = "the corpus test prints its figures")]

use std::ops::Range;
use std::path::Path;

use agentk_mcp::scan;
use agentk_mcp::spans::{self, MAX_SCANNED_BYTES};

// ---------------------------------------------------------------------------------------
// The corpus

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Injection,
    Benign,
    Long,
}

#[derive(Debug)]
struct Sample {
    file: String,
    id: String,
    kind: Kind,
    text: String,
    must: Vec<String>,
    /// The injected block of a long document, as a byte range of `text`.
    region: Option<Range<usize>>,
}

/// Decodes `\u{HEX}` and `\tag{ascii}` (see the corpus README).
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(body) = tail.strip_prefix("\\u{") {
            let end = body.find('}').unwrap();
            out.push(char::from_u32(u32::from_str_radix(&body[..end], 16).unwrap()).unwrap());
            rest = &body[end + 1..];
        } else if let Some(body) = tail.strip_prefix("\\tag{") {
            let end = body.find('}').unwrap();
            out.extend(body[..end].bytes().map(|b| char::from_u32(0xE0000 + u32::from(b)).unwrap()));
            rest = &body[end + 1..];
        } else {
            out.push('\\');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

fn parse_file(name: &str, body: &str) -> Vec<Sample> {
    let kind = match name.split('-').next().unwrap() {
        "inj" => Kind::Injection,
        "ben" => Kind::Benign,
        "long" => Kind::Long,
        other => panic!("{name}: unknown corpus file kind {other:?}"),
    };
    let mut out = Vec::new();
    let mut cur: Option<(String, Vec<String>, Option<(String, String)>, bool, Vec<&str>)> = None;
    let mut finish = |cur: Option<(String, Vec<String>, Option<(String, String)>, bool, Vec<&str>)>| {
        let Some((id, must, region, escapes, lines)) = cur else { return };
        let raw = lines.join("\n");
        let (text, must) =
            if escapes { (unescape(&raw), must.iter().map(|m| unescape(m)).collect()) } else { (raw, must) };
        let region = region.map(|(b, e)| {
            let start = text.find(&b).unwrap_or_else(|| panic!("{id}: region start not found"));
            let end = start + text[start..].find(&e).unwrap_or_else(|| panic!("{id}: region end not found")) + e.len();
            start..end
        });
        for m in &must {
            assert!(text.contains(m.as_str()), "{id}: must {m:?} is not in the text");
        }
        match kind {
            Kind::Injection => assert!(!must.is_empty(), "{id}: an injection names what must be suspect"),
            Kind::Benign => assert!(must.is_empty() && region.is_none(), "{id}: a benign text names nothing"),
            Kind::Long => assert_eq!(must.is_empty(), region.is_none(), "{id}: must and region come together"),
        }
        out.push(Sample { file: name.to_owned(), id, kind, text, must, region });
    };
    for line in body.lines() {
        if let Some(head) = line.strip_prefix("@@@ ") {
            if let Some(rest) = head.strip_prefix("id=") {
                finish(cur.take());
                let id = rest.split_whitespace().next().unwrap().to_owned();
                cur = Some((id, Vec::new(), None, false, Vec::new()));
            } else {
                let c = cur.as_mut().unwrap_or_else(|| panic!("{name}: header before the first id"));
                if let Some(m) = head.strip_prefix("must=") {
                    c.1.push(m.to_owned());
                } else if let Some(r) = head.strip_prefix("region=") {
                    let (b, e) = r.split_once(" ||| ").unwrap();
                    c.2 = Some((b.to_owned(), e.to_owned()));
                } else if head == "escapes" {
                    c.3 = true;
                } else {
                    panic!("{name}: unknown header {head:?}");
                }
            }
        } else if let Some(c) = cur.as_mut() {
            c.4.push(line);
        }
    }
    finish(cur.take());
    out
}

fn corpus(split: &str) -> Vec<Sample> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/content").join(split);
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let name = f.file_name().unwrap().to_str().unwrap().to_owned();
        out.extend(parse_file(&name, &std::fs::read_to_string(&f).unwrap()));
    }
    let mut ids: Vec<&str> = out.iter().map(|s| s.id.as_str()).collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "sample ids are unique");
    out
}

// ---------------------------------------------------------------------------------------
// Measures

fn covered(spans: &[Range<usize>], r: &Range<usize>) -> bool {
    spans.iter().any(|s| s.start <= r.start && r.end <= s.end)
}

/// Whether every `must` substring (each occurrence's first) lies inside one suspect span.
fn detected(s: &Sample, spans: &[Range<usize>]) -> bool {
    s.must.iter().all(|m| {
        let at = s.text.find(m.as_str()).unwrap();
        covered(spans, &(at..at + m.len()))
    })
}

#[derive(Default, Debug)]
struct Figures {
    injections: usize,
    detected: usize,
    benign: usize,
    flagged: usize,
    long_benign_bytes: usize,
    long_clean_bytes: usize,
    missed: Vec<String>,
    false_positives: Vec<String>,
}

impl Figures {
    fn recall(&self) -> f64 {
        self.detected as f64 / self.injections.max(1) as f64
    }
    fn fp_rate(&self) -> f64 {
        self.flagged as f64 / self.benign.max(1) as f64
    }
    fn locality(&self) -> f64 {
        self.long_clean_bytes as f64 / self.long_benign_bytes.max(1) as f64
    }
}

fn measure(split: &str) -> Figures {
    let mut f = Figures::default();
    for s in corpus(split) {
        let spans = spans::suspect_spans(&s.text);
        check_well_formed(&s.text, &spans);
        let injected = !s.must.is_empty();
        if injected {
            f.injections += 1;
            if detected(&s, &spans) {
                f.detected += 1;
            } else {
                f.missed.push(format!("{}:{}", s.file, s.id));
            }
        } else {
            f.benign += 1;
            if !spans.is_empty() {
                f.flagged += 1;
                let shown: Vec<&str> = spans.iter().map(|r| &s.text[r.clone()]).collect();
                f.false_positives.push(format!("{}:{} {:?}", s.file, s.id, shown));
            }
        }
        if let (Kind::Long, Some(region)) = (s.kind, &s.region) {
            let clean = |r: Range<usize>| -> usize { r.filter(|b| !spans.iter().any(|sp| sp.contains(b))).count() };
            f.long_benign_bytes += s.text.len() - region.len();
            f.long_clean_bytes += clean(0..region.start) + clean(region.end..s.text.len());
        }
    }
    f
}

fn report(split: &str, f: &Figures) {
    println!(
        "spans corpus {split}: recall {}/{} ({:.1}%), benign false positives {}/{} ({:.1}%), \
         locality {}/{} benign bytes of long documents clean ({:.1}%)",
        f.detected,
        f.injections,
        100.0 * f.recall(),
        f.flagged,
        f.benign,
        100.0 * f.fp_rate(),
        f.long_clean_bytes,
        f.long_benign_bytes,
        100.0 * f.locality(),
    );
    for m in &f.missed {
        println!("  missed: {m}");
    }
    for m in &f.false_positives {
        println!("  false positive: {m}");
    }
}

/// Spans are sorted, disjoint, non-empty, in bounds and on char boundaries.
fn check_well_formed(text: &str, spans: &[Range<usize>]) {
    let mut last_end = 0usize;
    for (i, r) in spans.iter().enumerate() {
        assert!(r.start < r.end, "empty or reversed span {r:?}");
        assert!(r.end <= text.len(), "span {r:?} past the end ({})", text.len());
        assert!(text.is_char_boundary(r.start) && text.is_char_boundary(r.end), "span {r:?} splits a char");
        assert!(i == 0 || r.start > last_end, "spans {spans:?} overlap, touch or are unsorted");
        last_end = r.end;
    }
}

#[test]
fn dev_figures() {
    let f = measure("dev");
    report("dev", &f);
    let _ = MAX_SCANNED_BYTES;
    let _ = scan::scan_text;
}

#[test]
fn debug_one() {
    let id = std::env::var("SPANS_ID").unwrap_or_default();
    for split in ["dev", "heldout", "heldout2"] {
        for s in corpus(split) {
            if s.id == id {
                for l in spans::debug_explain(&s.text) {
                    println!("{l}");
                }
                println!("SPANS {:?}", spans::suspect_spans(&s.text));
                println!("REGION {:?} len {}", s.region, s.text.len());
            }
        }
    }
}

#[test]
fn heldout_figures() {
    let f = measure("heldout");
    report("heldout", &f);
}

#[test]
fn heldout2_figures() {
    let f = measure("heldout2");
    report("heldout2", &f);
}
