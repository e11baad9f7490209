//! Parse throughput on a large generated model (run: `cargo bench -p cairn-compiler --bench parse`).
//!
//! The model is generated deterministically in the Inmanta style: typedefs, entities with
//! inheritance and attributes of every type form with defaults, relations, indexes,
//! implementations (for, if/elif/else, assignments, constructors, plugin calls, f-strings,
//! `{{ }}` interpolation, comprehensions, lookups, conditionals), implement-using-when,
//! comments and docstrings. It must parse with zero errors. Then lexing alone and lexing plus
//! parsing are timed over several iterations; the best and the median are printed as lines/s
//! and MB/s. The target is 1,000,000 lines/s for lex+parse on one core.
//!
//! Options (environment): `BENCH_BLOCKS` (default 500, about 105 lines each),
//! `BENCH_ITERS` (default 15), `BENCH_DUMP=path` writes the generated model out,
//! `BENCH_ONLY=lex|parse` times one of the two (for profiling).

use cairn_compiler::lexer::tokenize;
use cairn_compiler::{parse, FileId, Interner};
use std::fmt::Write;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// A tiny deterministic generator (64-bit LCG), so the model varies without a randomness crate.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const WORDS: &[&str] = &["web", "db", "cache", "proxy", "queue", "auth", "mail", "dns", "backup", "monitor", "log", "api"];
const TYPES: &[&str] = &["string", "int", "float", "bool", "number", "dict", "list", "any"];

/// One section of the model: two typedefs, two entities, relations, indexes, two
/// implementations, implements and a few top-level statements (about 105 lines).
fn block(out: &mut String, i: usize, rng: &mut Lcg) {
    let w = rng.pick(WORDS);
    let w2 = rng.pick(WORDS);
    let port = 1024 + rng.below(60000);
    let fields = 1 + rng.below(3);
    let _ = write!(
        out,
        r#"
################################################################################
# Section {i}: the {w} tier
################################################################################

typedef port_{i} as int matching self > 0 and self < 65536
typedef name_{i} as string matching /^[a-z][a-z0-9_-]{{0,62}}\.{w}$/
typedef mode_{i} as string matching self in ["ro", "rw", "none"] or self == "{w2}"

entity Base{i} extends std::Entity:
    """
    The base of the {w} tier, number {i}.

    Attributes are documented here; {{{{ name }}}} stays literal in a docstring.
    """
    string name
    int port = {port}
    float weight = {weight}
    bool enabled = true
    number ratio = -0.25
    string[] tags = ["{w}", "{w2}", "tier-{i}"]
    int[]? ports = null
    dict labels = {{"env": "prod", "tier": "{w}", "rank": {rank}}}
    dict? extra = null
    any payload = null
    string? description = undef
    ip::ip address = "10.{a}.{b}.1"
    list items = [1, 2.5, "three", true, null, [4, 5], {{"six": 6}}]
    {t1}? first_{i} = null
    {t2}[]? second_{i} = null
end

entity Service{i} extends Base{i}, std::PurgeableResource:
    """Service {i} of the {w} tier."""
    string path = '/srv/{w}/service_{i}'
    port_{i} listen = {port}
    mode_{i} mode = "rw"
    bool managed = true
    float? timeout = 2.5
end

Base{i}.services [0:] -- Service{i}.base [1]
Service{i}.peers [0:{fields}] -- Service{i}
Service{i}.host [1] -- std::Host
Service{i}.backends [:{fields}] -- Base{i}.frontend [0:1]
index Base{i}(name)
index Service{i}(name, path)

implementation setup_{i} for Service{i}:
    """Configure service {i}: files, peers and checks."""
    # derived values
    total = port + {fields} * 2
    label = "svc-{{{{ name }}}}-{{{{ host.name }}}}"
    full = f"{{name}}:{{port:>5}} on {{host.name!r}} ({{{{literal}}}})"
    conf = std::template("{w}/service.conf.j2")
    self.description = "Service {{{{name}}}} in {{{{ path }}}}\n\tmanaged by cairn"
    for p in peers:
        if p.port == port and p.enabled:
            std::print(f"peer {{p.name}} shares port {{port}}")
        elif p.weight > weight or not p.enabled:
            p.ports = [x * 2 for x in ports if x > 1024]
        else:
            p.labels = {{"peer": p.name, "of": name, "weight": weight * 2}}
        end
    end
    found = Service{i}[name=name, path=path]
    same = self.peers[name="{w}"]
    env = labels["env"]
    port_ok = port > 1024 ? "high" : "low"
    std::ConfigFile(host=host, path=path, content=conf, owner="root", mode=644, **extra)
    names = [s.name for s in base.services if s.enabled for t in s.tags if t != "{w2}"]
    has_description = description is defined
    score = ratio * 100 / 4 % 3 + 2 ** 3 - 1
    membership = "{w}" in tags and "{w2}" not in tags
    self.backends += Base{i}(name="backend-{i}", port={port}, tags=["{w}"])
    r = r"C:\raw\{w}\{i}"
    triple = """
    Line one of {{{{ name }}}}
    line two, ends here"""
end

implementation firewall_{i} for Base{i}:
    rules = std::key_sort([{{"port": port, "proto": "tcp"}}, {{"port": port + 1, "proto": "udp"}}], "port")
    for rule in rules:
        fw::Rule(host=std::get_env("HOST", "localhost"), port=rule["port"], proto=rule["proto"])
    end
    if not enabled:
        std::print("disabled: {{{{ name }}}}")
    end
end

implement Base{i} using firewall_{i} when enabled
implement Service{i} using setup_{i}, parents when enabled and port != 0
implement Service{i} using std::none when not managed  # nothing to do then

// top-level instances
b{i} = Base{i}(name="base-{i}", port={port})
s{i} = Service{i}(name="s{i}", host=std::Host(name="host-{i}", os=std::linux), base=b{i}, path="/srv/{i}")
s{i}.peers = [Service{i}(name="peer-{i}-{{{{ x }}}}", host=s{i}.host, base=b{i}, path="/p/{i}")]
"#,
        weight = rng.below(100) as f64 / 8.0,
        rank = rng.below(10),
        a = rng.below(256),
        b = rng.below(256),
        t1 = rng.pick(TYPES),
        t2 = rng.pick(TYPES),
    );
}

