//! Fuzz-style property tests for the front end (stable Rust has no cargo-fuzz, so proptest
//! generates the inputs). For every input, `parse`:
//! - never panics and terminates (a watchdog aborts the process, printing the input, if one
//!   case runs longer than `FUZZ_HANG_SECS`, default 20 s, and parsing it again does too);
//! - reports every error with a span inside the source, on char boundaries, in the right file;
//! - is deterministic: parsing the same text twice gives the same errors and the same tree;
//! - reports the syntax errors sorted and distinct, each "unexpected token" naming an open
//!   block whose keyword stands before it;
//! - does not depend on the interner: a file parsed after others (its names and `dict`
//!   already interned, under other numbers) gives the same tree, name for name;
//! - ignores trailing trivia: the text with a newline and a comment appended parses to the
//!   same tree and errors;
//! - and the lexer's marks (brackets and block keywords, which the error messages use) are in
//!   order and each stands at its token.
//!
//! Inputs are fully random unicode, token soup from a weighted alphabet of the language's
//! tokens, and mutations (byte ranges and rough tokens deleted, duplicated, swapped, inserted;
//! truncation) of the real corpus: windows of up to 2 KB of whole lines of every `*.cf` under
//! `tests/lang` and `examples`, read when the test runs, plus a few built-in seeds so the
//! mutation test has material even when those are empty. A hang writes its input to
//! `$TMPDIR/cairn-fuzz-hang-<pid>.cf`; a failure prints proptest's minimal input.
//!
//! The default case counts keep a debug run well under 20 s. For a long session:
//! `PROPTEST_CASES=200000 cargo test --release -p cairn-compiler --test fuzz -- --nocapture`
//! (`PROPTEST_CASES` is the case count of each property; `PROPTEST_RNG_SEED` fixes the seed).

use cairn_compiler::error::SyntaxErrorKind;
use cairn_compiler::lexer::{tokenize, Lexer, MarkKind};
use cairn_compiler::{parse, FileId, Interner, Parsed, Span};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// A file id other than 0, so a span built with the wrong file shows up.
const FILE: FileId = FileId(7);

// ---------- configuration ----------

/// `PROPTEST_CASES` when set, else the default for this property.
fn config(default_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default_cases);
    Config {
        cases,
        // A failure is printed with its minimal input; no regression file is written into the
        // source tree (CI runs in a fresh clone anyway).
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------- statistics ----------

/// What one property ran, printed at its end (see with `-- --nocapture`).
struct Stats {
    cases: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    started: Instant,
}

impl Stats {
    fn new() -> Self {
        Stats { cases: AtomicU64::new(0), bytes: AtomicU64::new(0), errors: AtomicU64::new(0), started: Instant::now() }
    }

    fn count(&self, source: &str, errors: usize) {
        self.cases.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(source.len() as u64, Ordering::Relaxed);
        self.errors.fetch_add(errors as u64, Ordering::Relaxed);
    }

    fn report(&self, name: &str) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let cases = self.cases.load(Ordering::Relaxed);
        println!(
            "fuzz {name}: {cases} inputs, {} bytes, {} errors reported, in {elapsed:.1} s ({:.0} inputs/s)",
            self.bytes.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
            cases as f64 / elapsed.max(1e-9)
        );
    }
}

// ---------- hang watchdog ----------

/// The case each test thread is running, with its start time.
type Running = Mutex<HashMap<ThreadId, (Instant, Arc<str>)>>;

