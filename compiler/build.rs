//! Generates the parser from `src/grammar.lalrpop` into OUT_DIR.
fn main() {
    if let Err(error) = lalrpop::Configuration::new().set_out_dir(std::env::var("OUT_DIR").unwrap_or_default()).process_file("src/grammar.lalrpop") {
        eprintln!("lalrpop failed: {error}");
        std::process::exit(1);
    }
    println!("cargo:rerun-if-changed=src/grammar.lalrpop");
}