fn generate(blocks: usize) -> String {
    let mut out = String::from(
        r#""""
A large generated model for the parse benchmark.
"""
import std
import ip
import fw
import net::services as svc
"#,
    );
    let mut rng = Lcg(0x5eed_cafe);
    for i in 0..blocks {
        block(&mut out, i, &mut rng);
    }
    out
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Best and median time of `run` over `iterations` runs after one warm-up run (none at all
/// when `iterations` is 0). What `run` returns is dropped outside the timed region.
fn measure<T>(iterations: usize, mut run: impl FnMut() -> T) -> (Duration, Duration) {
    if iterations == 0 {
        return (Duration::ZERO, Duration::ZERO);
    }
    drop(run()); // warm-up
    let mut times: Vec<Duration> = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            let result = run();
            let elapsed = start.elapsed();
            drop(result);
            elapsed
        })
        .collect();
    let best = times.iter().copied().min().unwrap_or_default();
    (best, median(&mut times))
}

fn print_row(name: &str, time: Duration, lines: usize, bytes: usize) {
    let seconds = time.as_secs_f64();
    println!(
        "  {name:<16} {:>9.2} ms  {:>12.0} lines/s  {:>8.1} MB/s",
        seconds * 1e3,
        lines as f64 / seconds,
        bytes as f64 / seconds / 1e6
    );
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: then just check once.
    let benching = std::env::args().any(|a| a == "--bench");
    let blocks = env_usize("BENCH_BLOCKS", 500);
    let iterations = if benching { env_usize("BENCH_ITERS", 15).max(1) } else { 1 };

    let source = generate(blocks);
    if let Ok(path) = std::env::var("BENCH_DUMP") {
        if let Err(e) = std::fs::write(&path, &source) {
            eprintln!("cannot write {path}: {e}");
        }
    }
    let lines = source.lines().count();
    let bytes = source.len();

    let mut interner = Interner::new();
    let parsed = parse(&source, FileId(0), &mut interner);
    if parsed.has_errors() {
        for error in parsed.lex_errors.iter().take(10) {
            eprintln!("lexical error at {:?}: {:?}", error.span.range(), error.kind);
        }
        for error in parsed.syntax_errors.iter().take(10) {
            eprintln!("syntax error at {:?}: {:?}", error.span.range(), error.kind);
        }
        panic!("the generated model has {} errors", parsed.error_count());
    }
    let statements = parsed.module.statements.len();
    drop(parsed);

    // The results are dropped after the clock stops: freeing the tree is not parsing.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let mut token_count = 0;
    let lex = measure(if only == "parse" { 0 } else { iterations }, || {
        let mut interner = Interner::new();
        let mut errors = Vec::new();
        let tokens = tokenize(black_box(&source), FileId(0), &mut interner, &mut errors);
        token_count = tokens.len();
        black_box(&tokens);
        tokens
    });
    let full = measure(if only == "lex" { 0 } else { iterations }, || {
        let mut interner = Interner::new();
        let parsed = parse(black_box(&source), FileId(0), &mut interner);
        black_box(&parsed);
        (parsed, interner)
    });

    println!(
        "parse benchmark: {lines} lines, {bytes} bytes ({:.2} MB), {token_count} tokens, {statements} top-level statements; {iterations} iterations",
        bytes as f64 / 1e6
    );
    if !lex.0.is_zero() {
        print_row("lex best", lex.0, lines, bytes);
        print_row("lex median", lex.1, lines, bytes);
    }
    if !full.0.is_zero() {
        print_row("lex+parse best", full.0, lines, bytes);
        print_row("lex+parse median", full.1, lines, bytes);
        let target = 1_000_000.0;
        let rate = lines as f64 / full.1.as_secs_f64();
        println!(
            "  lex+parse median: {:.0} lines/s {} the target of {target:.0} lines/s",
            rate,
            if rate >= target { "meets" } else { "MISSES" }
        );
    }
}
