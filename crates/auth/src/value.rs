//! `Value`: a Python object as session data holds it, modelled without ever being executed.
//!
//! The cache engine stores the session dict pickled, so a session may hold any picklable object: a
//! `datetime`, a `Decimal`, a `set`, an instance of an app's class. We model the types our code reads
//! (`str`, `int`, `float`, `bool`, `None`, `bytes`, `list`, `tuple`, `dict`, `set`) and keep everything else as
//! inert data: the global it names and the arguments and state it would be rebuilt from. Nothing is ever
//! imported or called; writing the value back emits the same instructions, so Django reads back the same
//! object after we change other keys.

use num_bigint::BigInt;

/// A Python value. `Dict` keeps insertion order, as Python's `dict` does (the order shows in the bytes).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Python's `None`.
    None,
    /// `True` or `False`.
    Bool(bool),
    /// An `int` that fits in 64 bits.
    Int(i64),
    /// An `int` outside the 64-bit range (Python ints are unbounded). Never holds a value that fits `Int`.
    BigInt(BigInt),
    /// A `float` (an IEEE 754 double, as CPython's).
    Float(f64),
    /// A `str`.
    Str(String),
    /// A `bytes` object.
    Bytes(Vec<u8>),
    /// A `bytearray` (mutable bytes, pickled differently from `bytes`).
    ByteArray(Vec<u8>),
    /// A `list`.
    List(Vec<Value>),
    /// A `tuple`.
    Tuple(Vec<Value>),
    /// A `dict` as `(key, value)` pairs in insertion order, each key once.
    Dict(Vec<(Value, Value)>),
    /// A `set`, its elements in the order the pickle added them.
    Set(Vec<Value>),
    /// A `frozenset`, its elements in the order the pickle listed them.
    FrozenSet(Vec<Value>),
    /// A reference to a module-level name (`GLOBAL`/`STACK_GLOBAL`), e.g. `datetime.datetime`. Inert.
    Global {
        /// The module's dotted path, e.g. `datetime`.
        module: String,
        /// The (possibly dotted) name within the module, e.g. `datetime`.
        name: String,
    },
    /// An object Python would rebuild by calling something (`REDUCE`, `NEWOBJ`), then mutating it.
    Object(Box<Object>),
}

/// An object that only Python can build, kept as the recipe the pickle gave for it.
#[derive(Clone, Debug, PartialEq)]
pub struct Object {
    /// The call that creates the object, before `ops` are applied to it.
    pub constructor: Constructor,
    /// What the pickle did to the object after creating it, in order (`APPEND(S)`, `SETITEM(S)`, `BUILD`).
    pub ops: Vec<ObjectOp>,
}

/// How an [`Object`] is first created, as the pickle spelled it; kept as data, never called.
#[derive(Clone, Debug, PartialEq)]
pub enum Constructor {
    /// `callable(*args)` (`REDUCE`; also how `INST`/`OBJ` of old protocols are kept).
    Reduce {
        /// What Python would call, usually a `Value::Global` (a class or a function).
        callable: Value,
        /// The positional arguments, always a `Value::Tuple`.
        args: Value,
    },
    /// `cls.__new__(cls, *args)` (`NEWOBJ`).
    NewObj {
        /// The class, usually a `Value::Global`.
        cls: Value,
        /// The positional arguments, always a `Value::Tuple`.
        args: Value,
    },
    /// `cls.__new__(cls, *args, **kwargs)` (`NEWOBJ_EX`).
    NewObjEx {
        /// The class, usually a `Value::Global`.
        cls: Value,
        /// The positional arguments, always a `Value::Tuple`.
        args: Value,
        /// The keyword arguments, always a `Value::Dict`.
        kwargs: Value,
    },
}

/// One mutation the pickle applies to an [`Object`] after creating it.
#[derive(Clone, Debug, PartialEq)]
pub enum ObjectOp {
    /// `APPEND`: `obj.append(value)` (consecutive ones are written back as `APPENDS` batches).
    Append(Value),
    /// `SETITEM`: `obj[key] = value` (consecutive ones are written back as `SETITEMS` batches).
    SetItem(Value, Value),
    /// `BUILD`: `__setstate__(state)` or an update of `__dict__`.
    Build(Value),
}

impl Value {
    /// An int from any size, normalised to `Int` when it fits.
    pub fn from_bigint(n: BigInt) -> Value {
        match i64::try_from(&n) {
            Ok(small) => Value::Int(small),
            Err(_) => Value::BigInt(n),
        }
    }

    /// The string if this is a `Str`, else `None` (no conversion from other types).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer if this is an `Int`, else `None` (a `BigInt`, `Bool` or `Float` gives `None`).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// Python truthiness of the simple types (`not value`), as Django's `if not expiry:` uses it.
    pub fn is_falsy(&self) -> bool {
        match self {
            Value::None => true,
            Value::Bool(b) => !b,
            Value::Int(i) => *i == 0,
            Value::Float(f) => *f == 0.0,
            Value::Str(s) => s.is_empty(),
            Value::Bytes(b) | Value::ByteArray(b) => b.is_empty(),
            Value::List(v) | Value::Tuple(v) | Value::Set(v) | Value::FrozenSet(v) => v.is_empty(),
            Value::Dict(d) => d.is_empty(),
            Value::BigInt(_) | Value::Global { .. } | Value::Object(_) => false,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
