//! Password validation against a real Django (`tests/django/oracle/ops_validation.py`): for a corpus of
//! passwords and users, `validate_password` gives the errors Django's `validate_password` gives — same
//! codes, same messages, same order — with Django's default validators and with other OPTIONS; the help
//! texts and the common-password list are Django's; and the Python string operations underneath agree with
//! the oracle's Python on every code point its Unicode database assigns.
//!
//! The corpus goes to Django in one request. Under Django 4.2 the common-password lists differ (4.2 keeps
//! 104 `$hex[…]` literals that 5.2 decodes; the crate ships 5.2's): the list test proves that this is the
//! only difference, and the corpus test expects exactly the `password_too_common` verdicts it implies.

mod support;

use std::collections::HashSet;

use django_auth_core::password_validation::{
    self as pv, CommonPasswordValidator, MinimumLengthValidator, NumericPasswordValidator,
    PasswordValidator, UserAttribute, UserAttributeSimilarityValidator, UserAttributes,
    ValidationError, pystr,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};
use support::*;

/// A set of validators, stated once for both sides: Rust's list and Django's OPTIONS for the same four
/// classes (see `_validators` in ops_validation.py).
struct Config {
    rust: Vec<PasswordValidator>,
    django: Value,
}

impl Config {
    fn defaults() -> Config {
        Config {
            rust: pv::default_password_validators().to_vec(),
            django: json!({}),
        }
    }

    fn custom(min_length: usize, max_similarity: f64, attributes: &[UserAttribute]) -> Config {
        let similarity = UserAttributeSimilarityValidator::new(attributes.to_vec(), max_similarity)
            .expect("a valid max_similarity");
        Config {
            rust: vec![
                similarity.into(),
                MinimumLengthValidator::new(min_length).into(),
                CommonPasswordValidator.into(),
                NumericPasswordValidator.into(),
            ],
            django: json!({
                "UserAttributeSimilarityValidator": {
                    "user_attributes": attributes.iter().map(|a| a.name()).collect::<Vec<_>>(),
                    "max_similarity": max_similarity,
                },
                "MinimumLengthValidator": {"min_length": min_length},
            }),
        }
    }
}

struct Case<'c> {
    password: String,
    user: [String; 4],
    config: &'c Config,
}

impl Case<'_> {
    fn user(&self) -> UserAttributes<'_> {
        UserAttributes {
            username: &self.user[0],
            first_name: &self.user[1],
            last_name: &self.user[2],
            email: &self.user[3],
        }
    }

    fn to_json(&self) -> Value {
        let [username, first_name, last_name, email] = &self.user;
        json!({
            "password": self.password,
            "user": {"username": username, "first_name": first_name, "last_name": last_name, "email": email},
            "options": self.config.django,
        })
    }

    /// Our errors as (code, message).
    fn rust(&self) -> Vec<(String, String)> {
        let result = if self.config.django == json!({}) {
            // The public entry point itself, with its cached default list.
            pv::validate_password(&self.password, &self.user())
        } else {
            pv::validate_password_with(&self.password, &self.user(), &self.config.rust)
        };
        result
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|ValidationError { code, message }| (code.as_str().to_string(), message))
            .collect()
    }
}

fn user(username: &str, first_name: &str, last_name: &str, email: &str) -> [String; 4] {
    [username, first_name, last_name, email].map(String::from)
}

/// Users with ASCII and non-ASCII attributes: German ß, Turkish İ/ı, Greek with final sigma, CJK,
/// Devanagari (combining vowel signs, which `\W` splits on), circled letters, punctuation-only and numeric
/// values, and empty ones.
fn users() -> Vec<[String; 4]> {
    vec![
        user("", "", "", ""),
        user("jsmith", "John", "Smith", "john.smith@example.com"),
        user("", "", "", "john.smith@example.com"),
        user("", "", "Van der Berg", ""),
        user("straße", "Jürgen", "Groß", "jürgen.groß@beispiel.de"),
        user("İsmail", "Işıl", "YILDIZ", "ismail@örnek.com.tr"),
        user("ΟΔΥΣΣΕΥΣ", "Σίσυφος", "ΣΑΣ", "odysseus@example.gr"),
        user("王小明", "小明", "王", "xiaoming.wang@例子.中国"),
        user("नमस्ते", "Ⓐⓑⓒ", "ǅemal", "K-Ω@x.y"),
        user("john.", "...", "-", "@"),
        user("12345678", "", "", "1234@5678.com"),
        user("abcdefgpqr", "", "", ""),
    ]
}

