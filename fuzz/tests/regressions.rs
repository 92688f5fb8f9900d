//! One test per finding of the fuzzers, on the input that found it (the same file is kept in
//! the target's `crashes/`, which plain `cargo test` also replays through the target).

use serde_json::Value;
use tailor_core::message::{Envelope, Message, MessageType, parse_message};

fn crash(target: &str, name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/__fuzz__/{target}/crashes/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `message`: an amount with 17 significant digits came back from the stored JSON one unit in
/// the last place off (serde_json's fast float parser), so a profile replayed from the log
/// after a restart could differ from the one folded live. serde_json's `float_roundtrip`
/// makes stored numbers read back exactly.
#[test]
fn message_amounts_read_back_exactly() {
    tailor_fuzz::message::run(&crash(
        "message",
        "crash-2365c9aaa5eda1fd33d3b4c437fba981f5e6305f",
    ));
    for text in [
        "10000000.000044573",
        "0.30000000000000004",
        "1e-7",
        "123456.78901234567",
    ] {
        let body: Value = serde_json::from_str(&format!(
            r#"{{"anonymousId": "a", "event": "e", "properties": {{"price": {text}}}}}"#
        ))
        .unwrap();
        let m = parse_message(body, Some(MessageType::Track), &Envelope::default(), || {
            "m".into()
        })
        .unwrap();
        let back: Message = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back, m, "{text}");
        assert_eq!(
            m.properties["price"].as_f64().map(f64::to_bits),
            text.parse::<f64>().ok().map(f64::to_bits),
            "{text} is not read as the nearest double"
        );
    }
}

/// `experiment`: the same finding in a definition: a variation value of 1.0030999909999999e22
/// was read back as 1.003099991e22, so an experiment saved and loaded after a restart was
/// not the one that was validated.
#[test]
fn experiment_definitions_read_back_exactly() {
    tailor_fuzz::experiment::run(&crash(
        "experiment",
        "crash-a89984c24116662038389683456c867634a6f63e",
    ));
    let json = r#"{"key":"k","variations":[1.0030999909999999e22,0.1,0.7000000000000001],"weights":[0.3333333333333333,0.3333333333333333,0.33333333333333337]}"#;
    let e: tailor_core::experiment::Experiment = serde_json::from_str(json).unwrap();
    let again: tailor_core::experiment::Experiment =
        serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
    assert_eq!(again, e);
    assert_eq!(e.variations[0].as_f64(), Some(1.0030999909999999e22));
}
