#!/usr/bin/env python3
"""ctl/install.py - `ninja install`: puts what an operator runs and reads
in place under $DESTDIR$PREFIX.

  python3 ctl/install.py [--builddir build] [--prefix /usr/local]

PREFIX comes from the environment when set there, else from --prefix
(`ninja install` passes what `./configure.py --prefix` chose, /usr/local by
default); it must be absolute. DESTDIR, from the environment, is put in
front of every path, so a package can be staged in a folder.

What goes where (P = $DESTDIR$PREFIX, D = $DESTDIR):
  P/sbin/smtpd, P/sbin/smtpctl           0755
  P/sbin/<persona>                       symlinks to smtpctl: every link the
                                         build made to it (configure.py's
                                         PERSONAS: sendmail, send-mail,
                                         mailq, newaliases, makemap)
  P/bin/mailq, P/bin/newaliases          symlinks to ../sbin/smtpctl, where
                                         Debian's MTA packages put them
  P/lib/systemd/system/ringmta*.{service,socket}   0644, from core/systemd/
                                         (the service's smtpd path made
                                         P's, without DESTDIR)
  P/share/man/man5, man8                 0644, docs/man/*.5 and *.8
  D/etc/ringmta/smtpd.conf.example       0644, docs/smtpd.conf.example
  D/var/spool/ringmta                    0711, only when missing
smtpd looks for /etc/ringmta/smtpd.conf and keeps its queue in
/var/spool/ringmta whatever PREFIX is (both are compiled in), so those two
go under DESTDIR alone. An existing smtpd.conf is never touched; the
example beside it is replaced. /usr/sbin/sendmail, which programs call by
that name, is written only with PREFIX=/usr, where it is P/sbin/sendmail:
under another prefix that path belongs to the system's MTA package (see
README.md, Installing). Every file is written beside its target and
renamed over it, so a running smtpd keeps its binary. Prints each path.
Standard library only.
"""
import argparse
import os
import shutil
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_DIR = "/etc/ringmta"          # core/main.h MAIN_CONFIG_DEFAULT_PATH
SPOOL_DIR = "/var/spool/ringmta"     # rules/rules_int.h RULES_DEFAULT_QUEUE_PATH
BIN_PERSONAS = ["mailq", "newaliases"]
UNIT_SMTPD = "/usr/local/sbin/smtpd"  # the path core/systemd/ringmta.service names


def fail(msg):
    print("install: " + msg, file=sys.stderr)
    sys.exit(1)


def under(root, path):
    """path (absolute) below root ("" = /)."""
    return os.path.join(root, path.lstrip("/")) if root else path


def say(path):
    print("install: " + path, flush=True)


def replace_with(tmp, dst):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    os.replace(tmp, dst)
    say(dst)


def put_file(src, dst, mode, text=None):
    """Copy src (or write text) to dst with mode, renamed into place."""
    tmp = "%s.install.%d" % (dst, os.getpid())
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    try:
        if text is None:
            shutil.copyfile(src, tmp)
        else:
            with open(tmp, "w") as f:
                f.write(text)
        os.chmod(tmp, mode)
        replace_with(tmp, dst)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def put_link(target, dst):
    tmp = "%s.install.%d" % (dst, os.getpid())
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    os.symlink(target, tmp)
    replace_with(tmp, dst)


def personas(builddir):
    """The links the build made to smtpctl, by name."""
    return sorted(n for n in os.listdir(builddir)
                  if os.path.islink(os.path.join(builddir, n))
                  and os.readlink(os.path.join(builddir, n)) == "smtpctl")


def service_text(prefix):
    with open(os.path.join(TOP, "core", "systemd", "ringmta.service")) as f:
        text = f.read()
    if UNIT_SMTPD not in text:
        fail("core/systemd/ringmta.service no longer names %s" % UNIT_SMTPD)
    return text.replace(UNIT_SMTPD, os.path.join(prefix, "sbin", "smtpd"))


def install(builddir, prefix, destdir):
    top = under(destdir, prefix)
    for prog in ("smtpd", "smtpctl"):
        src = os.path.join(builddir, prog)
        if not os.access(src, os.X_OK):
            fail("%s is not built: run ninja first" % src)
        put_file(src, os.path.join(top, "sbin", prog), 0o755)
    for name in personas(builddir):
        put_link("smtpctl", os.path.join(top, "sbin", name))
    for name in BIN_PERSONAS:
        put_link("../sbin/smtpctl", os.path.join(top, "bin", name))
    units = os.path.join(TOP, "core", "systemd")
    for name in sorted(os.listdir(units)):
        dst = os.path.join(top, "lib", "systemd", "system", name)
        if name == "ringmta.service":
            put_file(None, dst, 0o644, service_text(prefix))
        elif name.endswith(".socket"):
            put_file(os.path.join(units, name), dst, 0o644)
    man = os.path.join(TOP, "docs", "man")
    for name in sorted(os.listdir(man)):
        section = name.rsplit(".", 1)[-1]
        if section in ("5", "8"):
            put_file(os.path.join(man, name),
                     os.path.join(top, "share", "man", "man" + section, name), 0o644)
    put_file(os.path.join(TOP, "docs", "smtpd.conf.example"),
             os.path.join(under(destdir, CONFIG_DIR), "smtpd.conf.example"), 0o644)
    spool = under(destdir, SPOOL_DIR)
    if not os.path.isdir(spool):
        os.makedirs(os.path.dirname(spool), exist_ok=True)
        os.mkdir(spool, 0o711)
        os.chmod(spool, 0o711)   # smtpd makes it _smtpq's when it starts as root
        say(spool)


def main():
    ap = argparse.ArgumentParser(description="Install ringmta under $DESTDIR$PREFIX.")
    ap.add_argument("--builddir", default=os.path.join(TOP, "build"))
    ap.add_argument("--prefix", default="",
                    help="used when PREFIX is not in the environment (default /usr/local)")
    args = ap.parse_args()
    prefix = os.environ.get("PREFIX") or args.prefix or "/usr/local"
    if not os.path.isabs(prefix):
        fail("PREFIX must be an absolute path, not %r" % prefix)
    prefix = os.path.normpath(prefix)
    destdir = os.environ.get("DESTDIR", "")
    if destdir:
        destdir = os.path.abspath(destdir)
    try:
        install(os.path.abspath(args.builddir), prefix, destdir)
    except OSError as e:
        fail("%s: %s" % (e.filename or "", e.strerror))


if __name__ == "__main__":
    main()