/// Passwords: short and long, code points versus bytes, numeric in several scripts (and things that look
/// numeric but are not digits to Python), common ones in other cases with Unicode whitespace around them,
/// ones similar to each user above, and the 4.2/5.2 list difference.
fn passwords() -> Vec<String> {
    let mut passwords: Vec<String> = [
        "",
        "a",
        "abc",
        "1234567",
        "12345678",
        "123456789012",
        "éééééééé",
        "ééééééé",
        "😀😀😀😀😀😀😀",
        "😀😀😀😀😀😀😀😀",
        "İİİİ",
        "ßßßßßßßß",
        "password",
        "PASSWORD",
        "  Password  ",
        "\tqwerty123\n",
        "Password1",
        "iloveyou",
        "\u{a0}password\u{3000}",
        "\u{1c}password\u{1f}",
        "password\u{85}",
        "\u{200b}password",
        "пароль",
        "ПАРОЛЬ",
        "любовь",
        "k.:",
        ":",
        "$hex[3132333435360d]",
        " 123456 ",
        "1234567890",
        "²³²³²³²³",
        "²³",
        "١٢٣٤٥٦٧٨",
        "۱۲۳۴۵۶۷۸",
        "१२३४५६७८",
        "①②③④⑤⑥⑦⑧",
        "½½½½½½½½",
        "ⅠⅡⅢⅣⅤⅥⅦⅧ",
        "12345678 ",
        "１２３４５６７８",
        "𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖",
        "⁰¹²³⁴⁵⁶⁷",
        "₀₁₂₃₄₅₆₇",
        "🄀🄁🄂🄃🄄🄅🄆🄇",
        "1234５678",
        "johnsmith1",
        "JohnSmith",
        "smithjohn",
        "htimsj",
        "example.com!",
        "jsmith2024",
        "john.smith@example",
        "john.smith@example.com",
        "vanderberg!",
        "STRASSE",
        "Straße123",
        "strasse",
        "jürgen groß",
        "ismail",
        "İSMAİL",
        "i\u{307}smail",
        "ışıl",
        "IŞIL",
        "yıldız",
        "ΟΔΥΣΣΕΥΣ",
        "οδυσσευσ",
        "οδυσσευς",
        "σίσυφος!",
        "ΣΑΣΣΑΣ",
        "王小明王小明1",
        "小明小明小明小明",
        "xiaoming",
        "नमस्ते",
        "नमस्ते123",
        "ⓐⓑⓒⓓⓔⓕⓖⓗ",
        "ǆemal123",
        "k-ω@x.y",
        "john",
        "john.",
        "correct horse battery staple",
        "abcdefgxyz",
        "abcdefgpq",
        "abcdefgxyzw",
    ]
    .map(String::from)
    .to_vec();
    passwords.push("a".repeat(100));
    passwords.push("ab".repeat(40));
    passwords.push("straße".repeat(30));
    passwords
}

/// The characters random passwords and attributes are drawn from: ASCII letters, digits and separators,
/// whitespace Python strips (U+001C, NBSP) and one it does not (U+200B), letters whose lowercase is
/// special (ß, İ, ı, Σ/σ/ς, ǅ, K KELVIN SIGN, Ω OHM SIGN, ﬀ), combining marks, CJK, digits Python counts
/// (², ①, ٣), numbers it does not (½, Ⅻ), a circled letter, an emoji and a Devanagari vowel sign.
const ALPHABET: &[char] = &[
    'a', 'b', 'e', 'i', 'j', 'o', 'n', 's', 'x', 'A', 'S', 'I', 'J', '1', '2', '9', '0', '_', '.',
    '-', '@', ' ', '\t', '\u{1c}', '\u{a0}', '\u{200b}', 'ß', 'İ', 'ı', 'Σ', 'σ', 'ς', 'ǅ',
    '\u{212a}', '\u{2126}', 'ﬀ', '\u{301}', '\u{307}', '王', '明', '²', '①', '٣', '½', 'Ⅻ', 'Ⓐ',
    '😀', '\u{93e}',
];
const DIGITS: &[char] = &['0', '1', '7', '9', '²', '①', '٣', '१', '１', '½', ' '];
const SPACES: &[&str] = &[
    "", " ", "\t", "\n", "\u{a0}", "\u{3000}", "\u{1c}", "\u{85}", "\u{200b}",
];

