//! Python's `pickle`: a reader that never executes anything, and a writer that emits CPython's bytes.
//!
//! Django's cache session engine stores the session dict pickled: `django.core.cache.backends.redis.
//! RedisCache` with `pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)` (protocol 5), django-redis's
//! `PickleSerializer` with `pickle.DEFAULT_PROTOCOL` (protocol 4 on Python 3.8–3.13). To share those
//! sessions we must read whatever Django wrote, change a key, and write the dict back so that Django
//! reads back exactly the objects it stored, including the ones we do not model (`datetime`, `Decimal`,
//! an app's class...), which [`Value`] keeps as inert recipes (`Value::Global`, `Value::Object`).
//!
//! **Reading** ([`loads`]) runs the pickle machine of `Modules/_pickle.c` over an arena: the stack and the
//! memo hold node indices, so a container memoized right after `EMPTY_LIST` and filled later is seen
//! filled by every `BINGET` of it (Python's memo holds references). `GLOBAL os system` + `REDUCE` is only
//! data: nothing is imported or called. At `STOP` the node graph becomes a [`Value`] tree; shared
//! references are copied under [`Limits`], so memo abuse (one object referenced a million times, nested
//! doubling) fails fast with a bounded amount of memory, and a container that contains itself is refused
//! ([`PickleError::Cycle`]): a tree cannot hold it.
//!
//! **Writing** ([`dumps`]) reproduces CPython 3.11's C pickler (`save()` and friends in
//! `Modules/_pickle.c`) for protocols 4 and 5: the same opcodes, the same `MEMOIZE`s, the same batches of
//! 1000, the same framing. Python deduplicates by object identity, which a value tree cannot see; we
//! reproduce the sharing that identity always implies (a class is one object; `''`, one-character latin-1
//! strings, `b''` and one-byte bytes are CPython singletons; the classes of one module share its name
//! string) and write everything else in full, which Python reads back as equal objects.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use num_bigint::{BigInt, Sign};

use crate::value::{Constructor, Object, ObjectOp, Value};

/// Bounds on what [`loads`] accepts, so a hostile or corrupt cache entry costs bounded time and memory.
///
/// Python's unpickler has no such limits (it trusts its input); these only refuse pickles far larger than
/// any session Django writes. A login session pickles to 186 bytes, 7 memo entries, depth 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest pickle read at all (`PickleError::InputTooLarge`). Default 4 MiB: Django puts no limit on a
    /// session, but Redis values of that size are already pathological for a per-request read, and every
    /// other limit scales with the input. Expanded shared references may hold at most
    /// `EXPANSION_FACTOR` (4) times this many bytes of `str`/`bytes` payload (`PickleError::TooManyBytes`).
    pub max_input_bytes: usize,
    /// Deepest nesting of containers in the result, and of open `MARK`s in the machine
    /// (`PickleError::TooDeep`). Default 200: sessions nest a few levels; CPython's own pickler gives up
    /// near 1000 (its recursion limit); and `Value`'s derived `Drop`/`Clone`/`PartialEq` recurse, so a
    /// tree must stay shallow enough for the Rust stack.
    pub max_depth: usize,
    /// Most nodes in the machine's arena and in the resulting tree after shared references are expanded
    /// (`PickleError::TooManyNodes`). Default 1,000,000: more than a 4 MiB pickle of small objects holds
    /// without sharing, and still only tens of MB of `Value`s; memo abuse (a list holding the previous one
    /// twice, 64 times over: 2**64 nodes from 600 bytes) stops here, before anything is copied.
    pub max_nodes: usize,
    /// Most memo entries (`PickleError::MemoTooLarge`). Default 100,000: CPython memoizes one entry per
    /// str, bytes, container and object, so this is a session of 100,000 strings; without it `MEMOIZE`
    /// (one byte each) could make millions of entries from a small input.
    pub max_memo: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_input_bytes: 4 << 20,
            max_depth: 200,
            max_nodes: 1_000_000,
            max_memo: 100_000,
        }
    }
}

/// How many times `max_input_bytes` of `str`/`bytes` payload the expanded tree may hold. Python shares a
/// memoized object instead of copying it; we copy, so a 1 MB string referenced a thousand times would
/// otherwise become a gigabyte.
pub const EXPANSION_FACTOR: usize = 4;

/// Deepest value [`dumps`] writes. CPython's pickler raises `RecursionError` near this depth (its default
/// recursion limit is 1000), so Python itself never writes deeper pickles.
pub const DUMPS_MAX_DEPTH: usize = 1000;

/// Why a pickle was refused, or a value could not be pickled. Offsets are byte positions in the input.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PickleError {
    /// The input is longer than `Limits::max_input_bytes`.
    #[error("pickle of {len} bytes exceeds the {limit}-byte limit")]
    InputTooLarge {
        /// The input's length in bytes.
        len: usize,
        /// `Limits::max_input_bytes`.
        limit: usize,
    },
    /// The input ended inside an opcode, or before `STOP` (Python: "pickle data was truncated").
    #[error("pickle data was truncated at byte {offset}")]
    Truncated {
        /// Position where the missing bytes should have started.
        offset: usize,
    },
    /// A byte that is not an opcode of protocols 0–5.
    #[error("unknown pickle opcode {opcode:#04x} at byte {offset}")]
    UnknownOpcode {
        /// The unknown byte.
        opcode: u8,
        /// Its position in the input.
        offset: usize,
    },
    /// A length prefix (strings, bytes, `LONG4`, `FRAME`) larger than the input that is left. Checked
    /// before anything is allocated from it.
    #[error("length {len} at byte {offset} exceeds the {remaining} bytes left")]
    LengthTooLarge {
        /// The length the input declared, in bytes.
        len: u64,
        /// How many bytes of input were left after the prefix.
        remaining: usize,
        /// Position of the opcode that carried the length.
        offset: usize,
    },
    /// Containers or open `MARK`s nest deeper than `Limits::max_depth` (or `DUMPS_MAX_DEPTH` in `dumps`).
    #[error("pickle nests deeper than {limit}")]
    TooDeep {
        /// The depth that was exceeded: `Limits::max_depth`, or `DUMPS_MAX_DEPTH` in `dumps`.
        limit: usize,
    },
    /// The arena, or the tree with shared references expanded, would exceed `Limits::max_nodes`.
    #[error("pickle expands to more than {limit} nodes")]
    TooManyNodes {
        /// `Limits::max_nodes`.
        limit: usize,
    },
    /// Checking that set members and dict keys are unique (Python's hashing and `==`) would visit more
    /// than `limit` values: [`HASH_WORK_PER_NODE`] times `Limits::max_nodes`. Python caches a frozenset's
    /// hash in the object; we hash values as trees, so frozensets nested and shared through the memo
    /// would repeat the work at every level (found by fuzzing: 878 bytes took 170 ms).
    #[error("checking set members and dict keys would visit more than {limit} values")]
    TooMuchHashing {
        /// The budget that was exhausted.
        limit: usize,
    },
    /// The tree with shared references expanded would hold more than this many bytes of str/bytes.
    #[error("pickle expands to more than {limit} bytes of data")]
    TooManyBytes {
        /// `EXPANSION_FACTOR` times `Limits::max_input_bytes`.
        limit: usize,
    },
    /// More memo entries than `Limits::max_memo`.
    #[error("pickle memo exceeds {limit} entries")]
    MemoTooLarge {
        /// `Limits::max_memo`.
        limit: usize,
    },
    /// `GET`/`BINGET`/`LONG_BINGET` of an index never `PUT` (Python: "Memo value not found at index").
    #[error("memo value not found at index {index} (byte {offset})")]
    MemoMissing {
        /// The memo index asked for.
        index: u64,
        /// Position of the opcode that asked for it.
        offset: usize,
    },
    /// An opcode needed more objects than the stack holds above the last `MARK` (Python's
    /// `Pdata_stack_underflow`: "unpickling stack underflow").
    #[error("unpickling stack underflow at byte {offset}")]
    StackUnderflow {
        /// Position of the opcode that found the stack too short.
        offset: usize,
    },
    /// An opcode that ends a `MARK` group found no `MARK` (Python: "could not find MARK").
    #[error("could not find MARK at byte {offset}")]
    MarkMissing {
        /// Position of the opcode that looked for the `MARK`.
        offset: usize,
    },
    /// A pickle feature that needs the Python side's cooperation and never appears in Django's cache
    /// values: persistent ids, the `copyreg` extension registry, out-of-band buffers; or an operation on
    /// an object we keep no op for.
    #[error("unsupported pickle feature at byte {offset}: {feature}")]
    Unsupported {
        /// The feature and its opcodes, e.g. `persistent id (PERSID/BINPERSID)`.
        feature: &'static str,
        /// Position of the opcode that used it.
        offset: usize,
    },
    /// `PROTO` above 5, the highest protocol Python knows.
    #[error("unsupported pickle protocol {0}")]
    UnsupportedProtocol(u8),
    /// `dumps` writes protocols 4 and 5 only (what Django's cache backends write).
    #[error("dumps writes pickle protocols 4 and 5, not {0}")]
    UnsupportedDumpsProtocol(u8),
    /// A container reachable from itself: Python can build it, a `Value` tree cannot hold it.
    #[error("pickle holds a container that contains itself")]
    Cycle,
    /// A `str` that is not valid UTF-8 (or holds a lone surrogate, which Python allows and Rust cannot
    /// represent), or a Python 2 `str` that is not ASCII (Python 3 decodes those as ASCII by default).
    #[error("undecodable string at byte {offset}")]
    InvalidString {
        /// Position of the opcode that carried the string.
        offset: usize,
    },
    /// A list, dict, set or bytearray used as a dict key or set element: Python raises `TypeError:
    /// unhashable type` for these, so the pickle cannot load.
    #[error("unhashable {0} used as a dict key or set element")]
    Unhashable(&'static str),
    /// Anything else Python itself rejects (odd `SETITEMS`, `APPEND` to a dict, `REDUCE` args not a tuple,
    /// a malformed text number...).
    #[error("invalid pickle at byte {offset}: {reason}")]
    Invalid {
        /// Position of the opcode Python would reject.
        offset: usize,
        /// What is wrong, in the words of Python's error where it has one.
        reason: &'static str,
    },
}

/// The protocol a pickle declares in its leading `PROTO` opcode (`\x80 N`), as Python's `pickletools`
/// reports it; `None` when the pickle starts without one (protocols 0 and 1). The cache stores can use it
/// to write a session back in the protocol it came in (5 from Django's `RedisCache`, 4 from django-redis).
pub fn protocol(data: &[u8]) -> Option<u8> {
    match data {
        [0x80, p, ..] => Some(*p),
        _ => None,
    }
}

/// `pickle.loads(data)` without executing anything: reads protocols 0–5 as CPython's `_pickle.Unpickler`
/// does (same stack, `MARK` and memo semantics, same errors for malformed input) and returns the object
/// as a [`Value`]. Globals and `REDUCE`/`NEWOBJ`/`BUILD` become inert `Value::Global`/`Value::Object`.
///
/// Beyond Python's semantics: dict keys are deduplicated as Python's dict does (a repeated key replaces
/// the value in the first key's position, so we read the same `_auth_user_id` Python reads); the
/// protocol < 4 spellings of `bytearray`, `set`, `frozenset` and `bytes` (`REDUCE` of the builtin) read as
/// those types, as Python would rebuild them; pickles Python could not load (unhashable keys) or that a
/// tree cannot hold (cycles) are refused; and everything is bounded by `limits`. Bytes after `STOP` are
/// ignored, as Python ignores them.
pub fn loads(data: &[u8], limits: &Limits) -> Result<Value, PickleError> {
    if data.len() > limits.max_input_bytes {
        return Err(PickleError::InputTooLarge {
            len: data.len(),
            limit: limits.max_input_bytes,
        });
    }
    let mut machine = Machine {
        data,
        pos: 0,
        limits,
        // Sized for a typical session up front: growing these was a third of a login session's decode.
        nodes: Vec::with_capacity((data.len() / 8).clamp(8, 4096)),
        stack: Vec::with_capacity(32),
        marks: Vec::with_capacity(8),
        memo: Memo {
            dense: Vec::with_capacity((data.len() / 8).clamp(8, 4096)),
            ..Memo::default()
        },
        proto: 0,
        hashing: HashBudget::new(limits),
    };
    let root = machine.run()?;
    let shared = machine.measure(root)?;
    machine.build(root, shared)
}

/// `pickle.dumps(value, protocol)` byte for byte as CPython 3.11's C pickler writes it, for protocol 4
/// (django-redis's `PickleSerializer`) or 5 (Django's `RedisSerializer`); other protocols are refused.
///
/// Identical bytes need identical sharing: Python writes an object seen before (by identity) as `BINGET`.
/// We do so for what CPython always shares: a global such as `datetime.datetime`, the module-name string
/// of globals, the `''`/one-latin-1-character str and `b''`/one-byte bytes singletons, attribute names
/// (the interned str keys of objects' state dicts and `NEWOBJ_EX` kwargs), and `timezone.utc` and
/// cached `ZoneInfo` instances. Any other object is written in full at each occurrence, which Python reads
/// back as equal (not identical) objects; so a pickle that shares, say, one list twice is not rewritten
/// byte for byte, only equivalently.
pub fn dumps(value: &Value, protocol: u8) -> Result<Vec<u8>, PickleError> {
    if !(4..=5).contains(&protocol) {
        return Err(PickleError::UnsupportedDumpsProtocol(protocol));
    }
    let mut pickler = Pickler {
        out: Vec::with_capacity(64),
        proto: protocol,
        framing: false,
        frame_start: None,
        memo_len: 0,
        globals: HashMap::new(),
        modules: HashMap::new(),
        singleton_str: HashMap::new(),
        singleton_bytes: HashMap::new(),
        interned: HashMap::new(),
        cached_objects: Vec::new(),
    };
    pickler.write(&[op::PROTO, protocol]);
    pickler.framing = true;
    pickler.save(value, 0)?;
    pickler.write(&[op::STOP]);
    pickler.commit_frame();
    Ok(pickler.out)
}

