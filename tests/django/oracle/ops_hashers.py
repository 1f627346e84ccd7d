"""Password hashers (django.contrib.auth.hashers).

Most round trips use the ``Fast*`` subclasses below (list them in ``PASSWORD_HASHERS`` as
``oracle.ops_hashers.FastPBKDF2PasswordHasher`` etc.): the same algorithms and formats with tiny work factors,
so that the Rust tests can afford hundreds of them. The Rust side configures the same numbers; the real
defaults are exercised once per algorithm.
"""

import warnings

from django.contrib.auth import hashers

from .registry import op

try:  # Django 4.2 warns when the SHA1/unsalted hashers are instantiated; the tests use them on purpose.
    from django.utils.deprecation import RemovedInDjango51Warning

    warnings.filterwarnings("ignore", category=RemovedInDjango51Warning)
except ImportError:
    pass


class FastPBKDF2PasswordHasher(hashers.PBKDF2PasswordHasher):
    iterations = 1000


class FastPBKDF2SHA1PasswordHasher(hashers.PBKDF2SHA1PasswordHasher):
    iterations = 1000


class FastArgon2PasswordHasher(hashers.Argon2PasswordHasher):
    time_cost = 1
    memory_cost = 64
    parallelism = 2


class FastBCryptSHA256PasswordHasher(hashers.BCryptSHA256PasswordHasher):
    rounds = 4


class FastBCryptPasswordHasher(hashers.BCryptPasswordHasher):
    rounds = 4


class FastScryptPasswordHasher(hashers.ScryptPasswordHasher):
    work_factor = 16
    block_size = 8
    parallelism = 2


@op("hashers.make_password")
def make_password(password, salt=None, hasher="default"):
    """``make_password``; ``password`` None makes an unusable one. bcrypt salts travel as str, Django wants bytes."""
    if salt is not None and hashers.get_hasher(hasher).algorithm.startswith("bcrypt"):
        salt = salt.encode("ascii")
    return hashers.make_password(password, salt, hasher)


def _verify_password(password, encoded):
    """Django 5.x's ``verify_password``; on 4.2 the same lines, which 4.2 inlines in ``check_password``."""
    if hasattr(hashers, "verify_password"):
        return hashers.verify_password(password, encoded)
    fake_runtime = password is None or not hashers.is_password_usable(encoded)
    preferred = hashers.get_hasher("default")
    try:
        hasher = hashers.identify_hasher(encoded)
    except ValueError:
        fake_runtime = True
    if fake_runtime:
        hashers.make_password(hashers.get_random_string(hashers.UNUSABLE_PASSWORD_SUFFIX_LENGTH))
        return False, False
    hasher_changed = hasher.algorithm != preferred.algorithm
    must_update = hasher_changed or preferred.must_update(encoded)
    is_correct = hasher.verify(password, encoded)
    if not is_correct and not hasher_changed and must_update:
        hasher.harden_runtime(password, encoded)
    return is_correct, must_update


@op("hashers.verify_password")
def verify_password(password, encoded):
    is_correct, must_update = _verify_password(password, encoded)
    return {"is_correct": is_correct, "must_update": must_update}


@op("hashers.check_password")
def check_password(password, encoded):
    """The real ``check_password`` with a setter: whether it matched and whether it would re-save the password."""
    calls = []
    is_correct = hashers.check_password(password, encoded, setter=calls.append)
    return {"is_correct": is_correct, "setter_called": bool(calls)}


@op("hashers.must_update")
def must_update(encoded):
    """``identify_hasher(encoded).must_update(encoded)``."""
    return hashers.identify_hasher(encoded).must_update(encoded)


@op("hashers.identify")
def identify(encoded):
    return hashers.identify_hasher(encoded).algorithm


@op("hashers.is_password_usable")
def is_password_usable(encoded):
    return hashers.is_password_usable(encoded)


@op("hashers.argon2_raw")
def argon2_raw(password, salt, type, version, time_cost, memory_cost, parallelism, hash_len):
    """argon2-cffi's low-level encoder, for the argon2i/argon2d/version-0x10 forms Django never writes."""
    from argon2.low_level import Type, hash_secret

    encoded = hash_secret(
        password.encode(),
        salt.encode(),
        time_cost=time_cost,
        memory_cost=memory_cost,
        parallelism=parallelism,
        hash_len=hash_len,
        type={"i": Type.I, "d": Type.D, "id": Type.ID}[type],
        version=version,
    )
    return "argon2" + encoded.decode("ascii")