fn text(len: std::ops::Range<usize>) -> BoxedStrategy<String> {
    prop::collection::vec(prop::sample::select(ALPHABET), len)
        .prop_map(|chars| chars.into_iter().collect())
        .boxed()
}

/// A random password: random text, a common password in a random case with whitespace around it, or
/// digit-like characters.
fn password(common: Vec<String>) -> BoxedStrategy<String> {
    let recased = (
        prop::sample::select(common),
        any::<u8>(),
        prop::sample::select(SPACES),
        prop::sample::select(SPACES),
    )
        .prop_map(|(password, mask, left, right)| {
            let recased: String = password
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if mask & (1 << (i % 8)) != 0 {
                        c.to_uppercase().collect()
                    } else {
                        c.to_string()
                    }
                })
                .collect();
            format!("{left}{recased}{right}")
        });
    let digits = prop::collection::vec(prop::sample::select(DIGITS), 0..12)
        .prop_map(|chars| chars.into_iter().collect());
    prop_oneof![3 => text(0..16), 1 => recased, 1 => digits].boxed()
}

/// A random attribute: empty, random, or a slice of the password (maybe uppercased) with a little text
/// around it, so that the similarity threshold is crossed both ways.
fn attribute(password: &str) -> BoxedStrategy<String> {
    let chars: Vec<char> = password.chars().collect();
    let n = chars.len();
    let slice = (0..=n, 0..=n, text(0..3), text(0..3), any::<bool>()).prop_map(
        move |(a, b, before, after, upper)| {
            let core: String = chars[a.min(b)..a.max(b)].iter().collect();
            let core = if upper { core.to_uppercase() } else { core };
            format!("{before}{core}{after}")
        },
    );
    prop_oneof![1 => Just(String::new()), 1 => text(1..12), 2 => slice].boxed()
}

/// `count` random (password, user) pairs from a fixed seed, so a failure replays.
fn random_cases(count: usize) -> Vec<(String, [String; 4])> {
    let mut common: Vec<String> = CommonPasswordValidator
        .passwords()
        .iter()
        .cloned()
        .collect();
    common.sort();
    let strategy = password(common).prop_flat_map(|password| {
        (
            Just(password.clone()),
            [
                attribute(&password),
                attribute(&password),
                attribute(&password),
                attribute(&password),
            ],
        )
    });
    let mut runner = TestRunner::deterministic();
    (0..count)
        .map(|_| {
            strategy
                .new_tree(&mut runner)
                .expect("the strategies never reject")
                .current()
        })
        .collect()
}

/// Django's common-password set, and the symmetric difference with ours (empty unless Django is 4.2).
fn django_common_passwords(oracle: &mut Oracle) -> (HashSet<String>, HashSet<String>) {
    let theirs: HashSet<String> = oracle
        .call("password_validation.common_passwords", json!({}), json!({}))
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| p.as_str().expect("str").to_string())
        .collect();
    let difference = theirs
        .symmetric_difference(CommonPasswordValidator.passwords())
        .cloned()
        .collect();
    (theirs, difference)
}