/// Opcodes, named as in `Lib/pickle.py`.
mod op {
    pub const MARK: u8 = b'(';
    pub const STOP: u8 = b'.';
    pub const POP: u8 = b'0';
    pub const POP_MARK: u8 = b'1';
    pub const DUP: u8 = b'2';
    pub const FLOAT: u8 = b'F';
    pub const INT: u8 = b'I';
    pub const BININT: u8 = b'J';
    pub const BININT1: u8 = b'K';
    pub const LONG: u8 = b'L';
    pub const BININT2: u8 = b'M';
    pub const NONE: u8 = b'N';
    pub const PERSID: u8 = b'P';
    pub const BINPERSID: u8 = b'Q';
    pub const REDUCE: u8 = b'R';
    pub const STRING: u8 = b'S';
    pub const BINSTRING: u8 = b'T';
    pub const SHORT_BINSTRING: u8 = b'U';
    pub const UNICODE: u8 = b'V';
    pub const BINUNICODE: u8 = b'X';
    pub const APPEND: u8 = b'a';
    pub const BUILD: u8 = b'b';
    pub const GLOBAL: u8 = b'c';
    pub const DICT: u8 = b'd';
    pub const EMPTY_DICT: u8 = b'}';
    pub const APPENDS: u8 = b'e';
    pub const GET: u8 = b'g';
    pub const BINGET: u8 = b'h';
    pub const INST: u8 = b'i';
    pub const LONG_BINGET: u8 = b'j';
    pub const LIST: u8 = b'l';
    pub const EMPTY_LIST: u8 = b']';
    pub const OBJ: u8 = b'o';
    pub const PUT: u8 = b'p';
    pub const BINPUT: u8 = b'q';
    pub const LONG_BINPUT: u8 = b'r';
    pub const SETITEM: u8 = b's';
    pub const TUPLE: u8 = b't';
    pub const EMPTY_TUPLE: u8 = b')';
    pub const SETITEMS: u8 = b'u';
    pub const BINFLOAT: u8 = b'G';
    // Protocol 2
    pub const PROTO: u8 = 0x80;
    pub const NEWOBJ: u8 = 0x81;
    pub const EXT1: u8 = 0x82;
    pub const EXT2: u8 = 0x83;
    pub const EXT4: u8 = 0x84;
    pub const TUPLE1: u8 = 0x85;
    pub const TUPLE2: u8 = 0x86;
    pub const TUPLE3: u8 = 0x87;
    pub const NEWTRUE: u8 = 0x88;
    pub const NEWFALSE: u8 = 0x89;
    pub const LONG1: u8 = 0x8a;
    pub const LONG4: u8 = 0x8b;
    // Protocol 3
    pub const BINBYTES: u8 = b'B';
    pub const SHORT_BINBYTES: u8 = b'C';
    // Protocol 4
    pub const SHORT_BINUNICODE: u8 = 0x8c;
    pub const BINUNICODE8: u8 = 0x8d;
    pub const BINBYTES8: u8 = 0x8e;
    pub const EMPTY_SET: u8 = 0x8f;
    pub const ADDITEMS: u8 = 0x90;
    pub const FROZENSET: u8 = 0x91;
    pub const NEWOBJ_EX: u8 = 0x92;
    pub const STACK_GLOBAL: u8 = 0x93;
    pub const MEMOIZE: u8 = 0x94;
    pub const FRAME: u8 = 0x95;
    // Protocol 5
    pub const BYTEARRAY8: u8 = 0x96;
    pub const NEXT_BUFFER: u8 = 0x97;
    pub const READONLY_BUFFER: u8 = 0x98;
}

// ------------------------------------------------------------------------------------------------------
// Reading
// ------------------------------------------------------------------------------------------------------

type NodeId = usize;

/// An object under construction. Containers hold node ids, so a memoized container is shared, not copied,
/// while the machine runs.
enum Node {
    /// An immutable value with no children (numbers, str, bytes, bytearray, globals).
    Leaf(Value),
    List(Vec<NodeId>),
    Tuple(Vec<NodeId>),
    Dict(Vec<(NodeId, NodeId)>),
    Set(Vec<NodeId>),
    FrozenSet(Vec<NodeId>),
    Object {
        ctor: Ctor,
        ops: Vec<Op>,
    },
}

enum Ctor {
    Reduce(NodeId, NodeId),
    NewObj(NodeId, NodeId),
    NewObjEx(NodeId, NodeId, NodeId),
}

enum Op {
    Append(NodeId),
    SetItem(NodeId, NodeId),
    Build(NodeId),
}

impl Node {
    /// Children in the order `Machine::assemble` consumes them.
    fn children(&self, out: &mut Vec<NodeId>) {
        match self {
            Node::Leaf(_) => {}
            Node::List(items) | Node::Tuple(items) | Node::Set(items) | Node::FrozenSet(items) => {
                out.extend_from_slice(items)
            }
            Node::Dict(pairs) => {
                for &(k, v) in pairs {
                    out.push(k);
                    out.push(v);
                }
            }
            Node::Object { ctor, ops } => {
                match *ctor {
                    Ctor::Reduce(a, b) | Ctor::NewObj(a, b) => out.extend([a, b]),
                    Ctor::NewObjEx(a, b, c) => out.extend([a, b, c]),
                }
                for op in ops {
                    match *op {
                        Op::Append(x) | Op::Build(x) => out.push(x),
                        Op::SetItem(k, v) => out.extend([k, v]),
                    }
                }
            }
        }
    }

    /// Bytes of payload this node alone holds, for the expansion budget.
    fn payload(&self) -> u64 {
        let n = match self {
            Node::Leaf(Value::Str(s)) => s.len(),
            Node::Leaf(Value::Bytes(b)) | Node::Leaf(Value::ByteArray(b)) => b.len(),
            Node::Leaf(Value::BigInt(b)) => usize::try_from(b.bits() / 8).unwrap_or(usize::MAX),
            Node::Leaf(Value::Global { module, name }) => module.len().saturating_add(name.len()),
            _ => 0,
        };
        u64::try_from(n).unwrap_or(u64::MAX)
    }
}

/// The pickle machine: `Modules/_pickle.c`'s `load()` over an arena.
struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    limits: &'a Limits,
    nodes: Vec<Node>,
    stack: Vec<NodeId>,
    /// Stack lengths at each open `MARK`; the last one is the "fence" below which no opcode may pop.
    marks: Vec<usize>,
    memo: Memo,
    /// The last `PROTO` seen (0 without one): below 3, module and class names of Python 2 are mapped as
    /// `Unpickler(fix_imports=True)` does.
    proto: u8,
    /// How many more values the uniqueness checks of sets and dicts may visit ([`HashBudget`]).
    hashing: HashBudget,
}

/// How many values the uniqueness checks of one `loads` may visit, per node of `Limits::max_nodes`: a
/// set of N tuples of two is 3N visits, nested sets a few times that.
pub const HASH_WORK_PER_NODE: usize = 4;

/// What remains of one `loads`'s hashing budget; once spent it stays spent, and the load fails.
struct HashBudget {
    left: std::cell::Cell<usize>,
    /// Set by the first visit refused.
    spent: std::cell::Cell<bool>,
    limit: usize,
}

impl HashBudget {
    fn new(limits: &Limits) -> HashBudget {
        let limit = limits.max_nodes.saturating_mul(HASH_WORK_PER_NODE);
        HashBudget {
            left: std::cell::Cell::new(limit),
            spent: std::cell::Cell::new(false),
            limit,
        }
    }

    /// Takes one visit; `false` once the budget is spent.
    fn spend(&self) -> bool {
        match self.left.get().checked_sub(1) {
            Some(left) => {
                self.left.set(left);
                true
            }
            None => {
                self.spent.set(true);
                false
            }
        }
    }

    /// `Err` if the budget ran out (a check that failed for lack of it is not an answer).
    fn check(&self) -> Res<()> {
        if self.spent.get() {
            Err(PickleError::TooMuchHashing { limit: self.limit })
        } else {
            Ok(())
        }
    }
}

type Res<T> = Result<T, PickleError>;

/// Python's memo (a dict from index to object). `MEMOIZE` numbers entries densely from 0, so they live in a
/// vector, which is several times cheaper than hashing on the hot path of every session read; `PUT`/`BINPUT`
/// may name any index, and those beyond the dense range go to a map. `len` counts entries, as `len(memo)`.
#[derive(Default)]
struct Memo {
    dense: Vec<Option<NodeId>>,
    sparse: HashMap<u64, NodeId>,
    len: usize,
}

impl Memo {
    fn get(&self, index: u64) -> Option<NodeId> {
        match usize::try_from(index).ok().and_then(|i| self.dense.get(i)) {
            Some(slot) => *slot,
            None => self.sparse.get(&index).copied(),
        }
    }

    fn put(&mut self, index: u64, id: NodeId, max_memo: usize) -> Res<()> {
        if self.get(index).is_none() {
            if self.len >= max_memo {
                return Err(PickleError::MemoTooLarge { limit: max_memo });
            }
            self.len += 1;
        }
        match usize::try_from(index) {
            // Dense while the index stays within the memo limit, so the vector is bounded too.
            Ok(i) if i < max_memo => {
                if i >= self.dense.len() {
                    self.dense.resize(i + 1, None);
                }
                self.dense[i] = Some(id);
            }
            _ => {
                self.sparse.insert(index, id);
            }
        }
        Ok(())
    }
}

fn invalid(offset: usize, reason: &'static str) -> PickleError {
    PickleError::Invalid { offset, reason }
}

impl<'a> Machine<'a> {
    // --- input ---

    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    /// A fixed-size field: running out is truncation.
    fn take(&mut self, n: usize) -> Res<&'a [u8]> {
        let data = self.data;
        let end = self
            .pos
            .checked_add(n)
            .ok_or(PickleError::Truncated { offset: self.pos })?;
        let bytes = data
            .get(self.pos..end)
            .ok_or(PickleError::Truncated { offset: self.pos })?;
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Res<[u8; N]> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn byte(&mut self) -> Res<u8> {
        Ok(self.array::<1>()?[0])
    }

