//! Tests of signed notes: signing, verifying, and the notes that must be refused.

use super::*;

fn signer(name: &str, seed: u8) -> NoteSigner {
    NoteSigner::from_seed(
        KeyName::new(name).unwrap_or_else(|e| panic!("{e}")),
        &[seed; 32],
    )
}

#[test]
fn a_signed_note_verifies_and_gives_back_its_text() {
    let signer = signer("example.com/log", 7);
    let note = signer
        .sign("hello\nworld\n")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(note.starts_with("hello\nworld\n\n\u{2014} example.com/log "));
    let opened = signer.verifier().verify(&note);
    assert_eq!(
        opened.map(|n| n.text().to_owned()),
        Ok("hello\nworld\n".into())
    );
}

#[test]
fn the_key_id_is_the_first_four_bytes_of_the_hash_of_name_newline_type_and_key() {
    let signer = signer("k", 1);
    let mut input = b"k\n\x01".to_vec();
    input.extend_from_slice(&signer.public_key());
    let digest = Sha256::digest(&input);
    let expected = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    assert_eq!(signer.verifier().key_id(), expected);
}

#[test]
fn a_vkey_round_trips_and_a_tampered_one_is_rejected() {
    let verifier = signer("example.com/log", 3).verifier();
    let vkey = verifier.to_vkey();
    assert_eq!(NoteVerifier::parse_vkey(&vkey), Ok(verifier.clone()));
    let parts: Vec<&str> = vkey.splitn(3, '+').collect();
    let wrong_id = format!("{}+{:08x}+{}", parts[0], verifier.key_id() ^ 1, parts[2]);
    let wrong_name = format!("other+{}+{}", parts[1], parts[2]);
    let upper_id = format!("{}+{}+{}", parts[0], parts[1].to_uppercase(), parts[2]);
    for bad in [wrong_id, wrong_name, upper_id, "a+b".into(), String::new()] {
        if bad != vkey {
            assert_eq!(
                NoteVerifier::parse_vkey(&bad),
                Err(NoteError::VerifierKey),
                "{bad}"
            );
        }
    }
}

#[test]
fn a_vkey_whose_base64_key_contains_a_plus_round_trips() {
    let with_plus: Vec<NoteVerifier> = (0..64)
        .map(|seed| signer("example.com/log", seed).verifier())
        .filter(|verifier| {
            verifier
                .to_vkey()
                .splitn(3, '+')
                .nth(2)
                .is_some_and(|k| k.contains('+'))
        })
        .collect();
    assert!(
        !with_plus.is_empty(),
        "no seed in 0..64 gave a key with `+` in base64"
    );
    for verifier in with_plus {
        assert_eq!(NoteVerifier::parse_vkey(&verifier.to_vkey()), Ok(verifier));
    }
}

#[test]
fn a_vkey_key_has_exactly_one_base64_spelling() {
    // 1 + 32 bytes are 11 groups of 3: 44 characters, no padding and no spare bits, so
    // the strict decoder leaves no second spelling of a key; anything added is refused.
    let verifier = signer("example.com/log", 3).verifier();
    let vkey = verifier.to_vkey();
    let encoded = vkey.rsplit_once('+').map(|(_, e)| e).unwrap_or_default();
    assert_eq!(encoded.len(), 44);
    for extra in ["=", "==", "A", " ", "\n"] {
        assert_eq!(
            NoteVerifier::parse_vkey(&format!("{vkey}{extra}")),
            Err(NoteError::VerifierKey),
            "{extra:?}"
        );
    }
    assert_eq!(
        NoteVerifier::parse_vkey(&vkey[..vkey.len() - 1]),
        Err(NoteError::VerifierKey)
    );
}

/// Flips one bit of the base64 payload of the first signature line.
fn flip_signature_bit(note: &str, byte: usize) -> String {
    let (text, line) = note.split_at(note.rfind("\n\n").unwrap_or(0) + 2);
    let (prefix, encoded) = line.trim_end().rsplit_once(' ').unwrap_or_default();
    let mut bytes = STANDARD.decode(encoded).unwrap_or_default();
    bytes[byte] ^= 1;
    format!("{text}{prefix} {}\n", STANDARD.encode(bytes))
}

#[test]
fn a_flipped_bit_in_the_signature_the_key_id_or_the_text_is_rejected() {
    let signer = signer("example.com/log", 9);
    let verifier = signer.verifier();
    let note = signer.sign("body\n").unwrap_or_default();
    // A flipped signature bit: same name and id, so the signature must be checked and fail.
    assert!(matches!(
        verifier.verify(&flip_signature_bit(&note, 10)),
        Err(NoteError::BadSignature { .. })
    ));
    // A flipped key id bit: the line is no longer by this key.
    assert_eq!(
        verifier.verify(&flip_signature_bit(&note, 0)),
        Err(NoteError::UnknownKey)
    );
    // A flipped text bit.
    let tampered = note.replacen("body", "bodz", 1);
    assert!(matches!(
        verifier.verify(&tampered),
        Err(NoteError::BadSignature { .. })
    ));
}

#[test]
fn signatures_by_unknown_keys_are_ignored_but_one_known_signature_is_required() {
    let ours = signer("log", 1);
    let theirs = signer("witness", 2);
    let note = ours.sign("t\n").unwrap_or_default();
    let extra = theirs.sign("t\n").unwrap_or_default();
    let extra_line = extra
        .rsplit_once("\n\n")
        .map(|(_, l)| l)
        .unwrap_or_default();
    let both = format!("{note}{extra_line}");
    assert!(ours.verifier().verify(&both).is_ok());
    assert_eq!(theirs.verifier().verify(&note), Err(NoteError::UnknownKey));
    // Same name, different key: ignored (the id differs), so nothing known verifies.
    let impostor = signer("log", 5);
    assert_eq!(
        impostor.verifier().verify(&note),
        Err(NoteError::UnknownKey)
    );
}

#[test]
fn malformed_notes_and_texts_are_rejected() {
    let signer = signer("log", 1);
    assert_eq!(signer.sign("no newline"), Err(NoteError::Text));
    assert_eq!(signer.sign("tab\there\n"), Err(NoteError::Text));
    assert_eq!(signer.sign(""), Err(NoteError::Text));
    let note = signer.sign("t\n").unwrap_or_default();
    let verifier = signer.verifier();
    for bad in [
        note.trim_end().to_owned(),
        note.replace('\u{2014}', "-"),
        note.replacen("\n\n", "\n", 1),
        format!("{note}\n"),
        note.replace("log ", "log  "),
        note.replace('\n', "\r\n"),
    ] {
        assert!(verifier.verify(&bad).is_err(), "{bad:?}");
    }
    assert_eq!(KeyName::new("a b"), Err(NoteError::KeyName));
    assert_eq!(KeyName::new("a+b"), Err(NoteError::KeyName));
    assert_eq!(KeyName::new(""), Err(NoteError::KeyName));
}

#[test]
fn the_text_may_contain_blank_lines() {
    let signer = signer("log", 4);
    let note = signer.sign("a\n\nb\n").unwrap_or_default();
    let opened = signer.verifier().verify(&note);
    assert_eq!(opened.map(|n| n.text().to_owned()), Ok("a\n\nb\n".into()));
}