#[test]
fn common_password_list_is_djangos() {
    let mut oracle = oracle();
    let version = oracle.django_version();
    let (theirs, _) = django_common_passwords(&mut oracle);
    let ours = CommonPasswordValidator.passwords();
    let only_theirs: Vec<&String> = theirs.difference(ours).collect();
    let only_ours: Vec<&String> = ours.difference(&theirs).collect();
    eprintln!(
        "Django {version}: {} common passwords, ours {}; only Django's: {}, only ours: {}",
        theirs.len(),
        ours.len(),
        only_theirs.len(),
        only_ours.len()
    );
    if version != "4.2" {
        assert!(only_theirs.is_empty(), "missing: {only_theirs:?}");
        assert!(only_ours.is_empty(), "not Django's: {only_ours:?}");
        return;
    }
    // 4.2: its extra entries are `$hex[…]` literals, and ours that it lacks are what they decode to (as
    // Python reads the list: lowercased, stripped).
    let mut decoded = HashSet::new();
    for entry in &only_theirs {
        let hex = entry
            .strip_prefix("$hex[")
            .and_then(|rest| rest.strip_suffix(']'))
            .unwrap_or_else(|| panic!("4.2 has {entry:?}, which is not a $hex[…] literal"));
        decoded
            .insert(pystr::strip(&pystr::lower(&String::from_utf8_lossy(&unhex(hex)))).to_string());
    }
    for entry in &only_ours {
        assert!(
            decoded.contains(*entry),
            "{entry:?} is neither in 4.2's list nor a decoded $hex"
        );
    }
    assert_eq!((only_theirs.len(), only_ours.len()), (104, 15));
}

#[test]
fn help_texts_are_djangos() {
    let mut oracle = oracle();
    for config in [
        Config::defaults(),
        Config::custom(1, 0.7, &[]),
        Config::custom(0, 0.7, &[]),
        Config::custom(12, 0.7, &[]),
    ] {
        let theirs = oracle.call(
            "password_validation.help_texts",
            json!({}),
            json!({"options": config.django}),
        );
        let ours = if config.django == json!({}) {
            pv::password_validators_help_texts()
        } else {
            pv::password_validators_help_texts_with(&config.rust)
        };
        assert_eq!(json!(ours), theirs, "{}", config.django);
    }
}

#[test]
fn max_similarity_is_refused_where_django_refuses_it() {
    let mut oracle = oracle();
    for max_similarity in [
        0.0,
        0.05,
        0.099_999_999,
        0.1,
        0.100_000_001,
        0.7,
        1.0,
        2.0,
        -1.0,
    ] {
        let theirs = oracle.try_call(
            "password_validation.similarity_validator",
            json!({}),
            json!({"max_similarity": max_similarity}),
        );
        let ours = UserAttributeSimilarityValidator::new(vec![], max_similarity)
            .map(|_| Value::Null)
            .map_err(|e| format!("ValueError: {e}"));
        assert_eq!(ours, theirs, "max_similarity={max_similarity}");
    }
}

#[test]
fn python_str_operations_agree_on_every_assigned_code_point() {
    let tables = oracle().call("pystr.tables", json!({}), json!({}));
    let in_ranges = |name: &str| -> Vec<bool> {
        let mut member = vec![false; 0x110000];
        for range in tables[name].as_array().expect("ranges") {
            let (first, last) = (
                range[0].as_u64().expect("u64"),
                range[1].as_u64().expect("u64"),
            );
            for c in first..=last {
                member[c as usize] = true;
            }
        }
        member
    };
    let (assigned, word, digit, space) = (
        in_ranges("assigned"),
        in_ranges("word"),
        in_ranges("digit"),
        in_ranges("space"),
    );
    let lower = tables["lower"].as_object().expect("a dict");
    let mut mismatches = Vec::new();
    let (mut checked, mut newer, mut newer_differing) = (0, 0, 0);
    for c in (0..0x110000u32).filter_map(char::from_u32) {
        let s = c.to_string();
        let python_lower = lower
            .get(&(c as u32).to_string())
            .map(|l| l.as_str().expect("str").to_string())
            .unwrap_or_else(|| s.clone());
        let i = c as usize;
        let differences: Vec<&str> = [
            ("\\w", pystr::is_word(c) != word[i]),
            ("isdigit", pystr::isdigit(&s) != digit[i]),
            ("strip", pystr::strip(&s).is_empty() != space[i]),
            ("lower", pystr::lower(&s) != python_lower),
        ]
        .into_iter()
        .filter_map(|(what, differs)| differs.then_some(what))
        .collect();
        if assigned[i] {
            checked += 1;
            if !differences.is_empty() {
                mismatches.push(format!("U+{:04X} {differences:?}", c as u32));
            }
        } else {
            // Unassigned in this Python's Unicode database; possibly assigned since (see the module doc).
            newer += 1;
            newer_differing += usize::from(!differences.is_empty());
        }
    }
    eprintln!(
        "Unicode {}: {checked} assigned code points agree; of {newer} unassigned in Python, {newer_differing} \
         are classified by Rust's newer Unicode data",
        tables["unidata_version"]
    );
    assert!(checked > 140_000, "only {checked} code points checked");
    assert!(
        mismatches.is_empty(),
        "{} mismatches: {:?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(30)]
    );
}

