//! `django.contrib.auth.password_validation`: the four validators of the `AUTH_PASSWORD_VALIDATORS` that
//! `django-admin startproject` writes, with Django's codes, English messages and help texts, so that a
//! password the portal accepts is one Django would accept, and the other way round.
//!
//! The shape follows Django's module: one type per validator (`validate` and `get_help_text`), a configured
//! list ([`PasswordValidator`], Django's `AUTH_PASSWORD_VALIDATORS`), and the free functions
//! [`validate_password`] and [`password_validators_help_texts`] over Django's default list
//! ([`default_password_validators`]). Like Django's `validate_password`, every validator runs and every
//! error is returned, in the validators' order.
//!
//! # Python's `str`, not Rust's
//!
//! The validators are defined by Python string methods — `str.lower()`, `str.strip()`, `str.isdigit()`,
//! `len()` and the regex `\W` — which count and classify Unicode code points by Python's own rules. They
//! live in [`pystr`], each checked code point by code point against the oracle's Python
//! (`tests/password_validation_django.rs`). Where Rust's standard library answers differently, `pystr` says
//! so: `char::is_whitespace` misses U+001C..U+001F, `char::is_alphanumeric` counts combining marks and
//! circled letters that `\w` does not, and Rust has no `isdigit` at all.
//!
//! Python's answers depend on the Unicode version of its `unicodedata` (Python 3.11: Unicode 14.0). Rust's
//! lowercasing and the general categories used here follow newer versions; for every character assigned in
//! Unicode 14 the answers agree (proven per code point), and for characters added since, this module knows
//! them while that Python treats them as unassigned (not a letter, no lowercase).
//!
//! # Django 4.2 and 5.2
//!
//! The code, the messages and the help texts are the same in both. The common-password list is not: 4.2's
//! file still holds 104 entries as literal `$hex[…]` strings, which 5.2 decodes (so 5.2 also rejects, for
//! example, `k.:` and `asdfghjkl:`). This module ships 5.2's list.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::LazyLock;

#[cfg(feature = "stores")]
use crate::users::{NewUser, User};

/// Django's `common-passwords.txt.gz` from Django 5.2.19, unchanged (see `crates/auth/data/README.md`).
static COMMON_PASSWORDS_GZ: &[u8] = include_bytes!("../data/common-passwords.txt.gz");

/// The common passwords as `CommonPasswordValidator.__init__` loads them: `{x.strip() for x in f}` over the
/// lines of the gzipped file read as UTF-8 text (universal newlines). Decompressed once, on first use.
static COMMON_PASSWORDS: LazyLock<HashSet<String>> = LazyLock::new(|| {
    let mut text = String::new();
    // The bytes are compiled in and the list is proven equal to Django's by the oracle test; no input of a
    // request can reach this, so a failure here is a broken build, not a runtime condition.
    flate2::read::GzDecoder::new(COMMON_PASSWORDS_GZ)
        .read_to_string(&mut text)
        .expect("the embedded common-passwords.txt.gz is valid gzip and UTF-8");
    pystr::text_lines(&text)
        .map(|line| pystr::strip(line).to_string())
        .collect()
});

/// Django's `AUTH_PASSWORD_VALIDATORS` from the `startproject` template, built once as
/// `get_default_password_validators()` caches it.
static DEFAULT_PASSWORD_VALIDATORS: LazyLock<Vec<PasswordValidator>> = LazyLock::new(|| {
    vec![
        UserAttributeSimilarityValidator::default().into(),
        MinimumLengthValidator::default().into(),
        CommonPasswordValidator.into(),
        NumericPasswordValidator.into(),
    ]
});

/// The `code` of a Django `ValidationError` raised by a password validator; a form or an API client can
/// branch on it without parsing the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `password_too_similar` (`UserAttributeSimilarityValidator`).
    PasswordTooSimilar,
    /// `password_too_short` (`MinimumLengthValidator`).
    PasswordTooShort,
    /// `password_too_common` (`CommonPasswordValidator`).
    PasswordTooCommon,
    /// `password_entirely_numeric` (`NumericPasswordValidator`).
    PasswordEntirelyNumeric,
}

