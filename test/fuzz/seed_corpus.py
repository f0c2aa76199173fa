#!/usr/bin/env python3
"""test/fuzz/seed_corpus.py - seeds test/fuzz/corpus/fuzz_server from the
golden transcripts in test/proto/transcripts/*.in (same escapes as
test/proto/test_transcripts.c). Each seed is 4 octets of fuzz_server's
parameter word (extensions, bare LF policy; see test/fuzz/fuzz_server.c)
and the client's side of the session. Seeds test/fuzz/corpus/fuzz_config
and fuzz_convert with the real configurations of
../shared/testdata/smtpd-conf (every file) and test/fuzz/seeds/config/
(old grammar, and a modern one that reads the files of the fuzzers'
scratch folder). Run from the top of the tree, then minimise with
`build/fuzz/fuzz_server -merge=1 NEW OLD`.
Standard library only.
"""
import glob
import hashlib
import os
import re
import struct

EXT = {"PIPELINING": 0x1, "SIZE": 0x2, "8BITMIME": 0x4, "STARTTLS": 0x8,
       "ENHANCEDSTATUSCODES": 0x10, "DSN": 0x40, "SMTPUTF8": 0x80,
       "CHUNKING": 0x100, "BINARYMIME": 0x200, "HELP": 0x400}


def decode(line):
    """One .in line with its escapes decoded, CRLF added unless \\c ends it."""
    out, i, crlf = bytearray(), 0, True
    while i < len(line):
        c = line[i]
        i += 1
        if c != "\\":
            out += c.encode("utf-8")
            continue
        e = line[i]
        i += 1
        if e == "c" and i == len(line):
            crlf = False
        elif e == "x":
            out.append(int(line[i:i + 2], 16))
            i += 2
        elif e == "{":
            m = re.match(r"(\d+)\}(.)", line[i:])
            out += m.group(2).encode() * int(m.group(1))
            i += len(m.group(0))
        else:
            out += {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0"}.get(e, e.encode())
    return bytes(out) + (b"\r\n" if crlf else b"")


def seed(path):
    """Returns (parameter word, session bytes) for one transcript."""
    word, data = 0x7ff & ~EXT["STARTTLS"], bytearray()
    for line in open(path, encoding="utf-8").read().split("\n")[:-1]:
        if line.startswith("#") or line == "@whole":
            continue
        if line.startswith("@params "):
            for kv in line[8:].split():
                k, v = kv.split("=", 1)
                if k == "bare" and v == "normalize":
                    word |= 1 << 11
                if k == "ext" and v not in ("all", "default"):
                    word = sum(b for n, b in EXT.items() if n in v) & ~EXT["STARTTLS"]
            continue
        if line.startswith("@policy "):
            continue
        data += decode(line)
    return word, bytes(data)


def put(out, blob, what):
    """Store blob in the corpus folder out under its SHA-1, as libFuzzer does."""
    os.makedirs(out, exist_ok=True)
    name = hashlib.sha1(blob).hexdigest()
    with open(os.path.join(out, name), "wb") as f:
        f.write(blob)
    print("%s <- %s" % (name, what))


def seed_configs():
    """Every testdata configuration and our own into the rules corpora."""
    testdata = os.path.join("..", "shared", "testdata", "smtpd-conf")
    paths = sorted(glob.glob(os.path.join(testdata, "**", "*.conf"), recursive=True))
    paths += sorted(glob.glob("test/fuzz/seeds/config/*.conf"))
    for path in paths:
        with open(path, "rb") as f:
            blob = f.read()
        for target in ("fuzz_config", "fuzz_convert"):
            put("test/fuzz/corpus/" + target, blob, path)


def main():
    seed_configs()
    out = "test/fuzz/corpus/fuzz_server"
    os.makedirs(out, exist_ok=True)
    for path in sorted(glob.glob("test/proto/transcripts/*.in")):
        word, data = seed(path)
        blob = struct.pack("<I", word | 1 << 17) + data  # bit 17: AUTH offered
        name = hashlib.sha1(blob).hexdigest()
        with open(os.path.join(out, name), "wb") as f:
            f.write(blob)
        print("%s <- %s" % (name, path))


if __name__ == "__main__":
    main()