fn running() -> &'static Running {
    static RUNNING: OnceLock<Running> = OnceLock::new();
    RUNNING.get_or_init(|| {
        let limit = Duration::from_secs(std::env::var("FUZZ_HANG_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(20));
        std::thread::spawn(move || watchdog(limit));
        Mutex::new(HashMap::new())
    })
}

/// Aborts the process when a case runs too long: a hang cannot be caught like a panic, and
/// proptest has no timeout without its `fork` feature. Writes the input to stderr directly
/// (not through `eprintln!`, which the test harness captures) and to a file in the temp dir.
///
/// A case can also overrun because the machine stalled (a long session once saw a 276-byte
/// input "hang" while the process got 28% of a core and waited on page faults). So an overrun
/// is confirmed first: the input is parsed again on a fresh thread. Parsing is deterministic,
/// so a real hang hangs again; if the new parse finishes within the limit, the case's clock
/// is restarted and a note is printed.
fn watchdog(limit: Duration) {
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let stuck = {
            let slots = running().lock().unwrap_or_else(|e| e.into_inner());
            slots.iter().find(|(_, (start, _))| start.elapsed() > limit).map(|(id, (_, input))| (*id, input.clone()))
        };
        let Some((thread, input)) = stuck else { continue };
        let (done, finished) = std::sync::mpsc::channel();
        let copy = input.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            parse_fresh(&copy);
            let _ = done.send(started.elapsed());
        });
        let mut err = std::io::stderr();
        if let Ok(took) = finished.recv_timeout(limit) {
            let _ = writeln!(
                err,
                "\nfuzz watchdog: a case ran over {limit:?} but parses again in {took:?}: the machine stalled, not the parser"
            );
            let mut slots = running().lock().unwrap_or_else(|e| e.into_inner());
            if let Some(slot) = slots.get_mut(&thread) {
                if Arc::ptr_eq(&slot.1, &input) {
                    slot.0 = Instant::now();
                }
            }
            continue;
        }
        let path = std::env::temp_dir().join(format!("cairn-fuzz-hang-{}.cf", std::process::id()));
        let _ = std::fs::write(&path, input.as_bytes());
        let shown: String = input.chars().take(2000).collect();
        let _ = writeln!(
            err,
            "\nHANG: parse ran over {limit:?}, twice, on a {}-byte input, written to {}; it starts:\n{shown:?}",
            input.len(),
            path.display()
        );
        std::process::abort();
    }
}

/// Runs `f` for `input` under the watchdog.
fn watched<R>(input: &str, f: impl FnOnce() -> R) -> R {
    let id = std::thread::current().id();
    running().lock().unwrap_or_else(|e| e.into_inner()).insert(id, (Instant::now(), Arc::from(input)));
    let result = f();
    running().lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    result
}

// ---------- the properties ----------

fn check_span(source: &str, span: Span, what: &str) -> Result<(), TestCaseError> {
    let (start, end) = (span.start as usize, span.end as usize);
    prop_assert_eq!(span.file, FILE, "{} span in the wrong file", what);
    prop_assert!(start <= end, "{} span {}..{} is reversed", what, start, end);
    prop_assert!(end <= source.len(), "{} span {}..{} is past the end ({} bytes)", what, start, end, source.len());
    prop_assert!(
        source.is_char_boundary(start) && source.is_char_boundary(end),
        "{} span {}..{} is not on char boundaries",
        what,
        start,
        end
    );
    Ok(())
}

fn parse_fresh(source: &str) -> Parsed {
    let mut interner = Interner::new();
    parse(source, FILE, &mut interner)
}

/// Names that an earlier file of a session would have interned, `dict` among them, so that a
/// file parsed after them gets other symbol numbers.
const EARLIER_NAMES: &[&str] = &["std", "Host", "name", "x", "dict", "self", "string", "Entity", "a", "b"];

/// The tree's `Debug` text with every symbol replaced by its name: comparable across
/// interners.
fn resolved_tree(parsed: &Parsed, interner: &Interner) -> String {
    static SYMBOL: OnceLock<regex::Regex> = OnceLock::new();
    let symbol = SYMBOL.get_or_init(|| regex::Regex::new(r"Symbol\((\d+)\)").expect("valid regex"));
    let text = format!("{:?}", parsed.module);
    symbol
        .replace_all(&text, |captures: &regex::Captures<'_>| {
            let index: usize = captures[1].parse().unwrap_or(usize::MAX);
            format!("{:?}", interner.resolve_index(index).unwrap_or("<unknown symbol>"))
        })
        .into_owned()
}

