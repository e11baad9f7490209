//! Generates the parsers from `src/grammar.lalrpop` (the reference grammar, with error
//! recovery) and `src/grammar_fast.lalrpop` (the fast path for files without errors) into
//! OUT_DIR.
fn main() {
    let out_dir = std::env::var("OUT_DIR").unwrap_or_default();
    for grammar in ["src/grammar.lalrpop", "src/grammar_fast.lalrpop"] {
        if let Err(error) = lalrpop::Configuration::new().set_out_dir(&out_dir).process_file(grammar) {
            eprintln!("lalrpop failed on {grammar}: {error}");
            std::process::exit(1);
        }
        println!("cargo:rerun-if-changed={grammar}");
    }
}
