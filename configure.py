#!/usr/bin/env python3
"""configure.py - finds what ringmta needs and writes the build.

It probes the C compiler and each dependency (pkg-config first, then a test
compile), names the Debian package for anything missing, and writes:
  build/config.ninja  flags and libraries for this machine (not committed)
  build.ninja         the build graph, derived from the source tree only, so it
                      is the same on every machine (committed)

Options:
  --install-deps  apt-get install whatever is missing (build tools and libraries;
                  with --test also the tools the tests drive: swaks, postfix ...)
  --sanitize      ASan + UBSan build
  --prefix DIR    where `ninja install` puts ringmta (default /usr/local; PREFIX
                  in the environment of `ninja install` wins; DESTDIR stages it)
  --run           after configuring, build and start `build/smtpd -d`
  --test          after configuring, build and run every test (`ninja test`)
Standard library only.
"""
import argparse
import glob
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(TOP, "build")

# name, pkg-config module, header, link flag, Debian package
LIBRARIES = [
    ("liburing", "liburing", "liburing.h", "-luring", "liburing-dev"),
    ("wolfSSL", "wolfssl", "wolfssl/options.h", "-lwolfssl", "libwolfssl-dev"),
    ("RocksDB", "rocksdb", "rocksdb/c.h", "-lrocksdb", "librocksdb-dev"),
    ("libmaxminddb", "libmaxminddb", "maxminddb.h", "-lmaxminddb", "libmaxminddb-dev"),
    ("c-ares", "libcares", "ares.h", "-lcares", "libc-ares-dev"),
    ("libxcrypt", "libxcrypt", "crypt.h", "-lcrypt", "libcrypt-dev"),
    ("Linux-PAM", "pam", "security/pam_appl.h", "-lpam", "libpam0g-dev"),
    ("Criterion", "criterion", "criterion/criterion.h", "-lcriterion", "libcriterion-dev"),
    # only for test/milter/milter_test (the test milter of test_milter.py)
    ("libmilter", "libmilter", "libmilter/mfapi.h", "-lmilter", "libmilter-dev"),
]

# program, Debian package; needed to build
BUILD_TOOLS = [
    ("cc", "gcc"),
    ("ninja", "ninja-build"),
    ("pkg-config", "pkgconf"),
]

# program (or file, or perl:Module), Debian package; needed only to run the tests
TEST_TOOLS = [
    ("swaks", "swaks"),
    # swaks only recommends them: its STARTTLS/--tls-on-connect and IPv6
    ("perl:Net::SSLeay", "libnet-ssleay-perl"),
    ("perl:IO::Socket::INET6", "libio-socket-inet6-perl"),
    ("smtp-source", "postfix"),
    ("smtp-sink", "postfix"),
    ("systemd-socket-activate", "systemd"),
    ("openssl", "openssl"),
    ("python3", "python3"),
    ("unshare", "util-linux"),
    ("dnsmasq", "dnsmasq-base"),
    # a second SRS implementation reverses our addresses in test_srs.py
    ("/usr/share/perl5/Mail/SRS.pm", "libmail-srs-perl"),
    ("ip", "iproute2"),
    ("cdb", "tinycdb"),   # reads makemap's output in test_makemap.py
    ("mandoc", "mandoc"),  # lints docs/man/ in test_install.py
    ("ldb", "rocksdb-tools"),  # removes a schedule key in test_ctl_ops.py (discover)
    # checks OpenSMTPD's sealed queue-file format in test_ctl_ops.py (decrypt)
    ("/usr/lib/python3/dist-packages/cryptography/__init__.py", "python3-cryptography"),
    # real milters in test_milter.py: opendkim signs, dkimpy verifies
    ("opendkim", "opendkim"),
    ("opendkim-genkey", "opendkim-tools"),
    ("/usr/lib/python3/dist-packages/dkim/__init__.py", "python3-dkim"),
    # parses the metrics endpoint's OpenMetrics text in test_metrics.py
    ("/usr/lib/python3/dist-packages/prometheus_client/openmetrics/parser.py",
     "python3-prometheus-client"),
    # Postfix as the receiving peer with Cyrus SASL (sasldb) in test_relay_postfix.py
    ("saslpasswd2", "sasl2-bin"),
    ("/usr/lib/x86_64-linux-gnu/sasl2/libplain.so", "libsasl2-modules"),
]

