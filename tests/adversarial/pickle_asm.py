"""A tiny pickle assembler: write opcode streams by hand, without pickling (or running) anything.

Malicious corpus files are *emitted* opcode by opcode, so no malicious object ever exists in the
test process and nothing is ever unpickled.

>>> Asm().proto(2).glob("os", "system").text("id").tuple1().reduce().stop().data[:4]
b'\\x80\\x02cos'
"""

from __future__ import annotations

import struct


class Asm:
    """Append pickle opcodes to ``data``; every method returns ``self`` for chaining."""

    def __init__(self) -> None:
        self.data = b""

    def raw(self, chunk: bytes) -> Asm:
        self.data += chunk
        return self

    # --- framing ---------------------------------------------------------------------------
    def proto(self, n: int) -> Asm:
        return self.raw(b"\x80" + bytes([n]))

    def frame(self, size: int) -> Asm:
        return self.raw(b"\x95" + struct.pack("<Q", size))

    def stop(self) -> Asm:
        return self.raw(b".")

    # --- literals --------------------------------------------------------------------------
    def text(self, s: str) -> Asm:
        """BINUNICODE (protocol 1+)."""
        b = s.encode()
        return self.raw(b"X" + struct.pack("<I", len(b)) + b)

    def short_text(self, s: str) -> Asm:
        """SHORT_BINUNICODE (protocol 4)."""
        b = s.encode()
        return self.raw(b"\x8c" + bytes([len(b)]) + b)

    def string0(self, s: str) -> Asm:
        """STRING (protocol 0 quoted text)."""
        return self.raw(b"S" + repr(s).encode() + b"\n")

    def unicode0(self, s: str) -> Asm:
        return self.raw(b"V" + s.encode("raw_unicode_escape") + b"\n")

    def binbytes(self, b: bytes) -> Asm:
        return self.raw(b"B" + struct.pack("<I", len(b)) + b)

    def bytearray8(self, b: bytes) -> Asm:
        return self.raw(b"\x96" + struct.pack("<Q", len(b)) + b)

    def int_(self, n: int) -> Asm:
        return self.raw(b"J" + struct.pack("<i", n))

    def int0(self, n: int) -> Asm:
        return self.raw(b"I" + str(n).encode() + b"\n")

    def none(self) -> Asm:
        return self.raw(b"N")

    def false(self) -> Asm:
        return self.raw(b"\x89")

    # --- containers ------------------------------------------------------------------------
    def mark(self) -> Asm:
        return self.raw(b"(")

    def tuple_(self) -> Asm:
        return self.raw(b"t")

    def empty_tuple(self) -> Asm:
        return self.raw(b")")

    def tuple1(self) -> Asm:
        return self.raw(b"\x85")

    def tuple2(self) -> Asm:
        return self.raw(b"\x86")

    def tuple3(self) -> Asm:
        return self.raw(b"\x87")

    def empty_dict(self) -> Asm:
        return self.raw(b"}")

    def empty_list(self) -> Asm:
        return self.raw(b"]")

    def setitem(self) -> Asm:
        return self.raw(b"s")

    def setitems(self) -> Asm:
        return self.raw(b"u")

    def appends(self) -> Asm:
        return self.raw(b"e")

    # --- stack and memo --------------------------------------------------------------------
    def pop(self) -> Asm:
        return self.raw(b"0")

    def dup(self) -> Asm:
        return self.raw(b"2")

    def pop_mark(self) -> Asm:
        return self.raw(b"1")

    def binput(self, i: int) -> Asm:
        return self.raw(b"q" + bytes([i]))

    def binget(self, i: int) -> Asm:
        return self.raw(b"h" + bytes([i]))

    def long_binput(self, i: int) -> Asm:
        return self.raw(b"r" + struct.pack("<I", i))

    def long_binget(self, i: int) -> Asm:
        return self.raw(b"j" + struct.pack("<I", i))

    def put0(self, i: int) -> Asm:
        return self.raw(b"p" + str(i).encode() + b"\n")

    def get0(self, i: int) -> Asm:
        return self.raw(b"g" + str(i).encode() + b"\n")

    def memoize(self) -> Asm:
        return self.raw(b"\x94")

    # --- imports and calls -----------------------------------------------------------------
    def glob(self, module: str, name: str) -> Asm:
        """GLOBAL (text module and name)."""
        return self.raw(b"c" + module.encode() + b"\n" + name.encode() + b"\n")

    def stack_glob(self, module: str, name: str) -> Asm:
        """STACK_GLOBAL from two SHORT_BINUNICODE strings."""
        return self.short_text(module).short_text(name).raw(b"\x93")

    def reduce(self) -> Asm:
        return self.raw(b"R")

    def build(self) -> Asm:
        return self.raw(b"b")

    def inst(self, module: str, name: str) -> Asm:
        return self.raw(b"i" + module.encode() + b"\n" + name.encode() + b"\n")

    def obj(self) -> Asm:
        return self.raw(b"o")

    def newobj(self) -> Asm:
        return self.raw(b"\x81")

    def newobj_ex(self) -> Asm:
        return self.raw(b"\x92")

    def ext1(self, code: int) -> Asm:
        return self.raw(b"\x82" + bytes([code]))

    def binpersid(self) -> Asm:
        return self.raw(b"Q")

    def call(self, module: str, name: str, *args: str) -> Asm:
        """``module.name(*args)`` with GLOBAL + MARK + text args + TUPLE + REDUCE."""
        self.glob(module, name).mark()
        for arg in args:
            self.text(arg)
        return self.tuple_().reduce()