    /// A payload whose length came from the input: checked against what is left before it is used.
    fn take_counted(&mut self, len: u64, offset: usize) -> Res<&'a [u8]> {
        let remaining = self.remaining();
        match usize::try_from(len) {
            Ok(n) if n <= remaining => self.take(n),
            _ => Err(PickleError::LengthTooLarge {
                len,
                remaining,
                offset,
            }),
        }
    }

    /// A text argument of protocol 0, without its `\n`.
    fn line(&mut self) -> Res<&'a [u8]> {
        let data = self.data;
        let rest = data
            .get(self.pos..)
            .ok_or(PickleError::Truncated { offset: self.pos })?;
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(PickleError::Truncated { offset: self.pos })?;
        let line = rest.get(..n).unwrap_or_default();
        self.pos += n + 1;
        Ok(line)
    }

    // --- stack, marks, memo, arena ---

    fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn new_node(&mut self, node: Node) -> Res<NodeId> {
        if self.nodes.len() >= self.limits.max_nodes {
            return Err(PickleError::TooManyNodes {
                limit: self.limits.max_nodes,
            });
        }
        self.nodes.push(node);
        Ok(self.nodes.len() - 1)
    }

    fn push(&mut self, id: NodeId) -> Res<()> {
        // Every push consumes at least one input byte, so the stack is bounded by the input; this only
        // keeps it within the node budget too.
        if self.stack.len() >= self.limits.max_nodes {
            return Err(PickleError::TooManyNodes {
                limit: self.limits.max_nodes,
            });
        }
        self.stack.push(id);
        Ok(())
    }

    fn push_node(&mut self, node: Node) -> Res<()> {
        let id = self.new_node(node)?;
        self.push(id)
    }

    fn push_leaf(&mut self, value: Value) -> Res<()> {
        self.push_node(Node::Leaf(value))
    }

    /// `Pdata_pop`: never below the fence.
    fn pop(&mut self, offset: usize) -> Res<NodeId> {
        if self.stack.len() <= self.fence() {
            return Err(PickleError::StackUnderflow { offset });
        }
        self.stack
            .pop()
            .ok_or(PickleError::StackUnderflow { offset })
    }

    fn top(&self, offset: usize) -> Res<NodeId> {
        if self.stack.len() <= self.fence() {
            return Err(PickleError::StackUnderflow { offset });
        }
        self.stack
            .last()
            .copied()
            .ok_or(PickleError::StackUnderflow { offset })
    }

    /// `marker()`: closes the last `MARK`, returning the stack length it recorded.
    fn pop_mark(&mut self, offset: usize) -> Res<usize> {
        let mark = self
            .marks
            .pop()
            .ok_or(PickleError::MarkMissing { offset })?;
        if mark > self.stack.len() {
            return Err(PickleError::StackUnderflow { offset });
        }
        Ok(mark)
    }

    /// The objects above the last `MARK`, removed from the stack.
    fn pop_marked(&mut self, offset: usize) -> Res<Vec<NodeId>> {
        let mark = self.pop_mark(offset)?;
        Ok(self.stack.split_off(mark))
    }

    /// The objects above the mark of an `APPENDS`/`SETITEMS`/`ADDITEMS`, and the container below it.
    fn pop_batch(&mut self, offset: usize) -> Res<(NodeId, Vec<NodeId>)> {
        let mark = self.pop_mark(offset)?;
        let target = mark
            .checked_sub(1)
            .and_then(|i| self.stack.get(i).copied())
            .ok_or(PickleError::StackUnderflow { offset })?;
        Ok((target, self.stack.split_off(mark)))
    }

    fn memo_put(&mut self, index: u64, offset: usize) -> Res<()> {
        let top = self.top(offset)?;
        self.memo.put(index, top, self.limits.max_memo)
    }

    fn memo_get(&mut self, index: u64, offset: usize) -> Res<()> {
        let id = self
            .memo
            .get(index)
            .ok_or(PickleError::MemoMissing { index, offset })?;
        self.push(id)
    }

    fn is_tuple(&self, id: NodeId) -> bool {
        matches!(self.nodes.get(id), Some(Node::Tuple(_)))
    }

    fn push_object(&mut self, ctor: Ctor) -> Res<()> {
        self.push_node(Node::Object {
            ctor,
            ops: Vec::new(),
        })
    }

    fn str_leaf(&self, id: NodeId) -> Option<&str> {
        match self.nodes.get(id) {
            Some(Node::Leaf(Value::Str(s))) => Some(s),
            _ => None,
        }
    }

    // --- mutations of containers already on the stack ---

    fn append(&mut self, target: NodeId, items: Vec<NodeId>, offset: usize) -> Res<()> {
        match self.nodes.get_mut(target) {
            Some(Node::List(list)) => list.extend(items),
            Some(Node::Object { ops, .. }) => ops.extend(items.into_iter().map(Op::Append)),
            _ => {
                return Err(invalid(
                    offset,
                    "APPEND to something not a list or an object",
                ));
            }
        }
        Ok(())
    }

    fn set_items(&mut self, target: NodeId, items: Vec<NodeId>, offset: usize) -> Res<()> {
        if items.len() % 2 != 0 {
            return Err(invalid(offset, "odd number of items for SETITEMS"));
        }
        let pairs = items.chunks_exact(2).map(|kv| (kv[0], kv[1]));
        match self.nodes.get_mut(target) {
            Some(Node::Dict(dict)) => dict.extend(pairs),
            Some(Node::Object { ops, .. }) => ops.extend(pairs.map(|(k, v)| Op::SetItem(k, v))),
            _ => {
                return Err(invalid(
                    offset,
                    "SETITEM on something not a dict or an object",
                ));
            }
        }
        Ok(())
    }

    fn add_items(&mut self, target: NodeId, items: Vec<NodeId>, offset: usize) -> Res<()> {
        match self.nodes.get_mut(target) {
            Some(Node::Set(set)) => set.extend(items),
            Some(Node::Object { .. }) => Err(PickleError::Unsupported {
                feature: "ADDITEMS on an object (Value has no add op)",
                offset,
            })?,
            _ => return Err(invalid(offset, "ADDITEMS on something not a set")),
        }
        Ok(())
    }

    fn build_op(&mut self, target: NodeId, state: NodeId, offset: usize) -> Res<()> {
        match self.nodes.get_mut(target) {
            Some(Node::Object { ops, .. }) => ops.push(Op::Build(state)),
            _ => return Err(invalid(offset, "BUILD on something not an object")),
        }
        Ok(())
    }

    // --- the machine ---

    fn run(&mut self) -> Res<NodeId> {
        loop {
            let at = self.pos;
            let code = self.byte()?;
            match code {
                op::MARK => {
                    if self.marks.len() >= self.limits.max_depth {
                        return Err(PickleError::TooDeep {
                            limit: self.limits.max_depth,
                        });
                    }
                    self.marks.push(self.stack.len());
                }
                op::STOP => return self.pop(at),
                op::POP => {
                    // `load_pop`: a MARK at the top of the stack is popped instead of an object.
                    if self.marks.last() == Some(&self.stack.len()) {
                        self.marks.pop();
                    } else {
                        self.pop(at)?;
                    }
                }
                op::POP_MARK => {
                    self.pop_marked(at)?;
                }
                op::DUP => {
                    let top = self.top(at)?;
                    self.push(top)?;
                }
                op::FLOAT => {
                    let line = self.line()?;
                    let f = parse_float(line).ok_or(invalid(at, "could not convert FLOAT"))?;
                    self.push_leaf(Value::Float(f))?;
                }
                op::INT => {
                    let line = self.line()?;
                    let value = parse_int_opcode(line).ok_or(invalid(at, "invalid INT literal"))?;
                    self.push_leaf(value)?;
                }
                op::BININT => {
                    let b = self.array::<4>()?;
                    self.push_leaf(Value::Int(i32::from_le_bytes(b).into()))?;
                }
                op::BININT1 => {
                    let b = self.byte()?;
                    self.push_leaf(Value::Int(b.into()))?;
                }
                op::BININT2 => {
                    let b = self.array::<2>()?;
                    self.push_leaf(Value::Int(u16::from_le_bytes(b).into()))?;
                }
                op::LONG => {
                    let line = self.line()?;
                    let digits = line.strip_suffix(b"L").unwrap_or(line);
                    let n = parse_py_int(digits, 0).ok_or(invalid(at, "invalid LONG literal"))?;
                    self.push_leaf(Value::from_bigint(n))?;
                }
                op::LONG1 => {
                    let n = self.byte()?;
                    let bytes = self.take_counted(n.into(), at)?;
                    self.push_leaf(Value::from_bigint(BigInt::from_signed_bytes_le(bytes)))?;
                }
                op::LONG4 => {
                    let n = i32::from_le_bytes(self.array::<4>()?);
                    let n = u64::try_from(n)
                        .map_err(|_| invalid(at, "LONG pickle has negative byte count"))?;
                    let bytes = self.take_counted(n, at)?;
                    self.push_leaf(Value::from_bigint(BigInt::from_signed_bytes_le(bytes)))?;
                }
                op::NONE => self.push_leaf(Value::None)?,
                op::NEWTRUE => self.push_leaf(Value::Bool(true))?,
                op::NEWFALSE => self.push_leaf(Value::Bool(false))?,
                op::BINFLOAT => {
                    let b = self.array::<8>()?;
                    self.push_leaf(Value::Float(f64::from_be_bytes(b)))?;
                }
                op::PERSID | op::BINPERSID => {
                    return Err(PickleError::Unsupported {
                        feature: "persistent id (PERSID/BINPERSID)",
                        offset: at,
                    });
                }
                op::EXT1 | op::EXT2 | op::EXT4 => {
                    return Err(PickleError::Unsupported {
                        feature: "extension registry (EXT1/EXT2/EXT4)",
                        offset: at,
                    });
                }
                op::NEXT_BUFFER | op::READONLY_BUFFER => {
                    return Err(PickleError::Unsupported {
                        feature: "out-of-band buffers (NEXT_BUFFER/READONLY_BUFFER)",
                        offset: at,
                    });
                }
                op::STRING => {
                    let line = self.line()?;
                    let bytes = decode_string_literal(line).ok_or(invalid(at, "invalid STRING"))?;
                    self.push_leaf(Value::Str(ascii(&bytes, at)?))?;
                }
                op::BINSTRING => {
                    let n = u32::from_le_bytes(self.array::<4>()?);
                    let bytes = self.take_counted(n.into(), at)?;
                    self.push_leaf(Value::Str(ascii(bytes, at)?))?;
                }
                op::SHORT_BINSTRING => {
                    let n = self.byte()?;
                    let bytes = self.take_counted(n.into(), at)?;
                    self.push_leaf(Value::Str(ascii(bytes, at)?))?;
                }
                op::UNICODE => {
                    let line = self.line()?;
                    let s = decode_raw_unicode_escape(line)
                        .ok_or(PickleError::InvalidString { offset: at })?;
                    self.push_leaf(Value::Str(s))?;
                }
                op::SHORT_BINUNICODE => {
                    let n = self.byte()?;
                    self.counted_str(n.into(), at)?;
                }
                op::BINUNICODE => {
                    let n = u32::from_le_bytes(self.array::<4>()?);
                    self.counted_str(n.into(), at)?;
                }
                op::BINUNICODE8 => {
                    let n = u64::from_le_bytes(self.array::<8>()?);
                    self.counted_str(n, at)?;
                }
                op::SHORT_BINBYTES => {
                    let n = self.byte()?;
                    let bytes = self.take_counted(n.into(), at)?;
                    self.push_leaf(Value::Bytes(bytes.to_vec()))?;
                }
                op::BINBYTES => {
                    let n = u32::from_le_bytes(self.array::<4>()?);
                    let bytes = self.take_counted(n.into(), at)?;
                    self.push_leaf(Value::Bytes(bytes.to_vec()))?;
                }
                op::BINBYTES8 => {
                    let n = u64::from_le_bytes(self.array::<8>()?);
                    let bytes = self.take_counted(n, at)?;
                    self.push_leaf(Value::Bytes(bytes.to_vec()))?;
                }
                op::BYTEARRAY8 => {
                    let n = u64::from_le_bytes(self.array::<8>()?);
                    let bytes = self.take_counted(n, at)?;
                    self.push_leaf(Value::ByteArray(bytes.to_vec()))?;
                }
                op::EMPTY_TUPLE => self.push_node(Node::Tuple(Vec::new()))?,
                op::TUPLE => {
                    let items = self.pop_marked(at)?;
                    self.push_node(Node::Tuple(items))?;
                }
                op::TUPLE1 | op::TUPLE2 | op::TUPLE3 => {
                    let n = usize::from(code - op::TUPLE1 + 1);
                    let start = self
                        .stack
                        .len()
                        .checked_sub(n)
                        .filter(|&start| start >= self.fence())
                        .ok_or(PickleError::StackUnderflow { offset: at })?;
                    let items = self.stack.split_off(start);
                    self.push_node(Node::Tuple(items))?;
                }
                op::EMPTY_LIST => self.push_node(Node::List(Vec::new()))?,
                op::LIST => {
                    let items = self.pop_marked(at)?;
                    self.push_node(Node::List(items))?;
                }
                op::EMPTY_DICT => self.push_node(Node::Dict(Vec::new()))?,
                op::DICT => {
                    let items = self.pop_marked(at)?;
                    if items.len() % 2 != 0 {
                        return Err(invalid(at, "odd number of items for DICT"));
                    }
                    let pairs = items.chunks_exact(2).map(|kv| (kv[0], kv[1])).collect();
                    self.push_node(Node::Dict(pairs))?;
                }
                op::EMPTY_SET => self.push_node(Node::Set(Vec::new()))?,
                op::FROZENSET => {
                    let items = self.pop_marked(at)?;
                    self.push_node(Node::FrozenSet(items))?;
                }
                op::APPEND => {
                    let value = self.pop(at)?;
                    let target = self.top(at)?;
                    self.append(target, vec![value], at)?;
                }
                op::APPENDS => {
                    let (target, items) = self.pop_batch(at)?;
                    if !items.is_empty() {
                        self.append(target, items, at)?;
                    }
                }
                op::SETITEM => {
                    let value = self.pop(at)?;
                    let key = self.pop(at)?;
                    let target = self.top(at)?;
                    self.set_items(target, vec![key, value], at)?;
                }
                op::SETITEMS => {
                    let (target, items) = self.pop_batch(at)?;
                    if !items.is_empty() {
                        self.set_items(target, items, at)?;
                    }
                }
                op::ADDITEMS => {
                    let (target, items) = self.pop_batch(at)?;
                    if !items.is_empty() {
                        self.add_items(target, items, at)?;
                    }
                }
                op::BUILD => {
                    let state = self.pop(at)?;
                    let target = self.top(at)?;
                    self.build_op(target, state, at)?;
                }
                op::GLOBAL => {
                    let module = utf8(self.line()?, at)?;
                    let name = utf8(self.line()?, at)?;
                    let global = self.find_class(module, name);
                    self.push_leaf(global)?;
                }
                op::STACK_GLOBAL => {
                    let name = self.pop(at)?;
                    let module = self.pop(at)?;
                    let (Some(module), Some(name)) = (self.str_leaf(module), self.str_leaf(name))
                    else {
                        return Err(invalid(at, "STACK_GLOBAL requires str"));
                    };
                    let global = self.find_class(module.to_string(), name.to_string());
                    self.push_leaf(global)?;
                }
                op::REDUCE => {
                    let args = self.pop(at)?;
                    let callable = self.pop(at)?;
                    if !self.is_tuple(args) {
                        return Err(invalid(at, "REDUCE arguments are not a tuple"));
                    }
                    self.push_object(Ctor::Reduce(callable, args))?;
                }
                op::NEWOBJ => {
                    let args = self.pop(at)?;
                    let cls = self.pop(at)?;
                    if !self.is_tuple(args) {
                        return Err(invalid(at, "NEWOBJ expected an arg tuple"));
                    }
                    self.push_object(Ctor::NewObj(cls, args))?;
                }
                op::NEWOBJ_EX => {
                    let kwargs = self.pop(at)?;
                    let args = self.pop(at)?;
                    let cls = self.pop(at)?;
                    if !self.is_tuple(args) {
                        return Err(invalid(at, "NEWOBJ_EX args argument should be a tuple"));
                    }
                    if !matches!(self.nodes.get(kwargs), Some(Node::Dict(_))) {
                        return Err(invalid(at, "NEWOBJ_EX kwargs argument should be a dict"));
                    }
                    self.push_object(Ctor::NewObjEx(cls, args, kwargs))?;
                }
                op::INST => {
                    // `load_inst`: `cls(*args)` for a class named inline, args above the MARK.
                    let args = self.pop_marked(at)?;
                    let module = utf8(self.line()?, at)?;
                    let name = utf8(self.line()?, at)?;
                    let global = self.find_class(module, name);
                    let cls = self.new_node(Node::Leaf(global))?;
                    let args = self.new_node(Node::Tuple(args))?;
                    self.push_object(Ctor::Reduce(cls, args))?;
                }
                op::OBJ => {
                    // `load_obj`: the class is the first object above the MARK, the args follow it.
                    let mut items = self.pop_marked(at)?;
                    if items.is_empty() {
                        return Err(PickleError::StackUnderflow { offset: at });
                    }
                    let cls = items.remove(0);
                    let args = self.new_node(Node::Tuple(items))?;
                    self.push_object(Ctor::Reduce(cls, args))?;
                }
                op::MEMOIZE => {
                    let index = u64::try_from(self.memo.len).unwrap_or(u64::MAX);
                    self.memo_put(index, at)?;
                }
                op::PUT => {
                    let line = self.line()?;
                    let index = parse_memo_index(line).ok_or(invalid(at, "invalid PUT index"))?;
                    self.memo_put(index, at)?;
                }
                op::BINPUT => {
                    let index = self.byte()?;
                    self.memo_put(index.into(), at)?;
                }
                op::LONG_BINPUT => {
                    let index = u32::from_le_bytes(self.array::<4>()?);
                    self.memo_put(index.into(), at)?;
                }
                op::GET => {
                    let line = self.line()?;
                    let index = parse_memo_index(line).ok_or(invalid(at, "invalid GET index"))?;
                    self.memo_get(index, at)?;
                }
                op::BINGET => {
                    let index = self.byte()?;
                    self.memo_get(index.into(), at)?;
                }
                op::LONG_BINGET => {
                    let index = u32::from_le_bytes(self.array::<4>()?);
                    self.memo_get(index.into(), at)?;
                }
                op::PROTO => {
                    let proto = self.byte()?;
                    if proto > 5 {
                        return Err(PickleError::UnsupportedProtocol(proto));
                    }
                    self.proto = proto;
                }
                op::FRAME => {
                    // `load_frame`: the frame must be present in full; its opcodes are then read as usual.
                    let len = u64::from_le_bytes(self.array::<8>()?);
                    let remaining = self.remaining();
                    if usize::try_from(len).map_or(true, |n| n > remaining) {
                        return Err(PickleError::LengthTooLarge {
                            len,
                            remaining,
                            offset: at,
                        });
                    }
                }
                opcode => {
                    return Err(PickleError::UnknownOpcode { opcode, offset: at });
                }
            }
        }
    }

    fn counted_str(&mut self, len: u64, at: usize) -> Res<()> {
        let bytes = self.take_counted(len, at)?;
        let s = utf8(bytes, at)?;
        self.push_leaf(Value::Str(s))
    }

    /// `Unpickler.find_class` without the import: below protocol 3, the Python 2 module names of built-in
    /// types are mapped to their Python 3 homes (see `IMPORT_MAPPING`), so a value read from an old pickle
    /// is written back under the name Python 3 will import.
    fn find_class(&self, module: String, name: String) -> Value {
        if self.proto < 3 {
            if let Some(&(_, m)) = IMPORT_MAPPING.iter().find(|(old, _)| *old == module) {
                return Value::Global {
                    module: m.to_string(),
                    name,
                };
            }
        }
        Value::Global { module, name }
    }

    // --- from graph to tree ---

    /// Walks the graph from `root` once (each node once, iteratively) and refuses it before anything is
    /// copied if it has a cycle, or if its expansion into a tree would be too deep, too many nodes or too
    /// many bytes. Returns how many times each node is referenced, so `build` can move what is used once.
    fn measure(&self, root: NodeId) -> Res<bool> {
        const WHITE: u8 = 0;
        const GRAY: u8 = 1;
        const BLACK: u8 = 2;
        let limits = self.limits;
        let max_bytes = limits.max_input_bytes.saturating_mul(EXPANSION_FACTOR);
        let too_many_nodes = PickleError::TooManyNodes {
            limit: limits.max_nodes,
        };
        let n = self.nodes.len();
        #[derive(Clone, Copy)]
        struct Meta {
            color: u8,
            refs: u32,
            size: u64,
            bytes: u64,
            depth: usize,
        }
        let mut shared = false;
        let mut meta = vec![
            Meta {
                color: WHITE,
                refs: 0,
                size: 0,
                bytes: 0,
                depth: 0
            };
            n
        ];
        // (node, its children, next child to visit)
        let mut frames: Vec<(NodeId, Vec<NodeId>, usize)> = Vec::new();
        let mut next = Some(root);
        loop {
            if let Some(id) = next.take() {
                let node = self.nodes.get(id).ok_or(PickleError::Cycle)?;
                let Some(m) = meta.get_mut(id) else {
                    return Err(PickleError::Cycle);
                };
                m.refs = m.refs.saturating_add(1);
                shared |= m.refs > 1;
                match Some(m.color) {
                    Some(GRAY) => return Err(PickleError::Cycle),
                    Some(WHITE) => {
                        if let Node::Leaf(_) = node {
                            m.color = BLACK;
                            m.size = 1;
                            m.bytes = node.payload();
                        } else {
                            if frames.len() >= limits.max_depth {
                                return Err(PickleError::TooDeep {
                                    limit: limits.max_depth,
                                });
                            }
                            m.color = GRAY;
                            let mut children = Vec::new();
                            node.children(&mut children);
                            frames.push((id, children, 0));
                        }
                    }
                    _ => {}
                }
            }
            let Some((id, children, i)) = frames.last_mut() else {
                break;
            };
            if let Some(&child) = children.get(*i) {
                *i += 1;
                next = Some(child);
                continue;
            }
            let id = *id;
            let mut total_size: u64 = 1;
            let mut total_bytes = self.nodes.get(id).map_or(0, Node::payload);
            let mut max_child_depth = 0;
            for &c in children.iter() {
                total_size = total_size.saturating_add(meta[c].size);
                total_bytes = total_bytes.saturating_add(meta[c].bytes);
                max_child_depth = max_child_depth.max(meta[c].depth);
            }
            frames.pop();
            if usize::try_from(total_size).map_or(true, |s| s > limits.max_nodes) {
                return Err(too_many_nodes);
            }
            if usize::try_from(total_bytes).map_or(true, |b| b > max_bytes) {
                return Err(PickleError::TooManyBytes { limit: max_bytes });
            }
            let d = max_child_depth + 1;
            if d > limits.max_depth {
                return Err(PickleError::TooDeep {
                    limit: limits.max_depth,
                });
            }
            meta[id] = Meta {
                color: BLACK,
                refs: meta[id].refs,
                size: total_size,
                bytes: total_bytes,
                depth: d,
            };
        }
        Ok(shared)
    }

    /// Copies the (measured, acyclic) graph into a tree, iteratively. When nothing is shared (nearly every
    /// session), each leaf occurs once in the tree and is moved out of the arena rather than cloned; a
    /// shared container is expanded once per reference, so then its leaves must be cloned.
    fn build(&mut self, root: NodeId, shared: bool) -> Res<Value> {
        struct Frame {
            id: NodeId,
            children: Vec<NodeId>,
            next: usize,
            built: Vec<Value>,
        }
        let frame = |id: NodeId, node: &Node| {
            let mut children = Vec::new();
            node.children(&mut children);
            let built = Vec::with_capacity(children.len());
            Frame {
                id,
                children,
                next: 0,
                built,
            }
        };
        let mut frames = match self.nodes.get(root) {
            Some(Node::Leaf(v)) => return Ok(v.clone()),
            Some(node) => vec![frame(root, node)],
            None => return Err(PickleError::Cycle),
        };
        while let Some(top) = frames.last_mut() {
            if let Some(&child) = top.children.get(top.next) {
                top.next += 1;
                match self.nodes.get_mut(child) {
                    Some(Node::Leaf(v)) if !shared => {
                        top.built.push(std::mem::replace(v, Value::None))
                    }
                    Some(Node::Leaf(v)) => top.built.push(v.clone()),
                    Some(node) => frames.push(frame(child, node)),
                    None => return Err(PickleError::Cycle),
                }
                continue;
            }
            let Some(done) = frames.pop() else { break };
            let value = self.assemble(done.id, done.built)?;
            match frames.last_mut() {
                Some(parent) => parent.built.push(value),
                None => return Ok(value),
            }
        }
        Err(PickleError::Cycle)
    }

    /// The value of a container node from its children's values, in `Node::children` order.
    fn assemble(&self, id: NodeId, built: Vec<Value>) -> Res<Value> {
        let mut values = built.into_iter();
        let mut next = || values.next().unwrap_or(Value::None);
        Ok(match self.nodes.get(id) {
            None | Some(Node::Leaf(_)) => Value::None,
            Some(Node::List(items)) => Value::List(items.iter().map(|_| next()).collect()),
            Some(Node::Tuple(items)) => Value::Tuple(items.iter().map(|_| next()).collect()),
            Some(Node::Set(items)) => Value::Set(unique(
                items.iter().map(|_| next()).collect(),
                &self.hashing,
            )?),
            Some(Node::FrozenSet(items)) => Value::FrozenSet(unique(
                items.iter().map(|_| next()).collect(),
                &self.hashing,
            )?),
            Some(Node::Dict(pairs)) => {
                let pairs = pairs.iter().map(|_| (next(), next())).collect();
                Value::Dict(dict_from_pairs(pairs, &self.hashing)?)
            }
            Some(Node::Object { ctor, ops }) => {
                let constructor = match ctor {
                    Ctor::Reduce(..) => Constructor::Reduce {
                        callable: next(),
                        args: next(),
                    },
                    Ctor::NewObj(..) => Constructor::NewObj {
                        cls: next(),
                        args: next(),
                    },
                    Ctor::NewObjEx(..) => Constructor::NewObjEx {
                        cls: next(),
                        args: next(),
                        kwargs: next(),
                    },
                };
                let ops = ops
                    .iter()
                    .map(|op| match op {
                        Op::Append(_) => ObjectOp::Append(next()),
                        Op::SetItem(..) => ObjectOp::SetItem(next(), next()),
                        Op::Build(_) => ObjectOp::Build(next()),
                    })
                    .collect();
                builtin_from_reduce(Object { constructor, ops }, &self.hashing)?
            }
        })
    }
}