# folders that become static libraries, in link order (users first)
LIB_DIRS = ["core", "ctl", "queue", "rules", "proto"]
# what each test binary links (its folder's library and what that needs)
TEST_LINKS = {
    "proto": ["proto"],
    "rules": ["rules", "proto"],
    "queue": ["queue", "proto"],
    "core": ["core", "ctl", "queue", "rules", "proto"],
    "bench": ["bench", "proto"],
    "ctl": ["ctl", "rules", "proto"],
}
PERSONAS = ["sendmail", "send-mail", "mailq", "newaliases", "makemap"]
# the folders whose sources each libFuzzer target is built with (default proto/)
FUZZ_SOURCES = {
    "fuzz_config": ["rules", "proto"],
    "fuzz_convert": ["rules", "proto"],
    "fuzz_aliases": ["rules", "proto"],
}


def say(msg):
    print("configure: " + msg, flush=True)


def which(prog):
    if prog.startswith("perl:"):   # a Perl module a package installs
        r = subprocess.run(["perl", "-M" + prog[5:], "-e", "1"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        return prog if r.returncode == 0 else None
    if os.path.isabs(prog):   # a file a package installs
        return prog if os.path.exists(prog) else None
    path = shutil.which(prog)
    if path is None:
        for d in ("/usr/sbin", "/sbin", "/usr/bin"):
            cand = os.path.join(d, prog)
            if os.access(cand, os.X_OK):
                return cand
    return path


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, **kw)


def compiles(cc, code, flags):
    """Return True when `code` compiles and links with `flags`."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(code)
        r = run([cc, src, "-o", os.path.join(tmp, "probe")] + flags)
        return r.returncode == 0


def probe_library(cc, lib):
    name, module, header, link, _pkg = lib
    if which("pkg-config"):
        r = run(["pkg-config", "--cflags", "--libs", module])
        if r.returncode == 0:
            flags = shlex.split(r.stdout)
            if compiles(cc, "#include <%s>\nint main(void){return 0;}\n" % header, flags):
                return flags
    flags = [link]
    if compiles(cc, "#include <%s>\nint main(void){return 0;}\n" % header, flags):
        return flags
    return None


def apt_install(packages):
    if os.geteuid() != 0:
        say("installing needs root: run with sudo, or install: apt-get install "
            + " ".join(packages))
        sys.exit(1)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if "postfix" in packages:
        # Installed for its smtp-source and smtp-sink tools and as a test peer:
        # leave it unconfigured so it does not claim port 25.
        sel = "postfix postfix/main_mailer_type select No configuration\n"
        subprocess.run(["debconf-set-selections"], input=sel, text=True, env=env)
    say("apt-get install " + " ".join(packages))
    subprocess.run(["apt-get", "update", "-q"], env=env, check=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends"]
                   + packages, env=env, check=True)


def ensure_user(name):
    """A system user smtpd uses when started as root (the one it drops to,
    the one its queue belongs to), as Debian's opensmtpd package creates
    _smtpd and _smtpq."""
    import pwd
    try:
        pwd.getpwnam(name)
        return
    except KeyError:
        pass
    if os.geteuid() != 0:
        say("user %s is missing: smtpd started as root needs it (run with sudo)" % name)
        return
    say("creating the system user %s" % name)
    subprocess.run(["useradd", "--system", "--home-dir", "/var/empty", "--no-create-home",
                    "--shell", "/usr/sbin/nologin", name], check=True)


def missing_tools(tools):
    return sorted({pkg for prog, pkg in tools if which(prog) is None})


def probe_all(args):
    """Probe tools and libraries; install what is missing when asked."""
    tools = BUILD_TOOLS + (TEST_TOOLS if args.test else [])
    cc = os.environ.get("CC", "cc")
    for attempt in (1, 2):
        missing = missing_tools(tools)
        found = {}
        if which(cc):
            for lib in LIBRARIES:
                flags = probe_library(cc, lib)
                if flags is None:
                    missing.append(lib[4])
                else:
                    found[lib[0]] = flags
        if not missing:
            return cc, found
        for lib in LIBRARIES:
            if lib[4] in missing:
                say("missing %s (Debian package %s)" % (lib[0], lib[4]))
        for prog, pkg in tools:
            if pkg in missing and which(prog) is None:
                say("missing %s (Debian package %s)" % (prog, pkg))
        if not args.install_deps or attempt == 2:
            say("run `sudo ./configure.py --install-deps` to install them")
            sys.exit(1)
        apt_install(sorted(set(missing)))
    sys.exit(1)


def probe_features(cc, uring_flags):
    """Kernel-interface features the headers may or may not define."""
    defs = []
    checks = {
        "HAVE_IORING_SETUP_DEFER_TASKRUN":
            "#include <liburing.h>\nint main(void){return IORING_SETUP_DEFER_TASKRUN;}\n",
        "HAVE_IORING_SETUP_SINGLE_ISSUER":
            "#include <liburing.h>\nint main(void){return IORING_SETUP_SINGLE_ISSUER;}\n",
        "HAVE_IO_URING_PREP_MSG_RING":
            "#include <liburing.h>\nint main(void){struct io_uring_sqe s;"
            "io_uring_prep_msg_ring(&s,0,0,0,0);return 0;}\n",
    }
    for name, code in checks.items():
        if compiles(cc, code, uring_flags):
            defs.append("-D" + name)
    return defs


SOURCES_FROM_INDEX = None   # set by --graph-from-index: the files git has staged


def sources(folder):
    if SOURCES_FROM_INDEX is not None:
        return sorted(p for p in SOURCES_FROM_INDEX
                      if os.path.dirname(p) == folder and p.endswith(".c"))
    return sorted(os.path.relpath(p, TOP)
                  for p in glob.glob(os.path.join(TOP, folder, "*.c")))


def obj(src):
    return "$builddir/obj/" + src[:-2] + ".o"


def write_atomically(path, text):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_build_ninja():
    """The build graph: depends only on the files in the tree."""
    out = []
    w = out.append
    w("# build.ninja - written by configure.py from the source tree; flags and")
    w("# libraries for this machine come from build/config.ninja.")
    w("ninja_required_version = 1.10")
    w("builddir = build")
    w("include build/config.ninja")
    w("")
    w("rule cc")
    w("  command = $cc -MMD -MF $out.d $cflags -c $in -o $out")
    w("  depfile = $out.d")
    w("  deps = gcc")
    w("  description = CC $out")
    w("rule ar")
    w("  command = rm -f $out && ar crs $out $in")
    w("  description = AR $out")
    w("rule link")
    w("  command = $cc $ldflags $in -o $out $libs")
    w("  description = LINK $out")
    w("rule symlink")
    w("  command = ln -sf $target $out")
    w("  description = LN $out")
    w("rule runtests")
    w("  command = python3 test/run_tests.py --builddir $builddir")
    w("  description = TEST")
    w("  pool = console")
    w("rule runbench")
    w("  command = python3 bench/run_bench.py --builddir $builddir")
    w("  description = BENCH")
    w("  pool = console")
    w("rule runbenchlocal")
    w("  command = python3 bench/local_delivery.py --builddir $builddir")
    w("  description = BENCH local delivery")
    w("  pool = console")
    w("rule runbenchtls")
    w("  command = python3 bench/tls_bench.py --builddir $builddir")
    w("  description = BENCH STARTTLS")
    w("  pool = console")
    w("rule runbenchmilter")
    w("  command = python3 bench/milter_bench.py --builddir $builddir")
    w("  description = BENCH milter")
    w("  pool = console")
    w("rule install")
    w("  command = python3 ctl/install.py --builddir $builddir --prefix=$prefix")
    w("  description = INSTALL")
    w("  pool = console")
    w("rule fuzzcc")
    w("  command = $fuzz_cc -std=gnu11 -g -O1 -D_GNU_SOURCE -I. "
      "-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined $in -o $out "
      "-lwolfssl")  # proto/srs.c: wolfCrypt's HMAC
    w("  description = FUZZ $out")
    w("")
    mains = {}
    libs = {}
    for folder in LIB_DIRS + ["bench"]:
        objs = []
        for src in sources(folder):
            w("build %s: cc %s" % (obj(src), src))
            if src.endswith("_main.c"):
                mains[src] = obj(src)
            else:
                objs.append(obj(src))
        if folder in LIB_DIRS:
            libs[folder] = "$builddir/lib%s.a" % folder
            w("build %s: ar %s" % (libs[folder], " ".join(objs)) if objs else
              "build %s: ar" % libs[folder])
        elif objs:
            libs[folder] = "$builddir/lib%s.a" % folder
            w("build %s: ar %s" % (libs[folder], " ".join(objs)))
    all_libs = " ".join(libs[f] for f in LIB_DIRS)
    programs = []
    bench_programs = []
    for src, o in sorted(mains.items()):
        prog = os.path.basename(src)[:-len("_main.c")]
        folder = src.split("/")[0]
        extra = libs.get(folder, "") if folder not in LIB_DIRS else ""
        w("build $builddir/%s: link %s %s %s" % (prog, o, extra, all_libs))
        (bench_programs if folder == "bench" else programs).append("$builddir/" + prog)
    for persona in PERSONAS:
        w("build $builddir/%s: symlink $builddir/smtpctl" % persona)
        w("  target = smtpctl")
        programs.append("$builddir/" + persona)
    tests = []
    for folder in sorted(TEST_LINKS):
        srcs = sources("test/" + folder)
        if not srcs:
            continue
        for src in srcs:
            w("build %s: cc %s" % (obj(src), src))
        linked = " ".join(libs[f] for f in TEST_LINKS[folder])
        w("build $builddir/test/test_%s: link %s %s" % (
            folder, " ".join(obj(s) for s in srcs), linked))
        w("  libs = $libs $test_libs")
        tests.append("$builddir/test/test_%s" % folder)
    # the test milter (libmilter) of test/e2e/test_milter.py
    for src in sources("test/milter"):
        w("build %s: cc %s" % (obj(src), src))
        prog = "$builddir/test/" + os.path.basename(src)[:-2]
        w("build %s: link %s" % (prog, obj(src)))
        w("  libs = $milter_libs -lpthread")
        tests.append(prog)
    # libFuzzer targets (clang only): each test/fuzz/fuzz_*.c with proto/, or
    # with the folders FUZZ_SOURCES names
    fuzzers = []
    for src in sources("test/fuzz"):
        name = os.path.basename(src)[:-2]
        if name.startswith("fuzz_"):
            srcs = [s for d in FUZZ_SOURCES.get(name, ["proto"]) for s in sources(d)]
            w("build $builddir/fuzz/%s: fuzzcc %s %s" % (name, src, " ".join(srcs)))
            fuzzers.append("$builddir/fuzz/" + name)
    w("")
    w("build all: phony %s" % " ".join(programs))
    w("build fuzz: phony %s" % " ".join(fuzzers))
    w("build tests: phony %s" % " ".join(tests))
    # test/ and bench/ are folders: the edges that run them get their own
    # names, and an input-less phony keeps them always out of date
    w("build always: phony")
    # the end-to-end tests drive mtaload and mtasink too
    w("build run-tests: runtests | all tests always %s" % " ".join(bench_programs))
    w("build run-bench: runbench | all always %s" % " ".join(bench_programs))
    w("build run-bench-local: runbenchlocal | all always %s" % " ".join(bench_programs))
    w("build run-bench-tls: runbenchtls | all always %s" % " ".join(bench_programs))
    w("build run-bench-milter: runbenchmilter | all always $builddir/test/milter_test %s"
      % " ".join(bench_programs))
    # PREFIX and DESTDIR from the environment of `ninja install` (ctl/install.py)
    w("build install: install | all")
    w("build test: phony run-tests")
    w("build bench: phony run-bench")
    w("build bench-local: phony run-bench-local")
    w("build bench-tls: phony run-bench-tls")
    w("build bench-milter: phony run-bench-milter")
    w("default all")
    text = "\n".join(out) + "\n"
    path = os.path.join(TOP, "build.ninja")
    old = open(path).read() if os.path.exists(path) else None
    if old != text:
        write_atomically(path, text)


def write_config_ninja(cc, found, features, sanitize, users, prefix):
    cflags = ["-std=gnu11", "-O2", "-g", "-Wall", "-Wextra", "-Werror",
              '-DRINGMTA_USER=\\"%s\\"' % users[0],
              '-DRINGMTA_QUEUE_USER=\\"%s\\"' % users[1],
              "-Wshadow", "-Wno-unused-parameter", "-Wno-format-truncation", "-D_GNU_SOURCE",
              "-fno-strict-aliasing", "-I."] + features
    ldflags = ["-pthread"]
    if sanitize:
        san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
               "-fno-sanitize-recover=undefined"]
        cflags = [f if f != "-O2" else "-O1" for f in cflags] + san
        ldflags += san
    libs, test_libs, milter_libs = [], [], []
    for name, flags in found.items():
        cflags += [f for f in flags if f.startswith(("-I", "-D")) and f not in cflags]
        target = (test_libs if name == "Criterion" else
                  milter_libs if name == "libmilter" else libs)
        target += [f for f in flags if not f.startswith(("-I", "-D"))]
    libs += ["-lpthread"]
    os.makedirs(BUILD, exist_ok=True)
    write_atomically(os.path.join(BUILD, "config.ninja"),
                     "# written by configure.py for this machine\n"
                     "cc = %s\ncflags = %s\nldflags = %s\nlibs = %s\n"
                     "test_libs = %s\nmilter_libs = %s\nsanitize = %d\nfuzz_cc = %s\n"
                     "prefix = %s\n" % (
                         cc, " ".join(cflags), " ".join(ldflags), " ".join(libs),
                         " ".join(test_libs), " ".join(milter_libs), 1 if sanitize else 0,
                         which("clang") or "false  # no clang: `ninja fuzz` needs it",
                         prefix))


def main():
    ap = argparse.ArgumentParser(description="Configure the ringmta build.")
    ap.add_argument("--install-deps", action="store_true",
                    help="apt-get install missing packages")
    ap.add_argument("--sanitize", action="store_true", help="ASan+UBSan build")
    ap.add_argument("--user", default="_smtpd",
                    help="the unprivileged user smtpd runs as when started as root "
                         "(default _smtpd; --install-deps creates it)")
    ap.add_argument("--queue-user", default="_smtpq",
                    help="the user the queue's files belong to when smtpd starts as root "
                         "(default _smtpq; --install-deps creates it)")
    ap.add_argument("--prefix", default="/usr/local",
                    help="where `ninja install` installs (default /usr/local; PREFIX in "
                         "its environment wins)")
    ap.add_argument("--run", action="store_true",
                    help="then build and start build/smtpd -d")
    ap.add_argument("--test", action="store_true",
                    help="then build and run every test")
    ap.add_argument("--graph-from-index", action="store_true",
                    help="only rewrite build.ninja from the files staged in git "
                         "(before a commit, so the graph matches what is committed)")
    args = ap.parse_args()
    os.chdir(TOP)
    if args.graph_from_index:
        global SOURCES_FROM_INDEX
        out = subprocess.run(["git", "ls-files", "--cached"], stdout=subprocess.PIPE,
                             text=True, check=True).stdout
        SOURCES_FROM_INDEX = out.split()
        write_build_ninja()
        return
    cc, found = probe_all(args)
    features = probe_features(cc, found["liburing"])
    write_build_ninja()
    if not os.path.isabs(args.prefix):
        ap.error("--prefix must be an absolute path")
    write_config_ninja(cc, found, features, args.sanitize, (args.user, args.queue_user),
                       os.path.normpath(args.prefix))
    if args.install_deps:
        ensure_user(args.user)
        ensure_user(args.queue_user)
    say("wrote build.ninja and build/config.ninja (%s%s)" % (
        cc, ", sanitizers" if args.sanitize else ""))
    if args.test:
        r = subprocess.run(["ninja", "test"])
        sys.exit(r.returncode)
    if args.run:
        r = subprocess.run(["ninja"])
        if r.returncode != 0:
            sys.exit(r.returncode)
        smtpd = os.path.join(BUILD, "smtpd")
        say("starting %s -d (embedded default config: 127.0.0.1 port 2525)" % smtpd)
        os.execv(smtpd, [smtpd, "-d"])


if __name__ == "__main__":
    main()