/// Every property but the lexer's (see the module header).
fn check_source(source: &str, stats: &Stats) -> Result<(), TestCaseError> {
    let (first, second) = watched(source, || (parse_fresh(source), parse_fresh(source)));
    stats.count(source, first.error_count());
    for error in &first.lex_errors {
        check_span(source, error.span, "lexical error")?;
    }
    for error in &first.syntax_errors {
        check_span(source, error.span, "syntax error")?;
    }
    prop_assert_eq!(&first.lex_errors, &second.lex_errors, "lexical errors differ between two runs");
    prop_assert_eq!(&first.syntax_errors, &second.syntax_errors, "syntax errors differ between two runs");
    prop_assert!(first.module == second.module, "syntax trees differ between two runs");

    for pair in first.syntax_errors.windows(2) {
        prop_assert!((pair[0].span.start, pair[0].span.end) <= (pair[1].span.start, pair[1].span.end), "syntax errors out of order");
        prop_assert!(pair[0] != pair[1], "a syntax error is reported twice");
    }
    for error in &first.syntax_errors {
        if let SyntaxErrorKind::UnexpectedToken { open_block: Some(block), .. } | SyntaxErrorKind::UnexpectedEof { open_block: Some(block), .. } =
            &error.kind
        {
            check_span(source, block.span, "open block")?;
            prop_assert!(block.span.start < error.span.start, "the open block is not before its error");
            let keyword = block.keyword.split(' ').next().unwrap_or_default();
            prop_assert_eq!(&source[block.span.range()], keyword, "the open block's span is not its keyword");
        }
    }

    // Interner independence: the same file parsed as the next one of a session.
    let (fresh_tree, seeded_tree) = watched(source, || {
        let mut fresh = Interner::new();
        let alone = parse(source, FILE, &mut fresh);
        let mut seeded = Interner::new();
        for name in EARLIER_NAMES {
            seeded.intern(name);
        }
        let after_others = parse(source, FILE, &mut seeded);
        (resolved_tree(&alone, &fresh), resolved_tree(&after_others, &seeded))
    });
    prop_assert_eq!(fresh_tree, seeded_tree, "the tree depends on what the interner held before");

    // Trailing trivia changes nothing (unless a `"""` left open takes it in).
    let swallowing = first.lex_errors.iter().any(|e| e.kind == cairn_compiler::error::LexErrorKind::UnterminatedTripleQuote);
    if !swallowing {
        let padded = format!("{source}\n# a trailing comment\n");
        let again = watched(&padded, || parse_fresh(&padded));
        prop_assert_eq!(&first.lex_errors, &again.lex_errors, "trailing trivia changes the lexical errors");
        prop_assert_eq!(&first.syntax_errors, &again.syntax_errors, "trailing trivia changes the syntax errors");
        prop_assert!(first.module == again.module, "trailing trivia changes the tree");
    }
    Ok(())
}

// ---------- input generators ----------

/// Tokens of the language and the characters that stress the lexer, by weight.
fn token() -> impl Strategy<Value = String> {
    const KEYWORDS: &[&str] = &[
        "typedef", "as", "matching", "entity", "extends", "end", "in", "implementation", "for", "index", "implement",
        "using", "when", "and", "or", "not", "true", "false", "import", "is", "defined", "dict", "null", "undef",
        "parents", "if", "else", "elif", "self", "std", "string", "int", "float", "bool", "number", "list", "any",
    ];
    const OPERATORS: &[&str] = &[
        "::", "--", "->", "<-", "==", "!=", "<=", ">=", "<", ">", "+=", "=", "+", "-", "**", "*", "/", "%", "?", ":",
        ".", ",", "[", "]", "(", ")", "{", "}", "!", ";", "&", "|", "@", "$", "`", "~", "^",
    ];
    const STRINGY: &[&str] = &[
        "\"", "'", "\"\"\"", "\"\"\"\"", "{{", "}}", "{", "}", "f\"", "f'", "r\"", "r'", "\\", "\\n", "\\x4", "\\x41",
        "\\u00e", "\\u00e9", "\\U0001F600", "\\U00110000", "\\777", "\\\n", "{{ a.b }}", "{x!r:>10}", "{a:{b}}", "#",
        "//", "/*",
    ];
    const SPACE: &[&str] = &["\n", "\n", "\r\n", "\t", "\u{c}", "\r"];
    const ODD: &[&str] = &["é", "€", "𝄞", "\u{0}", "\u{feff}", "\u{2028}", "ß", "İ", "\u{7f}", "\u{fffd}"];
    prop_oneof![
        12 => prop::sample::select(KEYWORDS).prop_map(str::to_string),
        10 => "[a-zA-Z_][a-zA-Z0-9_-]{0,6}",
        12 => prop::sample::select(OPERATORS).prop_map(str::to_string),
        10 => prop::sample::select(STRINGY).prop_map(str::to_string),
        6 => prop::sample::select(SPACE).prop_map(str::to_string),
        6 => "-?[0-9]{1,4}(\\.[0-9]{0,3})?",
        1 => Just("99999999999999999999".to_string()),
        2 => "\"[a-z {}.\\\\]{0,10}\"",
        2 => prop::sample::select(ODD).prop_map(str::to_string),
    ]
}