/// Protocols below 4 have no opcode for `bytearray`, `set` and `frozenset` (nor, below 3, for `bytes`):
/// CPython writes `REDUCE` of the builtin (`save_bytearray`, `save_set`, `save_frozenset`, `save_bytes`).
/// Python rebuilds the builtin type from those, so we read them as the type too, and write them back as
/// Python would at protocol 4/5.
fn builtin_from_reduce(object: Object, hashing: &HashBudget) -> Res<Value> {
    if object.ops.is_empty() {
        if let Constructor::Reduce {
            callable: Value::Global { module, name },
            args: Value::Tuple(args),
        } = &object.constructor
        {
            match (module.as_str(), name.as_str(), args.as_slice()) {
                ("builtins", "bytearray", []) => return Ok(Value::ByteArray(Vec::new())),
                ("builtins", "bytearray", [Value::Bytes(b)]) => {
                    return Ok(Value::ByteArray(b.clone()));
                }
                ("builtins", "bytes", []) => return Ok(Value::Bytes(Vec::new())),
                ("builtins", "set", []) => return Ok(Value::Set(Vec::new())),
                ("builtins", "set", [Value::List(items)]) => {
                    return Ok(Value::Set(unique(items.clone(), hashing)?));
                }
                ("builtins", "frozenset", []) => return Ok(Value::FrozenSet(Vec::new())),
                ("builtins", "frozenset", [Value::List(items)]) => {
                    return Ok(Value::FrozenSet(unique(items.clone(), hashing)?));
                }
                ("_codecs", "encode", [Value::Str(s), Value::Str(encoding)])
                    if encoding == "latin1" =>
                {
                    let latin1: Option<Vec<u8>> =
                        s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect();
                    if let Some(bytes) = latin1 {
                        return Ok(Value::Bytes(bytes));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(Value::Object(Box::new(object)))
}

// --- Python's equality and hashing, for dict keys and set elements ---

/// A number as Python compares numbers: `1 == 1.0 == True`.
enum Num {
    Int(i64),
    Big(BigInt),
    Float(f64),
}

fn as_num(v: &Value) -> Option<Num> {
    Some(match v {
        Value::Bool(b) => Num::Int(i64::from(*b)),
        Value::Int(i) => Num::Int(*i),
        Value::BigInt(b) => match i64::try_from(b) {
            Ok(i) => Num::Int(i),
            Err(_) => Num::Big(b.clone()),
        },
        Value::Float(f) => float_num(*f),
        _ => return None,
    })
}

/// An integral float as the int it equals (Python: `2.0**70 == 2**70`).
fn float_num(f: f64) -> Num {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if !f.is_finite() || f.fract() != 0.0 {
        return Num::Float(f);
    }
    if (-TWO_63..TWO_63).contains(&f) {
        // Integral and in range: the conversion is exact.
        return Num::Int(f as i64);
    }
    // |f| >= 2**63: a normal float, mantissa * 2**exponent with exponent >= 11.
    let bits = f.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i64 - 1075;
    let mantissa = (bits & ((1 << 52) - 1)) | (1 << 52);
    let magnitude = BigInt::from(mantissa) << usize::try_from(exponent).unwrap_or(0);
    Num::Big(if f < 0.0 { -magnitude } else { magnitude })
}

fn num_eq(a: &Num, b: &Num) -> bool {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => x == y,
        (Num::Big(x), Num::Big(y)) => x == y,
        (Num::Float(x), Num::Float(y)) => x == y,
        _ => false,
    }
}

/// Python's `a == b` for hashable values we model. Objects are equal only to themselves (CPython's default
/// `__eq__`); we cannot run a class's own `__eq__`.
fn py_eq(a: &Value, b: &Value, hasher: &RandomState, budget: &HashBudget) -> bool {
    if !budget.spend() {
        return false;
    }
    if let (Some(x), Some(y)) = (as_num(a), as_num(b)) {
        return num_eq(&x, &y);
    }
    match (a, b) {
        (Value::None, Value::None) => true,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Bytes(x), Value::Bytes(y)) => x == y,
        (Value::Tuple(x), Value::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q, hasher, budget))
        }
        (Value::FrozenSet(x), Value::FrozenSet(y)) => {
            if x.len() != y.len() {
                return false;
            }
            let mut index: HashMap<u64, Vec<&Value>> = HashMap::new();
            for item in y {
                if let Ok(h) = py_hash(item, hasher, budget) {
                    index.entry(h).or_default().push(item);
                }
            }
            x.iter().all(|item| {
                py_hash(item, hasher, budget).is_ok_and(|h| {
                    index
                        .get(&h)
                        .is_some_and(|c| c.iter().any(|other| py_eq(item, other, hasher, budget)))
                })
            })
        }
        (Value::Global { .. }, Value::Global { .. }) => a == b,
        (Value::Object(x), Value::Object(y)) => std::ptr::eq(&**x, &**y),
        _ => false,
    }
}

/// A hash consistent with `py_eq` (equal values hash alike), or the Python type name when Python would
/// raise `TypeError: unhashable type`.
/// An exhausted [`HashBudget`] is an error too (`"budget"`: the caller's `HashBudget::check` names it).
fn py_hash(v: &Value, hasher: &RandomState, budget: &HashBudget) -> Result<u64, &'static str> {
    let mut h = hasher.build_hasher();
    feed(v, &mut h, hasher, budget)?;
    Ok(h.finish())
}

