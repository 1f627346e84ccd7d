//! `django.core.validators` that the user model's fields run: `EmailValidator` (the `email` field) and the
//! fields' `max_length`s.

/// `auth_user`'s column limits (`AbstractUser`'s `max_length`s).
pub const USERNAME_MAX_LENGTH: usize = 150;
pub const FIRST_NAME_MAX_LENGTH: usize = 150;
pub const LAST_NAME_MAX_LENGTH: usize = 150;
pub const EMAIL_MAX_LENGTH: usize = 254;

/// Django's `EmailValidator` message.
pub const INVALID_EMAIL: &str = "Enter a valid email address.";

/// `validate_email(value)` passes: a non-empty local part, then a dotted domain or `localhost`, no
/// whitespace.
pub fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !email.chars().any(char::is_whitespace)
        && (domain == "localhost"
            || (domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")))
}