impl ErrorCode {
    /// The code as Django spells it (`ValidationError.code`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::PasswordTooSimilar => "password_too_similar",
            ErrorCode::PasswordTooShort => "password_too_short",
            ErrorCode::PasswordTooCommon => "password_too_common",
            ErrorCode::PasswordEntirelyNumeric => "password_entirely_numeric",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `django.core.exceptions.ValidationError` from a password validator: its `code` and its message
/// already formatted with its `params`, in English, exactly as Django renders it (what
/// `list(exc)` / `exc.messages` yields, and what a form shows under the field).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValidationError {
    /// `ValidationError.code`: which validator refused the password.
    pub code: ErrorCode,
    /// The English message with its parameters filled in, e.g. `This password is too common.`.
    pub message: String,
}

/// A validator configured with a value Django's constructor refuses.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ValidatorConfigError {
    /// `UserAttributeSimilarityValidator(max_similarity=…)` below 0.1 raises `ValueError` with this message
    /// (Django ticket #28127: a tiny ratio would reject nearly every password).
    #[error("max_similarity must be at least 0.1")]
    MaxSimilarityTooLow,
}

/// One of the user fields `UserAttributeSimilarityValidator` compares the password with, named as the
/// `user_attributes` option names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UserAttribute {
    /// `username` (verbose name "username").
    Username,
    /// `first_name` (verbose name "first name").
    FirstName,
    /// `last_name` (verbose name "last name").
    LastName,
    /// `email` (verbose name "email address").
    Email,
}

impl UserAttribute {
    /// The attribute name (`"username"`, `"first_name"`, `"last_name"`, `"email"`).
    pub fn name(self) -> &'static str {
        match self {
            UserAttribute::Username => "username",
            UserAttribute::FirstName => "first_name",
            UserAttribute::LastName => "last_name",
            UserAttribute::Email => "email",
        }
    }

    /// The field's `verbose_name` on `AbstractUser`, which Django's "too similar" message quotes.
    pub fn verbose_name(self) -> &'static str {
        match self {
            UserAttribute::Username => "username",
            UserAttribute::FirstName => "first name",
            UserAttribute::LastName => "last name",
            UserAttribute::Email => "email address",
        }
    }
}

/// The user a password is validated for: the four `AbstractUser` fields Django's default similarity check
/// reads (`getattr(user, attribute_name)`). The caller fills it — from a [`User`], a [`NewUser`] (what
/// `UserCreationForm` validates against before saving), or a form. An empty field is skipped, as Django
/// skips a falsy one; all four empty is the same as Django's `user=None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserAttributes<'a> {
    /// `user.username`, or empty to skip it.
    pub username: &'a str,
    /// `user.first_name`, or empty to skip it.
    pub first_name: &'a str,
    /// `user.last_name`, or empty to skip it.
    pub last_name: &'a str,
    /// `user.email`, or empty to skip it.
    pub email: &'a str,
}

impl<'a> UserAttributes<'a> {
    /// `getattr(user, attribute.name())`.
    pub fn get(&self, attribute: UserAttribute) -> &'a str {
        match attribute {
            UserAttribute::Username => self.username,
            UserAttribute::FirstName => self.first_name,
            UserAttribute::LastName => self.last_name,
            UserAttribute::Email => self.email,
        }
    }
}

/// A field the model lacks is empty, which the similarity check skips as Django skips a missing
/// attribute (`username` included: a model that logs in by email usually has none).
#[cfg(feature = "stores")]
impl<'a> From<&'a User> for UserAttributes<'a> {
    fn from(user: &'a User) -> Self {
        UserAttributes {
            username: user.username_attribute.as_deref().unwrap_or_default(),
            first_name: user.first_name.as_deref().unwrap_or_default(),
            last_name: user.last_name.as_deref().unwrap_or_default(),
            email: user.email(),
        }
    }
}

#[cfg(feature = "stores")]
impl<'a> From<&'a NewUser> for UserAttributes<'a> {
    fn from(user: &'a NewUser) -> Self {
        UserAttributes {
            username: &user.username,
            first_name: &user.first_name,
            last_name: &user.last_name,
            email: &user.email,
        }
    }
}