fn feed(
    v: &Value,
    h: &mut impl Hasher,
    hasher: &RandomState,
    budget: &HashBudget,
) -> Result<(), &'static str> {
    if !budget.spend() {
        return Err("budget");
    }
    if let Some(n) = as_num(v) {
        match n {
            Num::Int(i) => {
                h.write_u8(1);
                h.write_i64(i);
            }
            Num::Big(b) => {
                h.write_u8(2);
                h.write(&b.to_signed_bytes_le());
            }
            Num::Float(f) => {
                h.write_u8(3);
                h.write_u64(f.to_bits());
            }
        }
        return Ok(());
    }
    match v {
        Value::None => h.write_u8(0),
        Value::Str(s) => {
            h.write_u8(4);
            h.write(s.as_bytes());
        }
        Value::Bytes(b) => {
            h.write_u8(5);
            h.write(b);
        }
        Value::Tuple(items) => {
            h.write_u8(6);
            h.write_usize(items.len());
            for item in items {
                feed(item, h, hasher, budget)?;
            }
        }
        Value::FrozenSet(items) => {
            // Order-independent, as frozenset equality is.
            let mut sum: u64 = 0;
            for item in items {
                sum = sum.wrapping_add(py_hash(item, hasher, budget)?);
            }
            h.write_u8(7);
            h.write_u64(sum);
        }
        Value::Global { module, name } => {
            h.write_u8(8);
            h.write(module.as_bytes());
            h.write_u8(0);
            h.write(name.as_bytes());
        }
        Value::Object(object) => {
            h.write_u8(9);
            h.write_usize(&**object as *const Object as usize);
        }
        Value::List(_) => return Err("list"),
        Value::Dict(_) => return Err("dict"),
        Value::Set(_) => return Err("set"),
        Value::ByteArray(_) => return Err("bytearray"),
        Value::Bool(_) | Value::Int(_) | Value::BigInt(_) | Value::Float(_) => {}
    }
    Ok(())
}

/// Python's `dict` built by successive `d[k] = v`: a repeated key keeps its first position and takes the
/// last value. Matters for security: a crafted session with two `_auth_user_id` entries must read as the
/// one Django sees.
fn dict_from_pairs(pairs: Vec<(Value, Value)>, budget: &HashBudget) -> Res<Vec<(Value, Value)>> {
    // Every session is a small dict of str keys: compare them directly, without hashing.
    if pairs.len() <= 32 && pairs.iter().all(|(k, _)| matches!(k, Value::Str(_))) {
        let mut out: Vec<(Value, Value)> = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            match out.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = value,
                None => out.push((key, value)),
            }
        }
        return Ok(out);
    }
    let hasher = RandomState::new();
    let mut out: Vec<(Value, Value)> = Vec::with_capacity(pairs.len());
    let mut index: HashMap<u64, Vec<usize>> = HashMap::with_capacity(pairs.len());
    for (key, value) in pairs {
        let h = py_hash(&key, &hasher, budget).map_err(|e| unhashable(e, budget))?;
        let slot = index.entry(h).or_default();
        match slot.iter().copied().find(|&i| {
            out.get(i)
                .is_some_and(|(k, _)| py_eq(k, &key, &hasher, budget))
        }) {
            Some(i) => {
                if let Some(entry) = out.get_mut(i) {
                    entry.1 = value;
                }
            }
            None => {
                slot.push(out.len());
                out.push((key, value));
            }
        }
    }
    budget.check()?;
    Ok(out)
}

/// A failed hash as the load's error: an exhausted budget, or Python's `TypeError: unhashable type`.
fn unhashable(error: &'static str, budget: &HashBudget) -> PickleError {
    match budget.check() {
        Err(spent) => spent,
        Ok(()) => PickleError::Unhashable(error),
    }
}

/// Python's `set` built by successive `s.add(x)`: the first of equal elements stays.
fn unique(items: Vec<Value>, budget: &HashBudget) -> Res<Vec<Value>> {
    let hasher = RandomState::new();
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    let mut index: HashMap<u64, Vec<usize>> = HashMap::with_capacity(items.len());
    for item in items {
        let h = py_hash(&item, &hasher, budget).map_err(|e| unhashable(e, budget))?;
        let slot = index.entry(h).or_default();
        if !slot
            .iter()
            .any(|&i| out.get(i).is_some_and(|x| py_eq(x, &item, &hasher, budget)))
        {
            slot.push(out.len());
            out.push(item);
        }
    }
    budget.check()?;
    Ok(out)
}

// --- text forms of protocol 0 and strings ---

fn utf8(bytes: &[u8], offset: usize) -> Res<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| PickleError::InvalidString { offset })
}

/// A Python 2 `str` (`STRING`, `BINSTRING`, `SHORT_BINSTRING`) as Python 3's `Unpickler` decodes it by
/// default (`encoding="ASCII"`, `errors="strict"`).
fn ascii(bytes: &[u8], offset: usize) -> Res<String> {
    if bytes.is_ascii() {
        utf8(bytes, offset)
    } else {
        Err(PickleError::InvalidString { offset })
    }
}