#[test]
fn validate_password_agrees_with_django_on_a_corpus() {
    let mut oracle = oracle();
    let version = oracle.django_version();
    let (_, common_difference) = django_common_passwords(&mut oracle);

    let default = Config::defaults();
    let configs = [
        Config::custom(
            1,
            0.7,
            &UserAttributeSimilarityValidator::DEFAULT_USER_ATTRIBUTES,
        ),
        Config::custom(0, 0.1, &[UserAttribute::Email]),
        Config::custom(3, 0.5, &[UserAttribute::LastName, UserAttribute::Username]),
        Config::custom(
            12,
            1.0,
            &UserAttributeSimilarityValidator::DEFAULT_USER_ATTRIBUTES,
        ),
        Config::custom(8, 0.7, &[]),
    ];
    let mut cases = Vec::new();
    // Every password against every user, with Django's defaults.
    for password in passwords() {
        for user in users() {
            cases.push(Case {
                password: password.clone(),
                user,
                config: &default,
            });
        }
    }
    // Every password against John with other OPTIONS (singular and zero lengths, other thresholds, other
    // attribute lists and orders).
    for config in &configs {
        for password in passwords() {
            for user in [&users()[1], &users()[6]] {
                cases.push(Case {
                    password: password.clone(),
                    user: user.clone(),
                    config,
                });
            }
        }
    }
    // Random ones, with the defaults and with the strictest threshold.
    for (i, (password, user)) in random_cases(600).into_iter().enumerate() {
        let config = if i % 3 == 0 { &configs[2] } else { &default };
        cases.push(Case {
            password,
            user,
            config,
        });
    }

    let answers = oracle.call(
        "password_validation.validate_many",
        json!({}),
        json!({"cases": cases.iter().map(Case::to_json).collect::<Vec<_>>()}),
    );
    let answers = answers.as_array().expect("a list");
    assert_eq!(answers.len(), cases.len());

    let too_common = "password_too_common";
    let mut mismatches = Vec::new();
    let (mut rejected, mut list_difference) = (0, 0);
    let mut codes_seen = HashSet::new();
    for (case, answer) in cases.iter().zip(answers) {
        let theirs: Vec<(String, String)> = answer
            .as_array()
            .expect("a list")
            .iter()
            .map(|e| {
                (
                    e["code"].as_str().expect("code").to_string(),
                    e["message"].as_str().expect("message").to_string(),
                )
            })
            .collect();
        let ours = case.rust();
        rejected += usize::from(!ours.is_empty());
        codes_seen.extend(ours.iter().map(|(code, _)| code.clone()));
        let agrees = if common_difference.contains(pystr::strip(&pystr::lower(&case.password))) {
            // Only under 4.2: the lists disagree on this password, and so must the verdicts, and only they.
            list_difference += 1;
            let without = |errors: &[(String, String)]| -> Vec<(String, String)> {
                errors
                    .iter()
                    .filter(|(code, _)| code != too_common)
                    .cloned()
                    .collect()
            };
            let has =
                |errors: &[(String, String)]| errors.iter().any(|(code, _)| code == too_common);
            without(&ours) == without(&theirs) && has(&ours) != has(&theirs)
        } else {
            ours == theirs
        };
        if !agrees {
            mismatches.push(format!(
                "{}\n  Rust:   {ours:?}\n  Django: {theirs:?}",
                case.to_json()
            ));
        }
    }
    eprintln!(
        "Django {version}: {} cases, {rejected} rejected, {list_difference} on the 4.2/5.2 list difference",
        cases.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} of {} cases differ from Django {version}:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches[..mismatches.len().min(20)].join("\n")
    );
    // The corpus reaches every outcome, and under 4.2 the list difference.
    assert_eq!(codes_seen.len(), 4, "{codes_seen:?}");
    assert!(rejected > 0 && rejected < cases.len());
    if version == "4.2" {
        assert!(list_difference > 0);
    }
}