/// `difflib.SequenceMatcher(a=a, b=b).quick_ratio()`: `2 * matches / (len(a) + len(b))`, where `matches` is
/// the size of the multiset intersection of the two strings' code points (order ignored, so an anagram
/// scores 1.0), and 1.0 when both are empty. Computed in `f64` in Python's order of operations, so the
/// comparison with `max_similarity` falls on the same side as Django's at the boundary (e.g. exactly 0.7).
pub fn quick_ratio(a: &str, b: &str) -> f64 {
    let mut available: HashMap<char, usize> = HashMap::new();
    let mut len_b = 0usize;
    for c in b.chars() {
        *available.entry(c).or_default() += 1;
        len_b += 1;
    }
    let mut matches = 0usize;
    let mut len_a = 0usize;
    for c in a.chars() {
        len_a += 1;
        if let Some(n) = available.get_mut(&c).filter(|n| **n > 0) {
            *n -= 1;
            matches += 1;
        }
    }
    let length = len_a + len_b;
    if length == 0 {
        1.0
    } else {
        2.0 * matches as f64 / length as f64
    }
}

/// `django.contrib.auth.password_validation.exceeds_maximum_length_ratio`, on lengths in code points (the
/// password's *lowercased* length): a value at most a tenth of the password's length, and shorter than
/// `max_similarity / 2 * password_len`, is not compared at all. It is only a shortcut: such a value's
/// ratio is at most `2·v / (p + v) < max_similarity·p / (p + v) ≤ max_similarity`, so skipping it never
/// changes a verdict (the oracle corpus cannot tell it apart from comparing everything). It is kept so
/// that the validator reads like Django's, and so that a 10,000-character password is not compared with
/// every one-letter part of an email address.
pub fn exceeds_maximum_length_ratio(
    password_len: usize,
    max_similarity: f64,
    value_len: usize,
) -> bool {
    let length_bound_similarity = max_similarity / 2.0 * password_len as f64;
    password_len >= 10 * value_len && (value_len as f64) < length_bound_similarity
}

/// Django's `UserAttributeSimilarityValidator`: rejects a password whose `quick_ratio` with any user
/// attribute, or with any `\W+`-separated part of it (so both halves of `john.smith@example.com` and the
/// whole address), reaches `max_similarity`, comparing lowercased text. Only the first attribute that
/// matches is reported, as Django raises at the first.
#[derive(Clone, Debug, PartialEq)]
pub struct UserAttributeSimilarityValidator {
    user_attributes: Vec<UserAttribute>,
    max_similarity: f64,
}

impl UserAttributeSimilarityValidator {
    /// `DEFAULT_USER_ATTRIBUTES`, in Django's order (which decides the attribute a message names).
    pub const DEFAULT_USER_ATTRIBUTES: [UserAttribute; 4] = [
        UserAttribute::Username,
        UserAttribute::FirstName,
        UserAttribute::LastName,
        UserAttribute::Email,
    ];
    /// Django's default `max_similarity`.
    pub const DEFAULT_MAX_SIMILARITY: f64 = 0.7;

    /// `UserAttributeSimilarityValidator(user_attributes, max_similarity)`, refusing what Django's
    /// constructor refuses.
    pub fn new(
        user_attributes: Vec<UserAttribute>,
        max_similarity: f64,
    ) -> Result<Self, ValidatorConfigError> {
        // Written as Django's `if max_similarity < 0.1`, so NaN is let through as in Python.
        if max_similarity < 0.1 {
            return Err(ValidatorConfigError::MaxSimilarityTooLow);
        }
        Ok(UserAttributeSimilarityValidator {
            user_attributes,
            max_similarity,
        })
    }

