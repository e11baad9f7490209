//! Generates the parser from `src/grammar.lalrpop` (the only grammar: fast on error-free
//! files, with error recovery for the others) into OUT_DIR.
fn main() {
    let out_dir = std::env::var("OUT_DIR").unwrap_or_default();
    let grammar = "src/grammar.lalrpop";
    if let Err(error) = lalrpop::Configuration::new().set_out_dir(&out_dir).process_file(grammar) {
        eprintln!("lalrpop failed on {grammar}: {error}");
        std::process::exit(1);
    }
    println!("cargo:rerun-if-changed={grammar}");
}