/// The quoted argument of `STRING`, unescaped as `PyBytes_DecodeEscape` does.
fn decode_string_literal(line: &[u8]) -> Option<Vec<u8>> {
    let (&first, rest) = line.split_first()?;
    let (&last, body) = rest.split_last()?;
    if first != last || (first != b'\'' && first != b'"') {
        return None;
    }
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while let Some(&c) = body.get(i) {
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let &e = body.get(i)?; // "Trailing \ in string"
        i += 1;
        match e {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(e),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b'v' => out.push(0x0b),
            b'a' => out.push(0x07),
            b'0'..=b'7' => {
                let mut c = u32::from(e - b'0');
                for _ in 0..2 {
                    match body.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            c = (c << 3) + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                // Python truncates out-of-range octal escapes to a byte (with a warning).
                out.push((c & 0xff) as u8);
            }
            b'x' => {
                let hi = char::from(*body.get(i)?).to_digit(16)?;
                let lo = char::from(*body.get(i + 1)?).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
                i += 2;
            }
            other => {
                // Unknown escapes are kept as written.
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    Some(out)
}

/// `UNICODE`'s argument: Python's `raw-unicode-escape` codec (latin-1, except `\uXXXX`/`\UXXXXXXXX`
/// after an odd number of backslashes).
fn decode_raw_unicode_escape(line: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while let Some(&c) = line.get(i) {
        if c != b'\\' {
            out.push(char::from(c));
            i += 1;
            continue;
        }
        let start = i;
        while line.get(i) == Some(&b'\\') {
            out.push('\\');
            i += 1;
        }
        let count = match line.get(i) {
            Some(b'u') if (i - start) % 2 == 1 => 4,
            Some(b'U') if (i - start) % 2 == 1 => 8,
            _ => continue,
        };
        out.pop();
        i += 1;
        let hex = line.get(i..i.checked_add(count)?)?;
        let mut code: u32 = 0;
        for &h in hex {
            code = code * 16 + char::from(h).to_digit(16)?;
        }
        // Lone surrogates are valid in a Python str but not in a Rust String.
        out.push(char::from_u32(code)?);
        i += count;
    }
    Some(out)
}

/// `FLOAT`'s argument as `PyOS_string_to_double` reads it (no surrounding whitespace; overflow is an
/// error, `inf`/`nan` literals are not).
fn parse_float(line: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(line).ok()?;
    let f: f64 = text.parse().ok()?;
    if f.is_infinite() {
        let unsigned = text.trim_start_matches(['+', '-']).to_ascii_lowercase();
        if !unsigned.starts_with("inf") {
            return None;
        }
    }
    Some(f)
}

/// `INT`'s argument as `load_int` reads it: C `strtol(s, 0)` (decimal, `0x` hex, leading-zero octal),
/// falling back to Python's `int(s, 0)` when it does not fit; `01`/`00` are protocol 0's `True`/`False`.
fn parse_int_opcode(line: &[u8]) -> Option<Value> {
    match c_strtol(line) {
        Some(x) => {
            if line.len() == 2 && (x == 0 || x == 1) {
                Some(Value::Bool(x == 1))
            } else {
                Some(Value::Int(x))
            }
        }
        None => parse_py_int(line, 0).map(Value::from_bigint),
    }
}

fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// C's `strtol(s, &end, 0)` on 64-bit Linux, `None` unless it consumes all of `s` without overflow.
fn c_strtol(s: &[u8]) -> Option<i64> {
    let mut i = 0;
    while s.get(i).copied().is_some_and(is_c_space) {
        i += 1;
    }
    let negative = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let hex_prefix = matches!(s.get(i..i + 2), Some(b"0x" | b"0X"))
        && s.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
    let radix = if hex_prefix {
        i += 2;
        16
    } else if s.get(i) == Some(&b'0') {
        8
    } else {
        10
    };
    let digits = s.get(i..)?;
    if digits.is_empty() {
        return None;
    }
    let mut magnitude: u64 = 0;
    for &d in digits {
        let d = char::from(d).to_digit(radix)?;
        magnitude = magnitude
            .checked_mul(u64::from(radix))?
            .checked_add(u64::from(d))?;
    }
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Python's `int(s, base)` for base 0 (literal syntax: `0x`/`0o`/`0b` prefixes, no leading zeros) or 10,
/// with underscores between digits and surrounding whitespace; decimal strings over 4300 digits are
/// refused, as Python 3.11 refuses them (`sys.int_info.default_max_str_digits`).
fn parse_py_int(s: &[u8], base: u32) -> Option<BigInt> {
    let s = s.trim_ascii();
    let (negative, s) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    let (radix, body, prefixed) = if base == 0 {
        match s.get(..2) {
            Some(b"0x" | b"0X") => (16, s.get(2..)?, true),
            Some(b"0o" | b"0O") => (8, s.get(2..)?, true),
            Some(b"0b" | b"0B") => (2, s.get(2..)?, true),
            _ => (10, s, false),
        }
    } else {
        (base, s, false)
    };
    // An underscore may follow a prefix, and otherwise only separate digits.
    let body = if prefixed {
        body.strip_prefix(b"_").unwrap_or(body)
    } else {
        body
    };
    let mut digits = Vec::with_capacity(body.len());
    let mut previous_underscore = true;
    for &c in body {
        if c == b'_' {
            if previous_underscore {
                return None;
            }
            previous_underscore = true;
        } else {
            char::from(c).to_digit(radix)?;
            digits.push(c);
            previous_underscore = false;
        }
    }
    if digits.is_empty() || previous_underscore {
        return None;
    }
    if base == 0 && radix == 10 && digits.len() > 1 && digits[0] == b'0' {
        // `int("010", 0)`: leading zeros are only allowed in zero itself.
        if digits.iter().any(|&d| d != b'0') {
            return None;
        }
    }
    if radix == 10 && digits.len() > 4300 {
        return None;
    }
    let magnitude = BigInt::parse_bytes(&digits, radix)?;
    Some(if negative { -magnitude } else { magnitude })
}

/// `PUT`/`GET`'s decimal index (`int(s, 10)`), which must be a non-negative `Py_ssize_t`.
fn parse_memo_index(line: &[u8]) -> Option<u64> {
    let n = parse_py_int(line, 10)?;
    let n = i64::try_from(&n).ok()?;
    u64::try_from(n).ok()
}

/// The module renames `Unpickler(fix_imports=True)` applies below protocol 3, limited to the two that
/// Python 3's own pickler emits for built-in types at protocols 0–2 (`__builtin__.set`,
/// `copy_reg._reconstructor`). Other Python 2 names are kept as they are: Django has written protocol 4 or
/// 5 since it runs on Python 3, so an older pickle in a session store would be an oddity, and it stays
/// inert data either way.
const IMPORT_MAPPING: &[(&str, &str)] = &[("__builtin__", "builtins"), ("copy_reg", "copyreg")];

// ------------------------------------------------------------------------------------------------------
// Writing
// ------------------------------------------------------------------------------------------------------

/// `FRAME_SIZE_TARGET`: a frame is committed at the first opcode boundary past 64 KiB, and str/bytes
/// payloads of that size are written outside any frame.
const FRAME_SIZE_TARGET: usize = 64 * 1024;
/// `FRAME_SIZE_MIN`: a shorter frame is written without its header.
const FRAME_SIZE_MIN: usize = 4;
const FRAME_HEADER_SIZE: usize = 9;
/// `BATCHSIZE`: items per `MARK … APPENDS`/`SETITEMS`/`ADDITEMS`.
const BATCHSIZE: usize = 1000;

/// CPython's `PicklerObject`, reduced to what a value tree needs.
struct Pickler {
    out: Vec<u8>,
    proto: u8,
    framing: bool,
    /// Where the open frame's header was reserved (`frame_start`), if a frame is open.
    frame_start: Option<usize>,
    /// Memo entries written so far: the index the next `MEMOIZE` assigns.
    memo_len: u64,
    /// Globals already written: Python memoizes the class object and writes `BINGET` after.
    globals: HashMap<(String, String), u64>,
    /// Module-name strings of globals already written: every class of a module shares its `__module__`
    /// string object, so Python writes `BINGET` for the second global of a module.
    modules: HashMap<String, u64>,
    /// CPython's singletons: `''` and one-character latin-1 strings, `b''` and one-byte bytes.
    singleton_str: HashMap<String, u64>,
    singleton_bytes: HashMap<Vec<u8>, u64>,
    /// Attribute names: the str keys of an object's state dict (`BUILD`) and of `NEWOBJ_EX` keyword
    /// arguments. CPython interns them (`setattr` and `load_build` intern attribute names, the compiler
    /// interns identifier constants), so two objects of a class share them and Python writes `BINGET`.
    interned: HashMap<String, u64>,
    /// Objects CPython caches, so that every equal one is the same object (written once, then `BINGET`):
    /// see `is_cached_object`.
    cached_objects: Vec<(Object, u64)>,
}

/// Where a value being saved sits, for the attribute names of `Pickler::interned`.
#[derive(Clone, Copy, PartialEq)]
enum Keys {
    Plain,
    /// An object's state (`BUILD`) or `NEWOBJ_EX` kwargs: a dict's str keys are attribute names; a tuple
    /// (`(state, slotstate)` of a class with `__slots__`) holds states.
    State,
    /// A key of a state dict.
    Attribute,
}

impl Keys {
    fn tuple_item(self) -> Keys {
        match self {
            Keys::State => Keys::State,
            _ => Keys::Plain,
        }
    }

    fn dict_key(self) -> Keys {
        match self {
            Keys::State => Keys::Attribute,
            _ => Keys::Plain,
        }
    }
}

fn is_singleton_str(s: &str) -> bool {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (None, _) => true,
        (Some(c), None) => u32::from(c) < 256,
        _ => false,
    }
}

impl Pickler {
    /// `_Pickler_Write`: opens a frame (reserving its header) when framing and none is open.
    fn write(&mut self, bytes: &[u8]) {
        if self.framing && self.frame_start.is_none() {
            self.frame_start = Some(self.out.len());
            self.out.extend_from_slice(&[0; FRAME_HEADER_SIZE]);
        }
        self.out.extend_from_slice(bytes);
    }

    /// `_Pickler_CommitFrame`: fills in the open frame's header, or removes it if the frame is tiny.
    fn commit_frame(&mut self) {
        if !self.framing {
            return;
        }
        let Some(start) = self.frame_start.take() else {
            return;
        };
        let len = self.out.len() - start - FRAME_HEADER_SIZE;
        if len >= FRAME_SIZE_MIN {
            let mut header = [op::FRAME; FRAME_HEADER_SIZE];
            header[1..].copy_from_slice(&(len as u64).to_le_bytes());
            self.out[start..start + FRAME_HEADER_SIZE].copy_from_slice(&header);
        } else {
            self.out.drain(start..start + FRAME_HEADER_SIZE);
        }
    }

    /// `_Pickler_OpcodeBoundary`, called at the start of every `save()`.
    fn opcode_boundary(&mut self) {
        if let (true, Some(start)) = (self.framing, self.frame_start) {
            if self.out.len() - start - FRAME_HEADER_SIZE >= FRAME_SIZE_TARGET {
                self.commit_frame();
            }
        }
    }

    /// `_Pickler_write_bytes`: a payload of 64 KiB or more closes the frame and goes outside any frame.
    fn write_payload(&mut self, header: &[u8], data: &[u8]) {
        if data.len() >= FRAME_SIZE_TARGET {
            self.commit_frame();
            let framing = std::mem::replace(&mut self.framing, false);
            self.write(header);
            self.write(data);
            self.framing = framing;
        } else {
            self.write(header);
            self.write(data);
        }
    }

    /// `memo_put` at protocol 4+: `MEMOIZE`, returning the index it assigned.
    fn memoize(&mut self) -> u64 {
        self.write(&[op::MEMOIZE]);
        self.memo_len += 1;
        self.memo_len - 1
    }

    /// `memo_get`: `BINGET` or `LONG_BINGET`.
    fn memo_get(&mut self, index: u64) {
        match (u8::try_from(index), u32::try_from(index)) {
            (Ok(i), _) => self.write(&[op::BINGET, i]),
            (_, Ok(i)) => {
                let mut b = [op::LONG_BINGET, 0, 0, 0, 0];
                b[1..].copy_from_slice(&i.to_le_bytes());
                self.write(&b);
            }
            // Python cannot write more than 2**32 memo entries either.
            _ => self.write(&[op::NONE]),
        }
    }

    /// `save()`.
    fn save(&mut self, value: &Value, depth: usize) -> Result<(), PickleError> {
        self.save_as(value, depth, Keys::Plain)
    }

    /// `save()` of an object's state or keyword arguments, whose str dict keys are interned.
    fn save_attributes(&mut self, value: &Value, depth: usize) -> Result<(), PickleError> {
        self.save_as(value, depth, Keys::State)
    }

    fn save_as(&mut self, value: &Value, depth: usize, keys: Keys) -> Result<(), PickleError> {
        if depth > DUMPS_MAX_DEPTH {
            return Err(PickleError::TooDeep {
                limit: DUMPS_MAX_DEPTH,
            });
        }
        self.opcode_boundary();
        let inner = depth + 1;
        match value {
            Value::None => self.write(&[op::NONE]),
            Value::Bool(true) => self.write(&[op::NEWTRUE]),
            Value::Bool(false) => self.write(&[op::NEWFALSE]),
            Value::Int(i) => self.save_int(*i),
            Value::BigInt(b) => match i64::try_from(b) {
                Ok(i) => self.save_int(i),
                Err(_) => self.save_long(b),
            },
            Value::Float(f) => {
                let mut b = [op::BINFLOAT; 9];
                b[1..].copy_from_slice(&f.to_be_bytes());
                self.write(&b);
            }
            Value::Str(s) => match keys {
                Keys::Attribute => self.save_interned_str(s),
                Keys::Plain | Keys::State => self.save_str(s),
            },
            Value::Bytes(b) => self.save_bytes(b),
            Value::ByteArray(b) => {
                if self.proto >= 5 {
                    let mut header = [op::BYTEARRAY8; 9];
                    header[1..].copy_from_slice(&(b.len() as u64).to_le_bytes());
                    self.write_payload(&header, b);
                    self.memoize();
                } else {
                    // `save_bytearray` below protocol 5: `save_reduce((bytearray, (bytes(b),)))`.
                    let callable = Value::Global {
                        module: "builtins".into(),
                        name: "bytearray".into(),
                    };
                    let args = if b.is_empty() {
                        Value::Tuple(Vec::new())
                    } else {
                        Value::Tuple(vec![Value::Bytes(b.clone())])
                    };
                    self.save(&callable, inner)?;
                    self.save(&args, inner)?;
                    self.write(&[op::REDUCE]);
                    self.memoize();
                }
            }
            Value::List(items) => {
                self.write(&[op::EMPTY_LIST]);
                self.memoize();
                // `batch_list_exact`.
                if let [item] = items.as_slice() {
                    self.save(item, inner)?;
                    self.write(&[op::APPEND]);
                } else if !items.is_empty() {
                    for chunk in items.chunks(BATCHSIZE) {
                        self.write(&[op::MARK]);
                        for item in chunk {
                            self.save(item, inner)?;
                        }
                        self.write(&[op::APPENDS]);
                    }
                }
            }
            Value::Tuple(items) => match items.len() {
                0 => self.write(&[op::EMPTY_TUPLE]),
                n @ 1..=3 => {
                    for item in items {
                        self.save_as(item, inner, keys.tuple_item())?;
                    }
                    self.write(&[[op::TUPLE1, op::TUPLE2, op::TUPLE3][n - 1]]);
                    self.memoize();
                }
                _ => {
                    self.write(&[op::MARK]);
                    for item in items {
                        self.save_as(item, inner, keys.tuple_item())?;
                    }
                    self.write(&[op::TUPLE]);
                    self.memoize();
                }
            },
            Value::Dict(pairs) => {
                self.write(&[op::EMPTY_DICT]);
                self.memoize();
                // `batch_dict_exact`: note the empty last batch when the size is a multiple of 1000.
                if let [(k, v)] = pairs.as_slice() {
                    self.save_as(k, inner, keys.dict_key())?;
                    self.save(v, inner)?;
                    self.write(&[op::SETITEM]);
                } else if !pairs.is_empty() {
                    let mut rest = pairs.as_slice();
                    loop {
                        let (batch, tail) = rest.split_at(rest.len().min(BATCHSIZE));
                        self.write(&[op::MARK]);
                        for (k, v) in batch {
                            self.save_as(k, inner, keys.dict_key())?;
                            self.save(v, inner)?;
                        }
                        self.write(&[op::SETITEMS]);
                        rest = tail;
                        if batch.len() < BATCHSIZE {
                            break;
                        }
                    }
                }
            }
            Value::Set(items) => {
                // `save_set`: like `batch_dict_exact`, an empty last batch at multiples of 1000.
                self.write(&[op::EMPTY_SET]);
                self.memoize();
                if !items.is_empty() {
                    let mut rest = items.as_slice();
                    loop {
                        let (batch, tail) = rest.split_at(rest.len().min(BATCHSIZE));
                        self.write(&[op::MARK]);
                        for item in batch {
                            self.save(item, inner)?;
                        }
                        self.write(&[op::ADDITEMS]);
                        rest = tail;
                        if batch.len() < BATCHSIZE {
                            break;
                        }
                    }
                }
            }
            Value::FrozenSet(items) => {
                self.write(&[op::MARK]);
                for item in items {
                    self.save(item, inner)?;
                }
                self.write(&[op::FROZENSET]);
                self.memoize();
            }
            Value::Global { module, name } => self.save_global(module, name),
            Value::Object(object) => {
                let cached = is_cached_object(object);
                if cached {
                    if let Some(&(_, index)) =
                        self.cached_objects.iter().find(|(o, _)| o == &**object)
                    {
                        self.memo_get(index);
                        return Ok(());
                    }
                }
                let index = self.save_object(object, inner)?;
                if cached {
                    self.cached_objects.push(((**object).clone(), index));
                }
            }
        }
        Ok(())
    }

    /// `save_long`: the smallest of `BININT1`, `BININT2`, `BININT` for 32-bit values, else `LONG1`.
    fn save_int(&mut self, i: i64) {
        if let Ok(b) = u8::try_from(i) {
            self.write(&[op::BININT1, b]);
        } else if let Ok(b) = u16::try_from(i) {
            let mut out = [op::BININT2; 3];
            out[1..].copy_from_slice(&b.to_le_bytes());
            self.write(&out);
        } else if let Ok(b) = i32::try_from(i) {
            let mut out = [op::BININT; 5];
            out[1..].copy_from_slice(&b.to_le_bytes());
            self.write(&out);
        } else {
            self.save_long(&BigInt::from(i));
        }
    }

    /// `LONG1`/`LONG4` with `encode_long`'s little-endian two's complement.
    fn save_long(&mut self, n: &BigInt) {
        let bytes = encode_long(n);
        match u8::try_from(bytes.len()) {
            Ok(len) => self.write(&[op::LONG1, len]),
            Err(_) => {
                let mut header = [op::LONG4; 5];
                header[1..].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
                self.write(&header);
            }
        }
        self.write(&bytes);
    }

    /// `save_unicode` → `write_unicode_binary`, then `memo_put`.
    fn save_str(&mut self, s: &str) {
        let singleton = is_singleton_str(s);
        if singleton {
            if let Some(&index) = self.singleton_str.get(s) {
                self.memo_get(index);
                return;
            }
        }
        self.write_str(s);
        let index = self.memoize();
        if singleton {
            self.singleton_str.insert(s.to_string(), index);
        }
    }

    /// A str CPython has interned: shared with every equal interned str written before.
    fn save_interned_str(&mut self, s: &str) {
        if is_singleton_str(s) {
            return self.save_str(s);
        }
        if let Some(&index) = self.interned.get(s) {
            self.memo_get(index);
            return;
        }
        self.write_str(s);
        let index = self.memoize();
        self.interned.insert(s.to_string(), index);
    }

    fn write_str(&mut self, s: &str) {
        let data = s.as_bytes();
        if let Ok(len) = u8::try_from(data.len()) {
            self.write_payload(&[op::SHORT_BINUNICODE, len], data);
        } else if let Ok(len) = u32::try_from(data.len()) {
            let mut header = [op::BINUNICODE; 5];
            header[1..].copy_from_slice(&len.to_le_bytes());
            self.write_payload(&header, data);
        } else {
            let mut header = [op::BINUNICODE8; 9];
            header[1..].copy_from_slice(&(data.len() as u64).to_le_bytes());
            self.write_payload(&header, data);
        }
    }

    /// `save_bytes` → `_save_bytes_data`, then `memo_put`.
    fn save_bytes(&mut self, data: &[u8]) {
        let singleton = data.len() <= 1;
        if singleton {
            if let Some(&index) = self.singleton_bytes.get(data) {
                self.memo_get(index);
                return;
            }
        }
        if let Ok(len) = u8::try_from(data.len()) {
            self.write_payload(&[op::SHORT_BINBYTES, len], data);
        } else if let Ok(len) = u32::try_from(data.len()) {
            let mut header = [op::BINBYTES; 5];
            header[1..].copy_from_slice(&len.to_le_bytes());
            self.write_payload(&header, data);
        } else {
            let mut header = [op::BINBYTES8; 9];
            header[1..].copy_from_slice(&(data.len() as u64).to_le_bytes());
            self.write_payload(&header, data);
        }
        let index = self.memoize();
        if singleton {
            self.singleton_bytes.insert(data.to_vec(), index);
        }
    }

    /// `save_global` at protocol 4+: module and name saved as str, `STACK_GLOBAL`, `MEMOIZE`; a global
    /// written before is `BINGET` of its memo entry.
    fn save_global(&mut self, module: &str, name: &str) {
        if let Some(&index) = self.globals.get(&(module.to_string(), name.to_string())) {
            self.memo_get(index);
            return;
        }
        // save(module_name): its own opcode boundary; shared between the globals of one module.
        self.opcode_boundary();
        if is_singleton_str(module) {
            self.save_str(module);
        } else if let Some(&index) = self.modules.get(module) {
            self.memo_get(index);
        } else {
            self.write_str(module);
            let index = self.memoize();
            self.modules.insert(module.to_string(), index);
        }
        // save(global_name)
        self.opcode_boundary();
        self.save_str(name);
        self.write(&[op::STACK_GLOBAL]);
        let index = self.memoize();
        self.globals
            .insert((module.to_string(), name.to_string()), index);
    }

    /// `save_reduce`: the constructor, `MEMOIZE`, then `listitems` (`batch_list`), `dictitems`
    /// (`batch_dict`) and `BUILD` state, as the ops recorded them.
    fn save_object(&mut self, object: &Object, depth: usize) -> Result<u64, PickleError> {
        match &object.constructor {
            Constructor::Reduce { callable, args } => {
                self.save(callable, depth)?;
                self.save(args, depth)?;
                self.write(&[op::REDUCE]);
            }
            Constructor::NewObj { cls, args } => {
                self.save(cls, depth)?;
                self.save(args, depth)?;
                self.write(&[op::NEWOBJ]);
            }
            Constructor::NewObjEx { cls, args, kwargs } => {
                self.save(cls, depth)?;
                self.save(args, depth)?;
                self.save_attributes(kwargs, depth)?;
                self.write(&[op::NEWOBJ_EX]);
            }
        }
        let index = self.memoize();
        let mut ops = object.ops.as_slice();
        while let Some(first) = ops.first() {
            match first {
                ObjectOp::Append(_) => {
                    let run = ops
                        .iter()
                        .take_while(|o| matches!(o, ObjectOp::Append(_)))
                        .count();
                    let (batch, rest) = ops.split_at(run);
                    let items: Vec<&Value> = batch
                        .iter()
                        .filter_map(|o| match o {
                            ObjectOp::Append(v) => Some(v),
                            _ => None,
                        })
                        .collect();
                    self.batch(&items, 1, depth, op::APPEND, op::APPENDS)?;
                    ops = rest;
                }
                ObjectOp::SetItem(..) => {
                    let run = ops
                        .iter()
                        .take_while(|o| matches!(o, ObjectOp::SetItem(..)))
                        .count();
                    let (batch, rest) = ops.split_at(run);
                    let items: Vec<&Value> = batch
                        .iter()
                        .flat_map(|o| match o {
                            ObjectOp::SetItem(k, v) => vec![k, v],
                            _ => Vec::new(),
                        })
                        .collect();
                    self.batch(&items, 2, depth, op::SETITEM, op::SETITEMS)?;
                    ops = rest;
                }
                ObjectOp::Build(state) => {
                    self.save_attributes(state, depth)?;
                    self.write(&[op::BUILD]);
                    ops = &ops[1..];
                }
            }
        }
        Ok(index)
    }

    /// `batch_list`/`batch_dict` over an iterator: one entry alone is `APPEND`/`SETITEM`, otherwise
    /// `MARK … APPENDS/SETITEMS` batches of 1000 (with no empty batch, unlike the exact-type variants).
    fn batch(
        &mut self,
        items: &[&Value],
        per_entry: usize,
        depth: usize,
        one: u8,
        many: u8,
    ) -> Result<(), PickleError> {
        for chunk in items.chunks(BATCHSIZE * per_entry) {
            if chunk.len() == per_entry {
                for item in chunk {
                    self.save(item, depth)?;
                }
                self.write(&[one]);
            } else {
                self.write(&[op::MARK]);
                for item in chunk {
                    self.save(item, depth)?;
                }
                self.write(&[many]);
            }
        }
        Ok(())
    }
}

/// Whether CPython hands out one shared instance for every object built by this recipe, so that Python
/// pickles a second occurrence as `BINGET` of the first: `datetime.timezone.utc` (`timezone(timedelta(0))`
/// returns the singleton; every UTC-aware datetime Django makes refers to it) and a `zoneinfo.ZoneInfo`
/// from its cache (`ZoneInfo._unpickle(key, 1)`: `ZoneInfo(key)` returns one instance per key).
fn is_cached_object(object: &Object) -> bool {
    if !object.ops.is_empty() {
        return false;
    }
    let Constructor::Reduce { callable, args } = &object.constructor else {
        return false;
    };
    let global = |v: &Value, m: &str, n: &str| matches!(v, Value::Global { module, name } if module == m && name == n);
    match (callable, args) {
        (callable, Value::Tuple(args)) if global(callable, "datetime", "timezone") => {
            let [Value::Object(delta)] = args.as_slice() else {
                return false;
            };
            delta.ops.is_empty()
                && matches!(&delta.constructor, Constructor::Reduce { callable, args: Value::Tuple(a) }
                    if global(callable, "datetime", "timedelta")
                        && a.as_slice() == [Value::Int(0), Value::Int(0), Value::Int(0)])
        }
        (Value::Object(method), Value::Tuple(args)) => {
            matches!(args.as_slice(), [Value::Str(_), Value::Int(1)])
                && method.ops.is_empty()
                && matches!(&method.constructor, Constructor::Reduce { callable, args: Value::Tuple(a) }
                    if global(callable, "builtins", "getattr")
                        && matches!(a.as_slice(), [cls, Value::Str(name)]
                            if global(cls, "zoneinfo", "ZoneInfo") && name == "_unpickle"))
        }
        _ => false,
    }
}

/// `encode_long` (`pickle.py`): `n.to_bytes(n.bit_length() // 8 + 1, "little", signed=True)`, less one
/// redundant `0xff` byte for some negatives.
fn encode_long(n: &BigInt) -> Vec<u8> {
    let nbytes = usize::try_from(n.bits() / 8 + 1).unwrap_or(usize::MAX);
    let mut bytes = n.to_signed_bytes_le();
    let fill = if n.sign() == Sign::Minus { 0xff } else { 0 };
    if bytes.len() < nbytes {
        bytes.resize(nbytes, fill);
    }
    if n.sign() == Sign::Minus && bytes.len() > 1 {
        let len = bytes.len();
        if bytes[len - 1] == 0xff && bytes[len - 2] & 0x80 != 0 {
            bytes.pop();
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::{Duration, Instant};

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn load(data: &[u8]) -> Result<Value, PickleError> {
        loads(data, &Limits::default())
    }

    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }

    fn global(module: &str, name: &str) -> Value {
        Value::Global {
            module: module.into(),
            name: name.into(),
        }
    }

    fn dict(pairs: &[(&str, Value)]) -> Value {
        Value::Dict(pairs.iter().map(|(k, v)| (s(k), v.clone())).collect())
    }

    /// Section 2.4 of the wire-format notes: Django's `RedisCache` (protocol 5) after a real login.
    const LOGIN_P5: &str = "800595af000000000000007d94288c0d5f617574685f757365725f6964948c0131948c125f617574685f757365725f6261636b656e64948c29646a616e676f2e636f6e747269622e617574682e6261636b656e64732e4d6f64656c4261636b656e64948c0f5f617574685f757365725f68617368948c403064303066653763633432613462303531613234383433323531393434643366616238666236346664333634633534626363653765373735616539623462336594752e";
    /// The same session from django-redis (protocol 4): identical except the protocol byte.
    const LOGIN_P4: &str = "800495af000000000000007d94288c0d5f617574685f757365725f6964948c0131948c125f617574685f757365725f6261636b656e64948c29646a616e676f2e636f6e747269622e617574682e6261636b656e64732e4d6f64656c4261636b656e64948c0f5f617574685f757365725f68617368948c403064303066653763633432613462303531613234383433323531393434643366616238666236346664333634633534626363653765373735616539623462336594752e";

    fn login() -> Value {
        dict(&[
            ("_auth_user_id", s("1")),
            (
                "_auth_user_backend",
                s("django.contrib.auth.backends.ModelBackend"),
            ),
            (
                "_auth_user_hash",
                s("0d00fe7cc42a4b051a24843251944d3fab8fb64fd364c54bcce7e775ae9b4b3e"),
            ),
        ])
    }

    #[test]
    fn login_sessions_from_both_cache_backends_read_and_write_back_identically() {
        for (hex, proto) in [(LOGIN_P5, 5), (LOGIN_P4, 4)] {
            let bytes = unhex(hex);
            assert_eq!(load(&bytes).unwrap(), login());
            assert_eq!(protocol(&bytes), Some(proto));
            assert_eq!(dumps(&login(), proto).unwrap(), bytes);
        }
    }

    #[test]
    fn empty_and_counter_sessions() {
        let empty = [0x80, 0x05, 0x7d, 0x94, 0x2e];
        assert_eq!(load(&empty).unwrap(), Value::Dict(vec![]));
        assert_eq!(dumps(&Value::Dict(vec![]), 5).unwrap(), empty);
        let counter =
            b"\x80\x05\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x07counter\x94K\x01s.";
        let value = dict(&[("counter", Value::Int(1))]);
        assert_eq!(load(counter).unwrap(), value);
        assert_eq!(dumps(&value, 5).unwrap(), counter);
    }

    #[test]
    fn protocol_is_the_leading_proto_byte() {
        assert_eq!(protocol(b"\x80\x04}."), Some(4));
        assert_eq!(protocol(b"(dp0\n."), None);
        assert_eq!(protocol(b""), None);
        assert_eq!(protocol(b"\x80"), None);
    }

    #[test]
    fn python_sharing_is_reproduced_for_globals_module_names_and_singletons() {
        for hex in [
            // [datetime(2024,1,2,3,4,5,6, tzinfo=timezone.utc), date(2024,1,1)]: `datetime` module BINGET.
            "80059571000000000000005d94288c086461746574696d65948c086461746574696d65949394430a07e801020304050000069468018c0874696d657a6f6e6594939468018c0974696d6564656c74619493944b004b004b0087945294859452948694529468018c0464617465949394430407e801019485945294652e",
            // [Decimal('1.5'), Decimal('2')]: the class BINGET.
            "8005952f000000000000005d94288c07646563696d616c948c07446563696d616c9493948c03312e35948594529468038c01329485945294652e",
            // {"a": "1", "b": "1", "c": "", "d": "", "x": b"", "y": b""}: CPython's singletons.
            "8005952d000000000000007d94288c0161948c0131948c01629468028c0163948c00948c01649468058c0178944300948c0179946808752e",
            // ints at every size boundary, protocol 4.
            "8004956d000000000000005d94284b004bff4d00014dffff4a000001004affffffff4affffff7f4a000000808a0500000080008a05ffffff7fff8a090000000000000080008a09ffffffffffffff7fff8a0500000000808a07000000000000808a090000000000000000018a0900000000000000ff00652e",
            // bytearray(b'ab') at protocol 4: REDUCE of builtins.bytearray, read as a ByteArray.
            "80049523000000000000008c086275696c74696e73948c096279746561727261799493944302616294859452942e",
        ] {
            let bytes = unhex(hex);
            let value = load(&bytes).unwrap();
            assert_eq!(dumps(&value, bytes[1]).unwrap(), bytes, "{value:?}");
        }
        let bytearray = unhex(
            "80049523000000000000008c086275696c74696e73948c096279746561727261799493944302616294859452942e",
        );
        assert_eq!(load(&bytearray).unwrap(), Value::ByteArray(b"ab".to_vec()));
    }

    #[test]
    fn a_huge_int_uses_long4() {
        let n = -(BigInt::from(1) << 2048usize);
        let out = dumps(&Value::BigInt(n.clone()), 4).unwrap();
        assert_eq!(out.len(), 274);
        assert_eq!(
            &out[..20],
            unhex("80049507010000000000008b0101000000000000")
        );
        assert_eq!(load(&out).unwrap(), Value::BigInt(n));
    }

    #[test]
    fn old_protocols_read_as_python_3_reads_them() {
        let expected = Value::Dict(vec![
            (
                s("a"),
                Value::List(vec![
                    Value::Int(1),
                    Value::Float(2.5),
                    Value::Bool(true),
                    Value::None,
                    s("é"),
                    Value::Bytes(b"x".to_vec()),
                ]),
            ),
            (s("t"), Value::Tuple(vec![Value::Int(1), Value::Int(2)])),
        ]);
        let p0 = b"(dp0\nVa\np1\n(lp2\nI1\naF2.5\naI01\naNaV\xe9\np3\nac_codecs\nencode\np4\n(Vx\np5\nVlatin1\np6\ntp7\nRp8\nasVt\np9\n(I1\nI2\ntp10\ns.";
        assert_eq!(load(p0).unwrap(), expected);
        let p2 = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01G@\x04\x00\x00\x00\x00\x00\x00\x88NX\x02\x00\x00\x00\xc3\xa9q\x03c_codecs\nencode\nq\x04X\x01\x00\x00\x00xq\x05X\x06\x00\x00\x00latin1q\x06\x86q\x07Rq\x08eX\x01\x00\x00\x00tq\tK\x01K\x02\x86q\nu.";
        assert_eq!(load(p2).unwrap(), expected);
        // Python 2 names are mapped below protocol 3, as `Unpickler(fix_imports=True)` does.
        assert_eq!(
            load(b"c__builtin__\nset\np0\n((lp1\nI1\natp2\nRp3\n.").unwrap(),
            Value::Set(vec![Value::Int(1)])
        );
        assert_eq!(
            load(b"\x80\x02c__builtin__\nfrozenset\nq\x00]q\x01K\x01a\x85q\x02Rq\x03.").unwrap(),
            Value::FrozenSet(vec![Value::Int(1)])
        );
        let bytearray = b"\x80\x02c__builtin__\nbytearray\nq\x00c_codecs\nencode\nq\x01X\x01\x00\x00\x00aq\x02X\x06\x00\x00\x00latin1q\x03\x86q\x04Rq\x05\x85q\x06Rq\x07.";
        assert_eq!(load(bytearray).unwrap(), Value::ByteArray(b"a".to_vec()));
        assert_eq!(
            load(b"\x80\x02c__builtin__\nbytes\nq\x00)Rq\x01.").unwrap(),
            Value::Bytes(vec![])
        );
        // Only the module is mapped: Python 2 names of other things are kept as they are (inert anyway).
        assert_eq!(
            load(b"\x80\x02c__builtin__\nxrange\n.").unwrap(),
            global("builtins", "xrange")
        );
        assert_eq!(
            load(b"\x80\x03c__builtin__\nxrange\n.").unwrap(),
            global("__builtin__", "xrange")
        );
        // Text numbers and Python 2 strings.
        assert_eq!(load(b"I00\n.").unwrap(), Value::Bool(false));
        assert_eq!(load(b"I0x1f\n.").unwrap(), Value::Int(31));
        assert_eq!(load(b"I-010\n.").unwrap(), Value::Int(-8));
        assert_eq!(
            load(b"I99999999999999999999\n.").unwrap(),
            Value::BigInt("99999999999999999999".parse().unwrap())
        );
        assert_eq!(load(b"L-5L\n.").unwrap(), Value::Int(-5));
        assert!(load(b"L010L\n.").is_err());
        assert_eq!(load(b"Finf\n.").unwrap(), Value::Float(f64::INFINITY));
        assert!(load(b"F1e999\n.").is_err());
        assert_eq!(load(b"S'a\\x41\\n\\101'\n.").unwrap(), s("aA\nA"));
        assert!(load(b"S'\xe9'\n.").is_err());
        assert_eq!(load(b"U\x02hi.").unwrap(), s("hi"));
        assert_eq!(load(b"V\\u00e9\\\\u\\U0001f600\n.").unwrap(), s("é\\\\u😀"));
        assert!(load(b"V\\ud800\n.").is_err());
    }

    #[test]
    fn nothing_is_executed_a_reduce_of_os_system_is_inert_data() {
        let evil = unhex(
            "8005952b000000000000008c05706f736978948c0673797374656d9493948c10746f756368202f746d702f70776e656494859452942e",
        );
        let expected = Value::Object(Box::new(Object {
            constructor: Constructor::Reduce {
                callable: global("posix", "system"),
                args: Value::Tuple(vec![s("touch /tmp/pwned")]),
            },
            ops: vec![],
        }));
        assert_eq!(load(&evil).unwrap(), expected);
        assert_eq!(
            load(b"cposix\nsystem\np0\n(Vtouch /tmp/pwned\np1\ntp2\nRp3\n.").unwrap(),
            expected
        );
        assert_eq!(dumps(&expected, 5).unwrap(), evil);
    }

    #[test]
    fn memo_holds_references_a_container_filled_after_memoizing_is_seen_filled() {
        // outer = []; L = []; outer.append(L); L.append(5); outer.append(L)   (L fetched with BINGET)
        let data = b"\x80\x04]\x94]\x94ah\x01K\x05aa.";
        assert_eq!(
            load(data).unwrap(),
            Value::List(vec![
                Value::List(vec![Value::Int(5)]),
                Value::List(vec![Value::Int(5)])
            ])
        );
        // DUP shares the object too.
        assert_eq!(
            load(b"]2K\x01a\x86.").unwrap(),
            Value::Tuple(vec![
                Value::List(vec![Value::Int(1)]),
                Value::List(vec![Value::Int(1)])
            ])
        );
    }

    #[test]
    fn dicts_and_sets_follow_python_equality() {
        // {'a': 1, 'b': 2, 'a': 3} -> {'a': 3, 'b': 2}: the last value in the first position.
        let dup = b"}(\x8c\x01aK\x01\x8c\x01bK\x02\x8c\x01aK\x03u.";
        assert_eq!(
            load(dup).unwrap(),
            dict(&[("a", Value::Int(3)), ("b", Value::Int(2))])
        );
        // 1 == True == 1.0
        let mixed = b"}(K\x01\x8c\x01a\x88\x8c\x01bG?\xf0\x00\x00\x00\x00\x00\x00\x8c\x01cu.";
        assert_eq!(
            load(mixed).unwrap(),
            Value::Dict(vec![(Value::Int(1), s("c"))])
        );
        assert_eq!(
            load(b"\x8f(K\x01K\x02\x88K\x02\x90.").unwrap(),
            Value::Set(vec![Value::Int(1), Value::Int(2)])
        );
        // Keys of any hashable type; unhashable ones fail as they do in Python.
        assert_eq!(
            load(b"}(K\x01K\x02\x86\x94N(\x8c\x01x\x91\x94\x88u.").unwrap(),
            Value::Dict(vec![
                (
                    Value::Tuple(vec![Value::Int(1), Value::Int(2)]),
                    Value::None
                ),
                (Value::FrozenSet(vec![s("x")]), Value::Bool(true)),
            ])
        );
        assert_eq!(
            load(b"}]K\x01s.").unwrap_err(),
            PickleError::Unhashable("list")
        );
        assert_eq!(
            load(b"\x8f(}\x90.").unwrap_err(),
            PickleError::Unhashable("dict")
        );
    }

    #[test]
    fn every_truncation_of_a_real_session_is_an_error() {
        for hex in [LOGIN_P5, LOGIN_P4] {
            let bytes = unhex(hex);
            for end in 0..bytes.len() {
                assert!(load(&bytes[..end]).is_err(), "prefix of {end} bytes");
            }
        }
        // Python ignores what follows STOP; so do we.
        let mut trailing = unhex(LOGIN_P5);
        trailing.extend_from_slice(b"garbage");
        assert_eq!(load(&trailing).unwrap(), login());
    }

    #[test]
    fn length_prefixes_are_checked_before_allocating() {
        let cases: [&[u8]; 6] = [
            b"\x80\x05\x95\xff\xff\xff\xff\xff\xff\xff\x7f}.",
            b"\x8d\xff\xff\xff\xff\xff\xff\xff\xff.",
            b"X\xff\xff\xff\xffabc.",
            b"\x8e\x00\x00\x00\x00\x00\x00\x00\x01.",
            b"\x96\x00\x00\x00\x00\x00\x00\x10\x00.",
            b"\x8b\xff\xff\xff\x7f.",
        ];
        for data in cases {
            assert!(
                matches!(load(data), Err(PickleError::LengthTooLarge { .. })),
                "{data:?}: {:?}",
                load(data)
            );
        }
        assert_eq!(
            load(b"\x8b\xff\xff\xff\xff.").unwrap_err(),
            invalid(0, "LONG pickle has negative byte count")
        );
    }

    #[test]
    fn deep_nesting_fails_with_too_deep() {
        let n = 100_000;
        let mut data = vec![b']'; n];
        data.extend(std::iter::repeat_n(b'a', n - 1));
        data.push(b'.');
        let start = Instant::now();
        assert_eq!(
            load(&data).unwrap_err(),
            PickleError::TooDeep { limit: 200 }
        );
        let mut marks = vec![b'('; n];
        marks.push(b'.');
        assert_eq!(
            load(&marks).unwrap_err(),
            PickleError::TooDeep { limit: 200 }
        );
        assert!(start.elapsed() < Duration::from_secs(2));
        // Within the limit, fine.
        let mut ok = vec![b']'; 200];
        ok.extend(std::iter::repeat_n(b'a', 199));
        ok.push(b'.');
        assert!(load(&ok).is_ok());
        ok.insert(0, b']');
        ok.insert(ok.len() - 1, b'a');
        assert!(load(&ok).is_err());
    }

    #[test]
    fn memo_abuse_fails_fast_with_too_many_nodes() {
        // x0 = []; x(i+1) = [x(i), x(i)] 64 times: 2**64 nodes as a tree, 129 in the pickle.
        let mut data = b"\x80\x04]q\x00".to_vec();
        for i in 0..64u8 {
            data.extend_from_slice(&[b']', b'(', b'h', i, b'2', b'e', b'q', i + 1, b'0']);
        }
        data.extend_from_slice(&[b'h', 64, b'.']);
        let start = Instant::now();
        assert_eq!(
            load(&data).unwrap_err(),
            PickleError::TooManyNodes { limit: 1_000_000 }
        );
        assert!(start.elapsed() < Duration::from_secs(1));
        // One big string referenced many times: bounded by bytes, not nodes.
        let mut big = b"\x80\x04B\x00\x00\x10\x00".to_vec();
        big.extend(vec![b'x'; 1 << 20]);
        big.extend_from_slice(b"\x94](");
        for _ in 0..20 {
            big.extend_from_slice(b"h\x00");
        }
        big.extend_from_slice(b"e.");
        assert_eq!(
            load(&big).unwrap_err(),
            PickleError::TooManyBytes { limit: 16 << 20 }
        );
    }

    #[test]
    fn every_error_path() {
        use PickleError as E;
        let cases: Vec<(&[u8], PickleError)> = vec![
            (b"", E::Truncated { offset: 0 }),
            (b"}", E::Truncated { offset: 1 }),
            (b"K", E::Truncated { offset: 1 }),
            (b"I12", E::Truncated { offset: 1 }),
            (
                b"\xff",
                E::UnknownOpcode {
                    opcode: 0xff,
                    offset: 0,
                },
            ),
            (b"\x80\x06}.", E::UnsupportedProtocol(6)),
            (
                b"h\x05.",
                E::MemoMissing {
                    index: 5,
                    offset: 0,
                },
            ),
            (
                b"g7\n.",
                E::MemoMissing {
                    index: 7,
                    offset: 0,
                },
            ),
            (b".", E::StackUnderflow { offset: 0 }),
            (b"(.", E::StackUnderflow { offset: 1 }),
            (b"Na.", E::StackUnderflow { offset: 1 }),
            (b"N(\x85.", E::StackUnderflow { offset: 2 }),
            (b"N(\x94.", E::StackUnderflow { offset: 2 }),
            (b"Nt.", E::MarkMissing { offset: 1 }),
            (b"]Ne.", E::MarkMissing { offset: 2 }),
            (b"(e.", E::StackUnderflow { offset: 1 }),
            (
                b"P1\n.",
                E::Unsupported {
                    feature: "persistent id (PERSID/BINPERSID)",
                    offset: 0,
                },
            ),
            (
                b"NQ.",
                E::Unsupported {
                    feature: "persistent id (PERSID/BINPERSID)",
                    offset: 1,
                },
            ),
            (
                b"\x82\x01.",
                E::Unsupported {
                    feature: "extension registry (EXT1/EXT2/EXT4)",
                    offset: 0,
                },
            ),
            (
                b"\x97.",
                E::Unsupported {
                    feature: "out-of-band buffers (NEXT_BUFFER/READONLY_BUFFER)",
                    offset: 0,
                },
            ),
            (b"\x8c\x02\xc3(.", E::InvalidString { offset: 0 }),
            (
                b"X\x03\x00\x00\x00\xed\xa0\x80.",
                E::InvalidString { offset: 0 },
            ),
            (b"U\x01\xe9.", E::InvalidString { offset: 0 }),
            (b"]\x94h\x00a.", E::Cycle),
            (b"}\x94(K\x01h\x00u.", E::Cycle),
            (b"}(K\x01u.", invalid(4, "odd number of items for SETITEMS")),
            (
                b"}K\x01a.",
                invalid(3, "APPEND to something not a list or an object"),
            ),
            (b"}}b.", invalid(2, "BUILD on something not an object")),
            (
                b"cos\nsystem\nK\x01R.",
                invalid(13, "REDUCE arguments are not a tuple"),
            ),
            (b"NN\x93.", invalid(2, "STACK_GLOBAL requires str")),
            (b"q\x00.", E::StackUnderflow { offset: 0 }),
        ];
        for (data, expected) in cases {
            assert_eq!(load(data).unwrap_err(), expected, "{data:?}");
        }
        let small = Limits {
            max_input_bytes: 4,
            ..Limits::default()
        };
        assert_eq!(
            loads(b"K\x01K\x02.", &small).unwrap_err(),
            E::InputTooLarge { len: 5, limit: 4 }
        );
        let memo = Limits {
            max_memo: 2,
            ..Limits::default()
        };
        assert_eq!(
            loads(b"N\x94\x94q\x07.", &memo).unwrap_err(),
            E::MemoTooLarge { limit: 2 }
        );
        for p in [0, 1, 2, 3, 6] {
            assert_eq!(
                dumps(&Value::None, p).unwrap_err(),
                E::UnsupportedDumpsProtocol(p)
            );
        }
        let mut deep = Value::None;
        for _ in 0..=DUMPS_MAX_DEPTH {
            deep = Value::List(vec![deep]);
        }
        assert_eq!(
            dumps(&deep, 5).unwrap_err(),
            E::TooDeep {
                limit: DUMPS_MAX_DEPTH
            }
        );
    }

    #[test]
    fn objects_keep_their_ops_in_order() {
        // OrderedDict(a=1, b=[2]) at protocol 4, as CPython writes it.
        let data = b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00\x8c\x0bcollections\x94\x8c\x0bOrderedDict\x94\x93\x94)R\x94(\x8c\x01a\x94K\x01\x8c\x01b\x94]\x94K\x02au.";
        let expected = Value::Object(Box::new(Object {
            constructor: Constructor::Reduce {
                callable: global("collections", "OrderedDict"),
                args: Value::Tuple(vec![]),
            },
            ops: vec![
                ObjectOp::SetItem(s("a"), Value::Int(1)),
                ObjectOp::SetItem(s("b"), Value::List(vec![Value::Int(2)])),
            ],
        }));
        assert_eq!(load(data).unwrap(), expected);
        // Batches as `save_reduce` writes listitems/dictitems: 1 alone, then MARK…APPENDS of 1000.
        let appends = Value::Object(Box::new(Object {
            constructor: Constructor::NewObj {
                cls: global("app", "Bag"),
                args: Value::Tuple(vec![]),
            },
            ops: (0..1001)
                .map(|i| ObjectOp::Append(Value::Int(i)))
                .chain([ObjectOp::Build(Value::None)])
                .collect(),
        }));
        let out = dumps(&appends, 5).unwrap();
        assert_eq!(load(&out).unwrap(), appends);
        assert!(out.ends_with(b"\x4d\xe8\x03aNb."));
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::None),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            any::<i128>().prop_map(|i| Value::from_bigint(BigInt::from(i))),
            any::<f64>()
                .prop_filter("NaN != NaN", |f| !f.is_nan())
                .prop_map(Value::Float),
            any::<String>().prop_map(Value::Str),
            "[a-c]?".prop_map(Value::Str),
            prop::collection::vec(any::<u8>(), 0..300).prop_map(Value::Bytes),
            prop::collection::vec(any::<u8>(), 0..2).prop_map(Value::Bytes),
            prop::collection::vec(any::<u8>(), 0..40).prop_map(Value::ByteArray),
            global_strategy(),
        ]
    }

    fn global_strategy() -> impl Strategy<Value = Value> {
        ("[a-z]{1,3}(\\.[a-z]{1,3})?", "[A-Za-z_]{1,6}")
            .prop_map(|(module, name)| Value::Global { module, name })
    }

    fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(5, 96, 8, |inner| {
            let tuple = prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Tuple);
            let str_dict = prop::collection::btree_map(any::<String>(), inner.clone(), 0..6)
                .prop_map(|m| {
                    Value::Dict(m.into_iter().map(|(k, v)| (Value::Str(k), v)).collect())
                });
            let op = prop_oneof![
                inner.clone().prop_map(ObjectOp::Append),
                (any::<String>(), inner.clone())
                    .prop_map(|(k, v)| ObjectOp::SetItem(Value::Str(k), v)),
                inner.clone().prop_map(ObjectOp::Build),
            ];
            let constructor = prop_oneof![
                (global_strategy(), tuple.clone())
                    .prop_map(|(callable, args)| Constructor::Reduce { callable, args }),
                (global_strategy(), tuple.clone())
                    .prop_map(|(cls, args)| Constructor::NewObj { cls, args }),
                (global_strategy(), tuple.clone(), str_dict.clone())
                    .prop_map(|(cls, args, kwargs)| Constructor::NewObjEx { cls, args, kwargs }),
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::List),
                tuple,
                str_dict,
                prop::collection::btree_set(any::<i64>(), 0..6)
                    .prop_map(|s| Value::Set(s.into_iter().map(Value::Int).collect())),
                prop::collection::btree_set(any::<String>(), 0..6)
                    .prop_map(|s| Value::FrozenSet(s.into_iter().map(Value::Str).collect())),
                (constructor, prop::collection::vec(op, 0..4)).prop_map(|(constructor, ops)| {
                    Value::Object(Box::new(Object { constructor, ops }))
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn dumps_then_loads_gives_back_the_value(v in value()) {
            for proto in [4, 5] {
                let bytes = dumps(&v, proto).unwrap();
                prop_assert_eq!(protocol(&bytes), Some(proto));
                prop_assert_eq!(&load(&bytes).unwrap(), &v);
            }
        }

        #[test]
        fn loads_never_panics_on_mutated_pickles(v in value(), edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
            let mut bytes = dumps(&v, 5).unwrap();
            for (at, byte) in edits {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            let _ = load(&bytes);
        }
    }
}