    /// `validate(password, user)`.
    pub fn validate(
        &self,
        password: &str,
        user: &UserAttributes<'_>,
    ) -> Result<(), ValidationError> {
        // Django lowercases the password once, and measures the *lowercased* length: 'İ' counts as two.
        let password = pystr::lower(password);
        let password_len = password.chars().count();
        for &attribute in &self.user_attributes {
            let value = user.get(attribute);
            if value.is_empty() {
                continue;
            }
            let value_lower = pystr::lower(value);
            let mut value_parts = pystr::split_non_word(&value_lower);
            value_parts.push(&value_lower);
            for value_part in value_parts {
                let value_len = value_part.chars().count();
                if exceeds_maximum_length_ratio(password_len, self.max_similarity, value_len) {
                    continue;
                }
                if quick_ratio(&password, value_part) >= self.max_similarity {
                    return Err(ValidationError {
                        code: ErrorCode::PasswordTooSimilar,
                        message: format!(
                            "The password is too similar to the {}.",
                            attribute.verbose_name()
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// `get_help_text()`.
    pub fn get_help_text(&self) -> String {
        "Your password can’t be too similar to your other personal information.".to_string()
    }
}

impl Default for UserAttributeSimilarityValidator {
    fn default() -> Self {
        UserAttributeSimilarityValidator {
            user_attributes: Self::DEFAULT_USER_ATTRIBUTES.to_vec(),
            max_similarity: Self::DEFAULT_MAX_SIMILARITY,
        }
    }
}

/// Django's `MinimumLengthValidator`: at least `min_length` characters, counted as Python's `len()` counts
/// them (code points: "é" is one, a flag emoji two).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinimumLengthValidator {
    min_length: usize,
}

impl MinimumLengthValidator {
    /// Django's default `min_length`.
    pub const DEFAULT_MIN_LENGTH: usize = 8;

    /// `MinimumLengthValidator(min_length)`.
    pub fn new(min_length: usize) -> Self {
        MinimumLengthValidator { min_length }
    }

    /// `validate(password, user)`.
    pub fn validate(&self, password: &str) -> Result<(), ValidationError> {
        if password.chars().count() < self.min_length {
            return Err(ValidationError {
                code: ErrorCode::PasswordTooShort,
                message: format!(
                    "This password is too short. It must contain at least {} {}.",
                    self.min_length,
                    characters(self.min_length)
                ),
            });
        }
        Ok(())
    }

    /// `get_help_text()`.
    pub fn get_help_text(&self) -> String {
        format!(
            "Your password must contain at least {} {}.",
            self.min_length,
            characters(self.min_length)
        )
    }
}

impl Default for MinimumLengthValidator {
    fn default() -> Self {
        MinimumLengthValidator::new(Self::DEFAULT_MIN_LENGTH)
    }
}

/// `ngettext("… character.", "… characters.", n)` in English, whose plural rule is `n != 1`.
fn characters(n: usize) -> &'static str {
    if n == 1 { "character" } else { "characters" }
}

/// Django's `CommonPasswordValidator` with the list Django 5.2 ships (20,000 lines, 19,640 distinct
/// passwords): rejects a password whose `password.lower().strip()` is on it, so `"  PassWord "` is common.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommonPasswordValidator;

impl CommonPasswordValidator {
    /// `self.passwords`: the set as Django loads it (decompressed once per process).
    pub fn passwords(&self) -> &'static HashSet<String> {
        &COMMON_PASSWORDS
    }

    /// `validate(password, user)`.
    pub fn validate(&self, password: &str) -> Result<(), ValidationError> {
        let lower = pystr::lower(password);
        if self.passwords().contains(pystr::strip(&lower)) {
            return Err(ValidationError {
                code: ErrorCode::PasswordTooCommon,
                message: "This password is too common.".to_string(),
            });
        }
        Ok(())
    }

    /// `get_help_text()`.
    pub fn get_help_text(&self) -> String {
        "Your password can’t be a commonly used password.".to_string()
    }
}

/// Django's `NumericPasswordValidator`: rejects a password for which Python's `str.isdigit()` is true, which
/// includes non-ASCII digits such as "١٢٣٤٥٦٧٨" or "²³" ([`pystr::isdigit`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NumericPasswordValidator;

impl NumericPasswordValidator {
    /// `validate(password, user)`.
    pub fn validate(&self, password: &str) -> Result<(), ValidationError> {
        if pystr::isdigit(password) {
            return Err(ValidationError {
                code: ErrorCode::PasswordEntirelyNumeric,
                message: "This password is entirely numeric.".to_string(),
            });
        }
        Ok(())
    }

    /// `get_help_text()`.
    pub fn get_help_text(&self) -> String {
        "Your password can’t be entirely numeric.".to_string()
    }
}

/// One entry of Django's `AUTH_PASSWORD_VALIDATORS`: a validator class with its `OPTIONS`.
#[derive(Clone, Debug, PartialEq)]
pub enum PasswordValidator {
    /// `django.contrib.auth.password_validation.UserAttributeSimilarityValidator`.
    UserAttributeSimilarity(UserAttributeSimilarityValidator),
    /// `django.contrib.auth.password_validation.MinimumLengthValidator`.
    MinimumLength(MinimumLengthValidator),
    /// `django.contrib.auth.password_validation.CommonPasswordValidator`.
    CommonPassword(CommonPasswordValidator),
    /// `django.contrib.auth.password_validation.NumericPasswordValidator`.
    NumericPassword(NumericPasswordValidator),
}

impl PasswordValidator {
    /// `validator.validate(password, user)`.
    pub fn validate(
        &self,
        password: &str,
        user: &UserAttributes<'_>,
    ) -> Result<(), ValidationError> {
        match self {
            PasswordValidator::UserAttributeSimilarity(v) => v.validate(password, user),
            PasswordValidator::MinimumLength(v) => v.validate(password),
            PasswordValidator::CommonPassword(v) => v.validate(password),
            PasswordValidator::NumericPassword(v) => v.validate(password),
        }
    }

    /// `validator.get_help_text()`.
    pub fn get_help_text(&self) -> String {
        match self {
            PasswordValidator::UserAttributeSimilarity(v) => v.get_help_text(),
            PasswordValidator::MinimumLength(v) => v.get_help_text(),
            PasswordValidator::CommonPassword(v) => v.get_help_text(),
            PasswordValidator::NumericPassword(v) => v.get_help_text(),
        }
    }
}

impl From<UserAttributeSimilarityValidator> for PasswordValidator {
    fn from(v: UserAttributeSimilarityValidator) -> Self {
        PasswordValidator::UserAttributeSimilarity(v)
    }
}

impl From<MinimumLengthValidator> for PasswordValidator {
    fn from(v: MinimumLengthValidator) -> Self {
        PasswordValidator::MinimumLength(v)
    }
}

impl From<CommonPasswordValidator> for PasswordValidator {
    fn from(v: CommonPasswordValidator) -> Self {
        PasswordValidator::CommonPassword(v)
    }
}

impl From<NumericPasswordValidator> for PasswordValidator {
    fn from(v: NumericPasswordValidator) -> Self {
        PasswordValidator::NumericPassword(v)
    }
}

/// `get_default_password_validators()` for the `AUTH_PASSWORD_VALIDATORS` of Django's `startproject`
/// template: similarity, minimum length 8, common, numeric — in that order, which is the order of the
/// errors.
pub fn default_password_validators() -> &'static [PasswordValidator] {
    &DEFAULT_PASSWORD_VALIDATORS
}

/// `validate_password(password, user)` with Django's default validators: `Ok` if every validator accepts
/// the password, otherwise every error, in the validators' order (Django raises one `ValidationError`
/// holding them all).
pub fn validate_password(
    password: &str,
    user: &UserAttributes<'_>,
) -> Result<(), Vec<ValidationError>> {
    validate_password_with(password, user, default_password_validators())
}

/// `validate_password(password, user, password_validators)` with a configured list.
pub fn validate_password_with(
    password: &str,
    user: &UserAttributes<'_>,
    password_validators: &[PasswordValidator],
) -> Result<(), Vec<ValidationError>> {
    let errors: Vec<ValidationError> = password_validators
        .iter()
        .filter_map(|validator| validator.validate(password, user).err())
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// `password_validators_help_texts()` with Django's default validators: the sentences a sign-up page
/// lists under the password field.
pub fn password_validators_help_texts() -> Vec<String> {
    password_validators_help_texts_with(default_password_validators())
}

/// `password_validators_help_texts(password_validators)` with a configured list.
pub fn password_validators_help_texts_with(
    password_validators: &[PasswordValidator],
) -> Vec<String> {
    password_validators
        .iter()
        .map(PasswordValidator::get_help_text)
        .collect()
}

/// The Python `str` operations the validators are written with, reproduced per code point. Each is checked
/// against the oracle's Python for every code point that Python's Unicode database assigns.
pub mod pystr {
    use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

    /// The characters with Unicode `Numeric_Type=Digit` (all of category No): superscripts, subscripts,
    /// circled and parenthesised digits, Ethiopic and Kharoshthi digits and the like. Together with the
    /// decimal digits (category Nd) they are what Python's `str.isdigit()` accepts; Rust's standard library
    /// has no such predicate (`char::is_numeric` also takes ½ and Ⅻ, `is_ascii_digit` only 0-9).
    const DIGIT_NOT_DECIMAL: &[(char, char)] = &[
        ('\u{b2}', '\u{b3}'),
        ('\u{b9}', '\u{b9}'),
        ('\u{1369}', '\u{1371}'),
        ('\u{19da}', '\u{19da}'),
        ('\u{2070}', '\u{2070}'),
        ('\u{2074}', '\u{2079}'),
        ('\u{2080}', '\u{2089}'),
        ('\u{2460}', '\u{2468}'),
        ('\u{2474}', '\u{247c}'),
        ('\u{2488}', '\u{2490}'),
        ('\u{24ea}', '\u{24ea}'),
        ('\u{24f5}', '\u{24fd}'),
        ('\u{24ff}', '\u{24ff}'),
        ('\u{2776}', '\u{277e}'),
        ('\u{2780}', '\u{2788}'),
        ('\u{278a}', '\u{2792}'),
        ('\u{10a40}', '\u{10a43}'),
        ('\u{10e60}', '\u{10e68}'),
        ('\u{11052}', '\u{1105a}'),
        ('\u{1f100}', '\u{1f10a}'),
    ];

    /// `str.lower()`: Unicode full lowercase mappings (so 'İ' becomes "i̇", two code points) with the
    /// final-sigma rule ('Σ' at the end of a word becomes 'ς'). Rust's `str::to_lowercase` implements the
    /// same two rules with the same definition of the word boundary (cased / case-ignorable), so it is used
    /// as is; it only differs from Python on characters Python's Unicode database does not have yet.
    pub fn lower(s: &str) -> String {
        s.to_lowercase()
    }

    /// `str.isspace()` for one character: Unicode `White_Space` (Rust's `char::is_whitespace`) plus
    /// U+001C..U+001F, the information separators, which Python counts as whitespace because their
    /// bidirectional class is B or S. A password "\x1cpassword" is therefore common in Django.
    pub fn is_space(c: char) -> bool {
        c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
    }

    /// `str.strip()` with no argument: [`is_space`] removed from both ends (`str::trim` would keep
    /// U+001C..U+001F).
    pub fn strip(s: &str) -> &str {
        s.trim_matches(is_space)
    }

    /// One character of `str.isdigit()`: a decimal digit of any script (category Nd) or a
    /// `Numeric_Type=Digit` character such as '²'.
    pub fn is_digit(c: char) -> bool {
        c.general_category() == GeneralCategory::DecimalNumber
            || DIGIT_NOT_DECIMAL
                .iter()
                .any(|&(first, last)| (first..=last).contains(&c))
    }

    /// `str.isdigit()`: non-empty and every character [`is_digit`].
    pub fn isdigit(s: &str) -> bool {
        !s.is_empty() && s.chars().all(is_digit)
    }

    /// `\w` of Python's `re` on a `str` pattern: `str.isalnum()` (a letter, category L*, or a character
    /// with a numeric value, category N*) or `_`. Not `char::is_alphanumeric`, which also takes combining
    /// vowel signs (U+093E) and circled letters (Ⓐ) that Python treats as separators.
    pub fn is_word(c: char) -> bool {
        c == '_'
            || matches!(
                c.general_category_group(),
                GeneralCategoryGroup::Letter | GeneralCategoryGroup::Number
            )
    }

    /// `re.split(r"\W+", s)`: the pieces between runs of non-word characters, with an empty first or last
    /// piece when `s` starts or ends with such a run (`"john."` gives `["john", ""]`, `""` gives `[""]`).
    pub fn split_non_word(s: &str) -> Vec<&str> {
        let mut parts = Vec::new();
        let mut start = 0;
        let mut in_separator = false;
        for (i, c) in s.char_indices() {
            match (is_word(c), in_separator) {
                (true, true) => {
                    start = i;
                    in_separator = false;
                }
                (false, false) => {
                    parts.push(&s[start..i]);
                    in_separator = true;
                }
                _ => {}
            }
        }
        parts.push(if in_separator { "" } else { &s[start..] });
        parts
    }

    /// The lines of a file read by Python in text mode with universal newlines (`\n`, `\r\n` or `\r` ends a
    /// line), as Django's `for x in f` reads the common-password list. A final empty line is not a line.
    pub(crate) fn text_lines(text: &str) -> impl Iterator<Item = &str> {
        let mut rest = text;
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let (line, next) = match rest.find(['\n', '\r']) {
                Some(i) if rest[i..].starts_with("\r\n") => (&rest[..i], &rest[i + 2..]),
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, ""),
            };
            rest = next;
            Some(line)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOHN: UserAttributes<'static> = UserAttributes {
        username: "jsmith",
        first_name: "John",
        last_name: "Smith",
        email: "john.smith@example.com",
    };

    fn codes(result: Result<(), Vec<ValidationError>>) -> Vec<&'static str> {
        result
            .err()
            .unwrap_or_default()
            .iter()
            .map(|e| e.code.as_str())
            .collect()
    }

    #[test]
    fn a_good_password_passes_every_default_validator() {
        assert_eq!(
            validate_password("correct horse battery staple", &JOHN),
            Ok(())
        );
    }

    #[test]
    fn every_error_is_reported_in_djangos_order() {
        // Similar to the username, short, common and numeric at once.
        let user = UserAttributes {
            username: "1234",
            ..Default::default()
        };
        let errors = validate_password("1234", &user).unwrap_err();
        let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "The password is too similar to the username.",
                "This password is too short. It must contain at least 8 characters.",
                "This password is too common.",
                "This password is entirely numeric.",
            ]
        );
        assert_eq!(
            codes(Err(errors)),
            [
                "password_too_similar",
                "password_too_short",
                "password_too_common",
                "password_entirely_numeric"
            ]
        );
    }