fn token_soup() -> impl Strategy<Value = String> {
    let separator = prop::sample::select(&[" ", " ", " ", "", "\n", "  "][..]);
    prop::collection::vec((token(), separator), 0..160)
        .prop_map(|parts| parts.into_iter().flat_map(|(t, s)| [t, s.to_string()]).collect())
}

/// Small realistic models, so the mutation property has material even when the corpus
/// directories are still empty.
const SEEDS: &[&str] = &[
    r#""""A module docstring with {{ braces }}."""
import std
import ip::services as svc

typedef port as int matching self > 0 and self < 65536
typedef name_t as string matching /^[a-z][a-z0-9_-]*\/x$/

entity Host extends std::Entity, Base:
    """A host; f"{not_a_field}"."""
    string name
    int? port = 22
    float[] weights = [1.0, -0.5, .5]
    dict tags = {"a": 1, "b": [true, false, null]}
    std::ip? address = null
    bool active = true
    string role = undef
end

Host.files [0:] -- File.host [1]
Host.peer [:3] -- Host
index Host(name)

implementation web for Host:
    self.name = "host-{{ name }}"
    x = f"{name!r:>10} {{literal}} {a.b}"
    for f in files:
        if f.size > 10 and not f.empty:
            std::print(f.path)
        elif f.path in ["/a", "/b"] or f.size is defined:
            y = f.size ** 2 % 7 - 5-1
        else:
            z = f.host.name == "x" ? 1 : 2
        end
    end
    l = [p * 2 for p in ports if p != 0 for q in other]
    files += File(path=r"C:\raw", host=self, **extra)
    h = Host[name="x"]
    v = d["k"]
    w = self.files[path="/a"]
end

implement Host using web, parents when active
implement Host using std::none
"#,
    "entity A:\n  string x = 'it''s'\nend\nimplement A using std::none\na = A(x=\"\"\"multi\nline {{ x }}\"\"\")\n",
    "typedef t as string matching //comment\ntypedef u as string matching /a\\/b/ # c\nx = 7 // 2\n",
    "x = 5-1\ny = a-b\nz = -.5 + 1.e\nc = 99999999999999999999\n",
    "s = \"\\x4g \\u12 \\U0001F600 \\777 \\q\"\nf = f\"{1+2} } {\" \n\"\"\"unterminated\n",
];

/// Every `*.cf` under `tests/lang` and `examples`, read once per run, plus the seeds.
fn corpus() -> &'static [String] {
    static CORPUS: OnceLock<Vec<String>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        for dir in ["tests/lang", "examples"] {
            collect_cf(&root.join(dir), &mut files);
        }
        files.sort();
        let mut texts: Vec<String> = SEEDS.iter().map(|s| s.to_string()).collect();
        // A file may vanish or be half-written while others edit the corpus: skip what fails.
        texts.extend(files.iter().filter_map(|path| std::fs::read_to_string(path).ok()));
        println!("fuzz corpus: {} files + {} seeds", files.len(), SEEDS.len());
        texts
    })
}

