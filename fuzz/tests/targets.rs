//! The fuzz targets, one test each. `scripts/fuzz.sh TARGET DURATION` fuzzes one
//! (`cargo bolero test`, libFuzzer, coverage-guided); plain `cargo test -p tailor-fuzz`
//! replays every corpus and crash file under `tests/__fuzz__/` and then random inputs.

macro_rules! target {
    ($name:ident) => {
        #[test]
        fn $name() {
            bolero::check!()
                .with_iterations(RANDOM_INPUTS)
                .for_each(|input: &[u8]| tailor_fuzz::$name::run(input));
        }
    };
}

/// Random inputs after the corpus under plain `cargo test` (the fuzzer ignores it).
const RANDOM_INPUTS: usize = 500;

target!(segment);
target!(message);
target!(catalog);
target!(condition);
target!(experiment);
target!(definitions);
target!(template);
target!(decide);
target!(token);