    #[test]
    fn similarity_names_the_first_matching_attribute_by_its_verbose_name() {
        let errors = validate_password("johnsmith1", &JOHN).unwrap_err();
        // The email's local part "john.smith" splits on `\W+`; "johnsmith1" is too similar to the
        // username "jsmith" first (2·6/16 = 0.75).
        assert_eq!(
            errors[0].message,
            "The password is too similar to the username."
        );
        let only_email = UserAttributes {
            email: "john.smith@example.com",
            ..Default::default()
        };
        let errors = validate_password("example.com!", &only_email).unwrap_err();
        assert_eq!(
            errors[0].message,
            "The password is too similar to the email address."
        );
        let only_last = UserAttributes {
            last_name: "Van der Berg",
            ..Default::default()
        };
        assert_eq!(
            validate_password("vanderberg!", &only_last).unwrap_err()[0].message,
            "The password is too similar to the last name."
        );
    }

    #[test]
    fn similarity_ignores_order_and_case() {
        // quick_ratio is a multiset comparison: an anagram is identical.
        assert_eq!(quick_ratio("htimsj", "jsmith"), 1.0);
        let v = UserAttributeSimilarityValidator::default();
        assert!(v.validate("HTIMSJ-zz", &JOHN).is_err());
        assert!(v.validate("quokka-river-42", &JOHN).is_ok());
    }