fn collect_cf(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_cf(&path, out);
        } else if path.extension().is_some_and(|e| e == "cf") {
            out.push(path);
        }
    }
}

/// One edit of a corpus file. Positions are `Index`es so they shrink and fit any length.
#[derive(Clone, Debug)]
enum Mutation {
    DeleteBytes(Index, usize),
    DuplicateBytes(Index, usize),
    SwapBytes(Index, Index, usize),
    InsertBytes(Index, Vec<u8>),
    InsertToken(Index, String),
    DeleteTokens(Index, usize),
    DuplicateTokens(Index, usize),
    SwapTokens(Index, Index),
    ReplaceToken(Index, String),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let index = any::<Index>;
    prop_oneof![
        3 => (index(), 1..48usize).prop_map(|(i, n)| Mutation::DeleteBytes(i, n)),
        2 => (index(), 1..48usize).prop_map(|(i, n)| Mutation::DuplicateBytes(i, n)),
        2 => (index(), index(), 1..32usize).prop_map(|(a, b, n)| Mutation::SwapBytes(a, b, n)),
        2 => (index(), prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(i, b)| Mutation::InsertBytes(i, b)),
        4 => (index(), token()).prop_map(|(i, t)| Mutation::InsertToken(i, t)),
        4 => (index(), 1..4usize).prop_map(|(i, n)| Mutation::DeleteTokens(i, n)),
        2 => (index(), 1..6usize).prop_map(|(i, n)| Mutation::DuplicateTokens(i, n)),
        3 => (index(), index()).prop_map(|(a, b)| Mutation::SwapTokens(a, b)),
        4 => (index(), token()).prop_map(|(i, t)| Mutation::ReplaceToken(i, t)),
        1 => index().prop_map(Mutation::Truncate),
    ]
}

/// Rough tokens of `text`: runs of word characters, runs of blanks, and single other bytes.
/// Cheaper than the real lexer and independent of it, so a lexer bug cannot hide itself;
/// cutting inside strings and multi-byte characters is welcome here.
fn rough_tokens(text: &[u8]) -> Vec<(usize, usize)> {
    let class = |b: u8| match b {
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => 0,
        b' ' | b'\t' | b'\n' | b'\r' => 1,
        _ => 2,
    };
    let mut tokens = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let c = class(text[start]);
        let mut end = start + 1;
        if c != 2 {
            while end < text.len() && class(text[end]) == c {
                end += 1;
            }
        }
        if c != 1 {
            tokens.push((start, end));
        }
        start = end;
    }
    tokens
}

