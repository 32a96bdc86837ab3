//! Token ids against transformers' CLIPTokenizer (the tokenizers-backed "fast" one).

mod common;

use common::{Reference, tiny_clip};
use memeclip::data::ClipTokenizer;

fn tokenizer() -> ClipTokenizer {
    let json = std::fs::read(tiny_clip().join("tokenizer.json")).unwrap();
    ClipTokenizer::from_bytes(&json, "tokenizer.json", 77).unwrap()
}

#[test]
fn ids_match_transformers_on_every_fixture_text() {
    let reference = Reference::load();
    let tok = tokenizer();
    assert_eq!(reference.texts.len(), reference.input_ids.len());
    for (text, expected) in reference.texts.iter().zip(&reference.input_ids) {
        assert_eq!(&tok.encode(text).unwrap(), expected, "text {text:?}");
    }
}

#[test]
fn sai_prompts_match_the_spec() {
    // Hand-checked ids from shared/spec/memeclip.md §1.4 (real OpenAI BPE vocabulary).
    let tok = tokenizer();
    assert_eq!(
        tok.encode("a photo of a Benign Meme.").unwrap(),
        [49406, 320, 1125, 539, 320, 1465, 2326, 9169, 269, 49407]
    );
    assert_eq!(
        tok.encode("a photo of a Harmful Meme.").unwrap(),
        [49406, 320, 1125, 539, 320, 21725, 9169, 269, 49407]
    );
}

#[test]
fn long_text_keeps_start_first_75_tokens_and_end() {
    let tok = tokenizer();
    let words = "alpha beta gamma delta ".repeat(40);
    let ids = tok.encode(&words).unwrap();
    assert_eq!(ids.len(), 77);
    assert_eq!(ids[0], 49406);
    assert_eq!(ids[76], 49407);
    // The first 75 text tokens are those of the untruncated text's beginning.
    let short = tok
        .encode("alpha beta gamma delta ".repeat(18).trim())
        .unwrap();
    assert_eq!(&ids[1..73], &short[1..73]);
    assert_eq!(tok.eos_id(), 49407);
}

#[test]
fn tokenizer_without_clip_special_tokens_is_rejected() {
    let err = ClipTokenizer::from_bytes(br#"{"version":"1.0"}"#, "bad/tokenizer.json", 77)
        .err()
        .expect("must fail");
    assert!(err.to_string().contains("bad/tokenizer.json"), "{err}");
}