    #[test]
    fn quick_ratio_is_difflibs() {
        assert_eq!(quick_ratio("", ""), 1.0);
        assert_eq!(quick_ratio("abc", ""), 0.0);
        assert_eq!(quick_ratio("aab", "abb"), 2.0 * 2.0 / 6.0);
        // The docstring of exceeds_maximum_length_ratio.
        assert_eq!(quick_ratio("a", &"a".repeat(10)), 0.181_818_181_818_181_82);
        // Exactly on the default threshold: 2·7/20 = 0.7 is "too similar".
        assert_eq!(quick_ratio("abcdefgxyz", "abcdefgpqr"), 0.7);
        let user = UserAttributes {
            username: "abcdefgpqr",
            ..Default::default()
        };
        assert!(
            UserAttributeSimilarityValidator::default()
                .validate("abcdefgxyz", &user)
                .is_err()
        );
    }

    #[test]
    fn the_empty_part_of_an_attribute_matches_an_empty_password() {
        // re.split(r"\W+", "john.") == ["john", ""]; "" against "" is a ratio of 1.0.
        let user = UserAttributes {
            username: "john.",
            ..Default::default()
        };
        assert_eq!(
            codes(validate_password("", &user))[0],
            "password_too_similar"
        );
        let user = UserAttributes {
            username: "john",
            ..Default::default()
        };
        assert_eq!(codes(validate_password("", &user)), ["password_too_short"]);
    }