fn apply(text: &mut Vec<u8>, mutation: &Mutation) {
    let len = text.len();
    let range = |i: &Index, n: usize| {
        let start = i.index(len + 1);
        (start, (start + n).min(len))
    };
    match mutation {
        Mutation::DeleteBytes(i, n) => {
            let (a, b) = range(i, *n);
            text.drain(a..b);
        }
        Mutation::DuplicateBytes(i, n) => {
            let (a, b) = range(i, *n);
            let copy = text[a..b].to_vec();
            text.splice(b..b, copy);
        }
        Mutation::SwapBytes(i, j, n) => {
            let (a, b) = range(i, *n);
            let (c, d) = range(j, *n);
            let ((a, b), (c, d)) = if a <= c { ((a, b), (c, d)) } else { ((c, d), (a, b)) };
            if b <= c {
                let second = text[c..d].to_vec();
                let first = text[a..b].to_vec();
                text.splice(c..d, first);
                text.splice(a..b, second);
            }
        }
        Mutation::InsertBytes(i, bytes) => {
            let at = i.index(len + 1);
            text.splice(at..at, bytes.iter().copied());
        }
        Mutation::Truncate(i) => text.truncate(i.index(len + 1)),
        token_mutation => {
            let tokens = rough_tokens(text);
            if tokens.is_empty() {
                if let Mutation::InsertToken(_, t) | Mutation::ReplaceToken(_, t) = token_mutation {
                    text.extend_from_slice(t.as_bytes());
                }
                return;
            }
            let count = tokens.len();
            let span = |i: &Index, n: usize| {
                let first = i.index(count);
                let last = (first + n - 1).min(count - 1);
                (tokens[first].0, tokens[last].1)
            };
            match token_mutation {
                Mutation::InsertToken(i, t) => {
                    // Before a token, with a space or not, as the soup does.
                    let at = tokens[i.index(count)].0;
                    let mut bytes = t.as_bytes().to_vec();
                    if i.index(2) == 0 {
                        bytes.push(b' ');
                    }
                    text.splice(at..at, bytes);
                }
                Mutation::DeleteTokens(i, n) => {
                    let (a, b) = span(i, *n);
                    text.drain(a..b);
                }
                Mutation::DuplicateTokens(i, n) => {
                    let (a, b) = span(i, *n);
                    let mut copy = text[a..b].to_vec();
                    copy.push(b' ');
                    text.splice(a..a, copy);
                }
                Mutation::SwapTokens(i, j) => {
                    let (a, b) = tokens[i.index(count)];
                    let (c, d) = tokens[j.index(count)];
                    let ((a, b), (c, d)) = if a <= c { ((a, b), (c, d)) } else { ((c, d), (a, b)) };
                    if b <= c {
                        let second = text[c..d].to_vec();
                        let first = text[a..b].to_vec();
                        text.splice(c..d, first);
                        text.splice(a..b, second);
                    }
                }
                Mutation::ReplaceToken(i, t) => {
                    let (a, b) = tokens[i.index(count)];
                    text.splice(a..b, t.bytes());
                }
                _ => {}
            }
        }
    }
}

/// Mutations work on at most this many bytes of a corpus file: a window of whole lines.
/// Small inputs give more cases per second, and keep a debug run fast even for a big
/// generated model in `examples` (whose mutants can have thousands of errors, and errors
/// are not cheap: see `error_heavy_input_parses_in_linear_time`).
const WINDOW: usize = 2 * 1024;

/// A window of whole lines of `text`, at most `WINDOW` bytes (or one long line), from the
/// line where `start` falls.
fn window(text: &str, start: &Index) -> String {
    if text.len() <= WINDOW {
        return text.to_string();
    }
    let at = start.index(text.len());
    let from = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let limit = (from + WINDOW).min(text.len());
    let to = match text[from..limit].rfind('\n') {
        Some(i) if limit < text.len() => from + i + 1,
        _ => text[limit..].find('\n').map_or(text.len(), |i| limit + i + 1),
    };
    text[from..to].to_string()
}

/// A window of a corpus file with up to eight mutations; invalid UTF-8 left by byte edits
/// becomes U+FFFD.
fn mutated_corpus() -> impl Strategy<Value = String> {
    (any::<Index>(), any::<Index>(), prop::collection::vec(mutation(), 1..8)).prop_map(|(file, start, mutations)| {
        let corpus = corpus();
        let mut text = window(&corpus[file.index(corpus.len())], &start).into_bytes();
        for m in &mutations {
            apply(&mut text, m);
        }
        String::from_utf8_lossy(&text).into_owned()
    })
}

// ---------- the tests ----------

/// Runs [`check_source`] over `strategy` (1,000 cases unless `PROPTEST_CASES` says otherwise)
/// and reports the figures under `name`.
fn check_property(name: &str, strategy: impl Strategy<Value = String>) {
    let stats = Stats::new();
    let mut runner = proptest::test_runner::TestRunner::new(config(1000));
    let result = runner.run(&strategy, |source| check_source(&source, &stats));
    stats.report(name);
    if let Err(error) = result {
        panic!("{error}");
    }
}

#[test]
fn random_unicode() {
    let strategy = prop_oneof![
        any::<String>(),
        prop::collection::vec(any::<char>(), 0..400).prop_map(|c| c.into_iter().collect::<String>()),
        "[ -~\\n\\t]{0,400}",
    ];
    check_property("random_unicode", strategy);
}

