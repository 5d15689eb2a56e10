"""`Codec`: the compiled encoder/decoder pair of one type, and the per-type cache."""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable
from typing import Any

from spacetimedb.bsatn import reference
from spacetimedb.bsatn.compiler import FunctionTable, fixed_size, new_namespace
from spacetimedb.bsatn.decoder_gen import DecoderGen
from spacetimedb.bsatn.encoder_gen import EncoderGen
from spacetimedb.sats import algebraic_type as at
from spacetimedb.sats.errors import ConversionError
from spacetimedb.sats.infer import node_of
from spacetimedb.sats.nodes import Node, ProductNode, RefNode, SumNode

#: What the decoders read.
BytesLike = bytes | bytearray | memoryview


class Codec:
    """The BSATN encoder and decoder of one type, generated once.

    encode(v) -> bytes; encode_into(buf: bytearray, v) -> None (appends);
    decode(data) -> v (the whole input, no trailing bytes); decode_from(data, offset) -> (v, new_offset).
    Every failure is a ConversionError naming the field path (and the byte offset when decoding).
    """

    __slots__ = ("decode", "decode_from", "encode", "encode_into", "node", "source")

    encode: Callable[[Any], bytes]
    encode_into: Callable[[bytearray, Any], None]
    decode: Callable[[BytesLike], Any]
    decode_from: Callable[[BytesLike, int], tuple[Any, int]]

    def __init__(self, node: Node) -> None:
        self.node = node
        self.source = _generate(node)
        ns = self.source[1]
        exec(builtins.compile(self.source[0], f"<bsatn codec {root_name(node)}>", "exec"), ns)
        self.encode = ns["encode"]
        self.encode_into = ns["encode_into"]
        self.decode = ns["decode"]
        self.decode_from = ns["decode_from"]

    def __repr__(self) -> str:
        return f"<Codec {root_name(self.node)}>"


def root_name(node: Node) -> str:
    if isinstance(node, ProductNode | SumNode | RefNode) and node.name:
        return node.name
    return reference.type_name(node)


def _indent(lines: list[str], extra: int) -> list[str]:
    return ["    " * extra + line for line in lines]


def _generate(node: Node) -> tuple[str, dict[str, Any]]:
    ns = new_namespace()
    table = FunctionTable()
    root = root_name(node)
    ns["_fail_encode"] = lambda v, exc: _fail_encode(node, root, v, exc)
    ns["_fail_decode"] = lambda data, off, whole, exc: _fail_decode(node, root, data, off, whole, exc)
    out: list[str] = []

    # encode_into(buf, v) and encode(v): the same body
    enc = EncoderGen(ns, table)
    enc.depth = 2
    enc.gen(node, "v", ())
    enc.flush()
    out += ["def encode_into(buf, v):", "    start = len(buf)", "    try:", *enc.lines, "        pass"]
    out += ["    except Exception as exc:", "        del buf[start:]  # leave buf as it was", "        _fail_encode(v, exc)"]
    single = _single_pack(enc.lines)
    out += ["def encode(v):", "    try:"]
    if single is not None:
        out += [f"        return {single}"]
    else:
        parts = EncoderGen(ns, table, parts=True)
        parts.depth = 2
        parts.gen(node, "v", ())
        parts.flush()
        out += ["        _parts = []; _ap = _parts.append", *parts.lines, "        return b''.join(_parts)"]
    out += ["    except Exception as exc:", "        _fail_encode(v, exc)"]

    # decode(data): the whole input
    dec = DecoderGen(ns, table)
    dec.depth = 2
    fixed = fixed_size(node) is not None
    dec.exact_first = fixed
    expr = dec.gen(node, ())
    dec.flush()
    out += ["def decode(data):", "    try:"]
    if fixed and len(dec.lines) == 1 and dec.lines[0].strip() == f"{expr[1:-2]}, = {_callee(dec.lines[0])}(data)":
        out += [f"        return {_callee(dec.lines[0])}(data)"]
    elif fixed:
        # The first read checks the exact length; a zero-size type reads nothing, so check here.
        empty = ["        if len(data): raise _Bad"] if fixed_size(node) == 0 else []
        out += [*empty, *dec.lines, f"        return {expr}"]
    else:
        end = f"off + {dec.delta}" if dec.delta else "off"
        out += ["        if data.__class__ is memoryview: data = data.tobytes()", "        ln = len(data); off = 0"]
        out += [*dec.lines, f"        if {end} != ln: raise _Bad", f"        return {expr}"]
    out += ["    except Exception as exc:", "        _fail_decode(data, 0, True, exc)"]

    # decode_from(data, off)
    dec = DecoderGen(ns, table)
    dec.depth = 2
    expr = dec.gen(node, ())
    dec.sync()
    out += ["def decode_from(data, off):", "    off0 = off", "    try:"]
    out += ["        if data.__class__ is memoryview: data = data.tobytes()", "        ln = len(data)", *dec.lines]
    out += ["        if off > ln: raise _Bad", f"        return {expr}, off"]
    out += ["    except Exception as exc:", "        _fail_decode(data, off0, False, exc)"]

    # the separately compiled functions of recursive types
    while table.pending:
        kind, ref = table.pending.pop()
        if kind == "enc":
            g = EncoderGen(ns, table)
            g.gen(ref.resolved(), "v", (ref,))
            g.flush()
            out += [f"def {table.enc_names[id(ref)]}(buf, v):", *g.lines, "    pass"]
        else:
            d = DecoderGen(ns, table)
            e = d.gen(ref.resolved(), (ref,))
            d.sync()
            out += [f"def {table.dec_names[id(ref)]}(data, off):", "    ln = len(data)", *d.lines, f"    return {e}, off"]
    ns["__table__"] = table
    return "\n".join(out) + "\n", ns