    #[test]
    fn long_passwords_skip_short_values_which_could_not_match_anyway() {
        assert!(exceeds_maximum_length_ratio(10, 0.7, 1));
        assert!(!exceeds_maximum_length_ratio(9, 0.7, 1));
        // 1 is not below 0.1 / 2 · 10.
        assert!(!exceeds_maximum_length_ratio(10, 0.1, 1));
        let user = UserAttributes {
            username: "a",
            ..Default::default()
        };
        assert_eq!(validate_password(&"a".repeat(100), &user), Ok(()));
    }

    #[test]
    fn max_similarity_below_a_tenth_is_refused() {
        assert_eq!(
            UserAttributeSimilarityValidator::new(vec![UserAttribute::Username], 0.09),
            Err(ValidatorConfigError::MaxSimilarityTooLow)
        );
        assert!(UserAttributeSimilarityValidator::new(vec![], 0.1).is_ok());
    }

    #[test]
    fn length_counts_code_points_and_the_message_agrees_in_number() {
        assert!(
            MinimumLengthValidator::default()
                .validate("éééééééé")
                .is_ok()
        );
        assert!(
            MinimumLengthValidator::default()
                .validate("😀😀😀😀😀😀😀")
                .is_err()
        );
        assert_eq!(
            MinimumLengthValidator::new(1)
                .validate("")
                .unwrap_err()
                .message,
            "This password is too short. It must contain at least 1 character."
        );
        assert_eq!(
            MinimumLengthValidator::new(1).get_help_text(),
            "Your password must contain at least 1 character."
        );
    }