#[test]
fn token_soups() {
    check_property("token_soups", token_soup());
}

#[test]
fn mutated_corpus_files() {
    check_property("mutated_corpus_files", mutated_corpus());
}

/// Deep nesting of every kind (brackets, dicts, calls, `not`s, `**` and `+` chains, blocks,
/// attribute chains), from shallow to far past the nesting limit, with junk mixed in: the
/// parser must not overflow its stack, and past the limit it must say so.
fn deep_nesting() -> impl Strategy<Value = (String, bool)> {
    let limit = cairn_compiler::nesting::MAX_NESTING;
    let kind = 0usize..9;
    (kind, 1usize..4000, "[ a-z0-9]{0,3}").prop_map(move |(kind, depth, junk)| {
        let text = match kind {
            0 => format!("x = {}1{}\n", "[".repeat(depth), "]".repeat(depth)),
            1 => format!("x = {}1{}\n", "{\"k\": ".repeat(depth), "}".repeat(depth)),
            2 => format!("x = {}1{}\n", "std::f(".repeat(depth), ")".repeat(depth)),
            3 => format!("x = {}true\n", "not ".repeat(depth)),
            4 => format!("x = {}\n", vec!["2"; depth + 1].join(" ** ")),
            5 => format!("x = {}\n", vec!["1"; depth + 1].join(" + ")),
            6 => format!("{}y = 1\n{}", "if true:\n".repeat(depth), "end\n".repeat(depth)),
            7 => format!("x = a{}\n", ".b".repeat(depth)),
            _ => format!("x = {}1{}\n", "[".repeat(depth), "]".repeat(depth / 2)),
        };
        // One level of the statement, one per bracket, block or operand: the tree is deeper
        // than the limit once `depth` is. (Kind 8 leaves brackets open: a syntax error, no tree.)
        (format!("{text}{junk}"), kind < 8 && depth > limit + 1)
    })
}

#[test]
fn deep_nesting_is_refused_not_a_crash() {
    let stats = Stats::new();
    let mut runner = proptest::test_runner::TestRunner::new(config(200));
    let result = runner.run(&deep_nesting(), |(source, too_deep)| {
        let parsed = watched(&source, || parse_fresh(&source));
        stats.count(&source, parsed.error_count());
        let said = parsed.syntax_errors.iter().any(|e| matches!(e.kind, cairn_compiler::error::SyntaxErrorKind::TooDeep { .. } | cairn_compiler::error::SyntaxErrorKind::TooLong { .. }));
        prop_assert!(!too_deep || said, "nested past the limit without a word: {}", &source[..source.len().min(80)]);
        for error in &parsed.syntax_errors {
            check_span(&source, error.span, "error")?;
        }
        Ok(())
    });
    stats.report("deep_nesting");
    if let Err(error) = result {
        panic!("{error}");
    }
}

/// Minimal inputs of failures found by earlier fuzz sessions, kept as regressions.
#[test]
fn known_failures() {
    let stats = Stats::new();
    const CASES: &[&str] = &[
        // An f-string's escape error was reported at an offset shifted by each `}` or `{{`
        // before it, here into the middle of `é` (strings.rs, decode_format).
        "f' \"}\" é\\x4 ' ",
        "f' \"} }\" é \\x4 f' ",
        "f\"{{é\\x4\"",
    ];
    for source in CASES {
        if let Err(error) = check_source(source, &stats) {
            panic!("{error}\ninput: {source:?}");
        }
    }
}