def _callee(line: str) -> str:
    return line.split("=", 1)[1].strip().split("(")[0]


def _single_pack(lines: list[str]) -> str | None:
    """If the encoder is `a, b, = v` + one pack (a fixed-width tuple row), encode as one pack call."""
    body = [ln.strip() for ln in lines]
    if len(body) == 3 and body[0].startswith("if v.__class__ is not _tuple") and body[2].startswith("buf += "):
        names = body[1].split("=")[0].strip().rstrip(",")
        call = body[2][len("buf += ") :]
        if call.endswith(f"({names})"):
            return call.replace(f"({names})", "(*v)")
    return None


def _fail_encode(node: Node, root: str, value: Any, exc: BaseException) -> None:
    if isinstance(exc, ConversionError):
        raise exc
    try:
        reference.encode(node, value, root, bytearray())  # raises the explained error
    except ConversionError:
        raise
    except Exception as e:  # e.g. a property of the user's class raised
        raise ConversionError(f"could not encode the value: {e!r}", path=root) from e
    raise ConversionError(f"could not encode the value ({exc!r})", path=root) from exc


def _fail_decode(node: Node, root: str, data: Any, off: int, whole: bool, exc: BaseException) -> None:
    if isinstance(exc, ConversionError):
        raise exc
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ConversionError(f"expected bytes to decode, got {type(data).__name__}", path=root) from None
    r = reference.BsatnReader(data)
    try:
        _, end = reference.decode(node, r, off, root)
    except ConversionError:
        raise
    except Exception as e:  # e.g. the user's class rejected the decoded fields in __init__
        raise ConversionError(f"could not build the decoded value: {e!r}", path=root) from e
    if whole and end != r.end:
        raise ConversionError(
            f"{r.end - end} trailing byte(s) after the value; the data holds more than one {root}",
            path=root,
            offset=end,
        )
    raise ConversionError(f"could not decode the value ({exc!r})", path=root) from exc


# ---- cache --------------------------------------------------------------------------------------

_lock = threading.Lock()
_codecs: dict[Any, Codec] = {}


def compile_node(node: Node) -> Codec:
    """The codec of a node graph (cached per node object)."""
    key = ("node", id(node))
    codec = _codecs.get(key)
    if codec is None or codec.node is not node:
        codec = Codec(node)
        with _lock:
            _codecs[key] = codec
    return codec


#: id(t) -> (t, codec) for the exact objects seen last: skips hashing typing constructs, which is
#: slow (~0.4 us for a union). Bounded, since `list[int]` written in a loop is a new object each time.
_by_identity: dict[int, tuple[Any, Codec]] = {}
_BY_IDENTITY_MAX = 4096


def compile(t: Any, typespace: at.Typespace | None = None) -> Codec:
    """The codec of `t`: an annotation (class, list[...], u32, ...), a bare AlgebraicType or a Node."""
    if typespace is not None:
        return _compile_keyed((t, tuple(typespace.types)), t, typespace)
    hit = _by_identity.get(id(t))
    if hit is not None and hit[0] is t:
        return hit[1]
    codec = _compile_keyed(t, t, None)
    if len(_by_identity) < _BY_IDENTITY_MAX:
        with _lock:
            _by_identity[id(t)] = (t, codec)  # holding t keeps its id from being reused
    return codec


def _compile_keyed(key: Any, t: Any, typespace: at.Typespace | None) -> Codec:
    try:
        codec = _codecs.get(key)
    except TypeError:  # an unhashable annotation: compile, do not cache
        return Codec(node_of(t, typespace))
    if codec is None:
        codec = Codec(node_of(t, typespace))
        with _lock:
            _codecs[key] = codec
    return codec