    #[test]
    fn common_passwords_are_lowercased_and_stripped() {
        let v = CommonPasswordValidator;
        assert_eq!(v.passwords().len(), 19_640);
        for common in [
            "password",
            "  PassWord \n",
            "\u{3000}qwerty\u{a0}",
            "\x1cpassword\x1f",
            "ПАРОЛЬ",
        ] {
            assert!(v.validate(common).is_err(), "{common:?}");
        }
        // 5.2's decoded `$hex[…]` entries.
        assert!(v.validate("k.:").is_err());
        assert!(v.validate("correct horse battery staple").is_ok());
    }

    #[test]
    fn numeric_is_pythons_isdigit() {
        let v = NumericPasswordValidator;
        for numeric in ["12345678", "²³", "١٢٣٤٥٦٧٨", "①②", "１２３", "𝟏𝟐"] {
            assert!(v.validate(numeric).is_err(), "{numeric:?}");
        }
        for not_numeric in ["", "½½½", "ⅫⅫ", "1234 5678", "-1234", "1.5"] {
            assert!(v.validate(not_numeric).is_ok(), "{not_numeric:?}");
        }
    }

    #[test]
    fn pystr_differs_from_rusts_std_where_python_does() {
        assert_eq!(pystr::strip("\x1c a \x1f"), "a");
        assert_eq!(pystr::lower("İ"), "i\u{307}");
        assert_eq!(pystr::lower("ΟΔΥΣΣΕΥΣ"), "οδυσσευς");
        assert!(!pystr::is_word('\u{93e}') && '\u{93e}'.is_alphanumeric());
        assert!(!pystr::is_word('Ⓐ') && 'Ⓐ'.is_alphanumeric());
        assert!(pystr::is_word('_') && pystr::is_word('ß') && pystr::is_word('½'));
    }

    #[test]
    fn split_non_word_is_re_split() {
        assert_eq!(pystr::split_non_word(""), [""]);
        assert_eq!(pystr::split_non_word("john"), ["john"]);
        assert_eq!(pystr::split_non_word("john."), ["john", ""]);
        assert_eq!(pystr::split_non_word("..."), ["", ""]);
        assert_eq!(
            pystr::split_non_word("john.smith@example.com"),
            ["john", "smith", "example", "com"]
        );
        // 'İ'.lower() is "i" + U+0307 (a combining mark, so a separator).
        assert_eq!(
            pystr::split_non_word(&pystr::lower("İsmail")),
            ["i", "smail"]
        );
    }

    #[test]
    fn text_lines_are_universal_newlines() {
        let lines: Vec<&str> = pystr::text_lines("a\nb\r\nc\rd\n\ne").collect();
        assert_eq!(lines, ["a", "b", "c", "d", "", "e"]);
        assert_eq!(pystr::text_lines("a\n").count(), 1);
    }

    #[test]
    fn help_texts_are_djangos() {
        assert_eq!(
            password_validators_help_texts(),
            [
                "Your password can’t be too similar to your other personal information.",
                "Your password must contain at least 8 characters.",
                "Your password can’t be a commonly used password.",
                "Your password can’t be entirely numeric.",
            ]
        );
    }
}