/// Every corpus file itself, unmutated, and its prefixes cut at line ends (every line for a
/// small file, about 50 evenly spread lines for a bigger one): cheap truncation coverage.
/// Files over `PREFIX_LIMIT` are parsed whole only, and files over `WHOLE_LIMIT` (generated
/// scale models) not at all: the benchmark covers that size, and a debug build is slow.
#[test]
fn corpus_files_and_line_prefixes() {
    const PREFIX_LIMIT: usize = 32 * 1024;
    const WHOLE_LIMIT: usize = 256 * 1024;
    let stats = Stats::new();
    for text in corpus() {
        let mut cuts = Vec::new();
        if text.len() <= PREFIX_LIMIT {
            let lines: Vec<usize> = text.match_indices('\n').map(|(i, _)| i).collect();
            let step = lines.len() / 50 + 1;
            cuts.extend(lines.into_iter().step_by(step));
        }
        if text.len() <= WHOLE_LIMIT {
            cuts.push(text.len());
        }
        for cut in cuts {
            if let Err(error) = check_source(&text[..cut], &stats) {
                panic!("{error}\ninput: {:?}", &text[..cut]);
            }
        }
    }
    stats.report("corpus_files_and_line_prefixes");
}

/// The lexer alone over soups: spans in bounds, ordered and on char boundaries (the parser
/// slices the source with them); the marks in order, each at a token of its kind.
#[test]
fn lexer_token_spans() {
    let stats = Stats::new();
    let mut runner = proptest::test_runner::TestRunner::new(config(1000));
    let result = runner.run(&prop_oneof![token_soup(), mutated_corpus()], |source| {
        let mut interner = Interner::new();
        let mut errors = Vec::new();
        let tokens = watched(&source, || tokenize(&source, FILE, &mut interner, &mut errors));
        stats.count(&source, errors.len());
        let mut previous_end = 0;
        for &(start, _, end) in &tokens {
            let (start, end) = (start as usize, end as usize);
            prop_assert!(previous_end <= start && start <= end && end <= source.len(), "bad token span {}..{}", start, end);
            prop_assert!(source.is_char_boundary(start) && source.is_char_boundary(end));
            previous_end = end;
        }
        for error in &errors {
            check_span(&source, error.span, "lexical error")?;
        }
        let marks = {
            let shared = std::cell::RefCell::new(Interner::new());
            let mut ignored = Vec::new();
            let mut lexer = Lexer::new(&source, FILE, &shared, &mut ignored);
            for _ in lexer.by_ref() {}
            lexer.into_marks()
        };
        let starts: std::collections::HashSet<u32> = tokens.iter().map(|(start, _, _)| *start).collect();
        let mut previous = None;
        for mark in &marks {
            let span = mark.span(FILE);
            check_span(&source, span, "mark")?;
            prop_assert!(previous.is_none_or(|p| p < span.start), "marks out of order");
            prop_assert!(starts.contains(&span.start), "a mark at {} is not at a token", span.start);
            let text = &source[span.range()];
            let expected: &[&str] = match mark.kind {
                MarkKind::Open => &["(", "[", "{"],
                MarkKind::Close => &[")", "]", "}"],
                MarkKind::Entity => &["entity"],
                MarkKind::Implementation => &["implementation"],
                MarkKind::For => &["for"],
                MarkKind::If => &["if"],
                MarkKind::End => &["end"],
            };
            prop_assert!(expected.contains(&text), "a {:?} mark stands at {:?}", mark.kind, text);
            previous = Some(span.start);
        }
        Ok(())
    });
    stats.report("lexer_token_spans");
    if let Err(error) = result {
        panic!("{error}");
    }
}

/// Found by fuzzing (slow error-heavy inputs): every syntax error once re-lexed the whole
/// file to find the enclosing block, so a file with E errors cost O(E x size) (16,000 lines
/// of `x = )` took 30 s in release). The block structure now comes from the lexer's marks in
/// one sweep: 8x the errors should cost about 8x the time, not 64x.
#[test]
fn error_heavy_input_parses_in_linear_time() {
    let time = |lines: usize| {
        let source = "x = )\n".repeat(lines);
        let started = Instant::now();
        let parsed = parse_fresh(&source);
        assert_eq!(parsed.syntax_errors.len(), lines);
        started.elapsed()
    };
    let small = time(1_000);
    let large = time(8_000);
    assert!(large < small * 24, "8x the errors took {:.1}x the time ({small:?} then {large:?})", large.as_secs_f64() / small.as_secs_f64());
}
