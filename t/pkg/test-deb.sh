#!/bin/bash
#
# t/pkg/test-deb.sh (make test-deb): the Debian package end to end on this
# machine's Debian nginx.
#
#   build      make deb; the .deb's dependencies, files, stripped module,
#              conffiles and maintainer scripts; lintian
#   install    apt-get install ./libnginx-mod-http-olla-dmr_*.deb: the
#              module enabled in /etc/nginx/modules-enabled, nginx -t
#   serve      conf.examples/basic.conf (the installed copy) pointed at a
#              DMR stand-in (t/pkg/standin.py), nginx -t, nginx started (or
#              reloaded when it runs already), a model list and a chat
#              completion through the module; an override in /etc/nginx/olla
#   remove     apt-get remove: the files gone, the conffiles and the
#              disabled link (.removed) kept; a reinstall enables the module
#              again, an administrator's disabling survives a reinstall
#   purge      apt-get purge: nothing of the package left; /etc/nginx,
#              /usr/share/nginx, /usr/lib/nginx as they were before
#   install    make install DESTDIR=...: the package's layout; make install
#              to / enabled as it prints passes nginx -t; make uninstall
#              leaves the machine as it was
#
# Needs root (apt-get, /etc/nginx); port 80 free when nginx is not running
# (Debian's default site).  Leaves nginx as it found it: stopped if it was
# stopped, running with its own configuration if it ran.  Refuses to run
# when the package or files of its layout are on the machine already.
#
# Prints "deb: N checks, M failed"; exits non-zero when M > 0.

set -u

TOP=$(cd "$(dirname "$0")/../.." && pwd)
PKG=libnginx-mod-http-olla-dmr
ENABLED=/etc/nginx/modules-enabled/50-mod-http-olla-dmr.conf
AVAIL=/usr/share/nginx/modules-available/mod-http-olla-dmr.conf
SO=/usr/lib/nginx/modules/ngx_olla_dmr_module.so
PROFILES=/usr/share/nginx/olla/profiles
DOC=/usr/share/doc/$PKG
OVERRIDE=/etc/nginx/olla
SITE=/etc/nginx/conf.d/olla-test-deb.conf
PIDFILE=/run/nginx.pid
ERRLOG=/var/log/nginx/error.log

if [ "$(id -u)" != 0 ]; then
    exec sudo -n "$0" "$@" || { echo "deb: needs root"; exit 1; }
fi

exec 9>/tmp/olla-test-deb.lock
flock -w 600 9 || { echo "deb: another test-deb holds the lock"; exit 1; }

TMP=$(mktemp -d /tmp/olla-test-deb.XXXXXX)
checks=0
failed=0
todo=0
installed_by_us=0
installed_by_make=0
started_nginx=0
nginx_was_running=0
standin_pid=

ok() {
    checks=$((checks + 1))
    echo "ok $checks - $1"
}

not_ok() {
    checks=$((checks + 1))
    failed=$((failed + 1))
    echo "not ok $checks - $1"
    [ $# -gt 1 ] && [ -n "$2" ] && printf '%s\n' "$2" | sed 's/^/#   /'
    return 0
}

# check DESCRIPTION COMMAND...: the command's status decides
check() {
    local desc=$1 out
    shift
    if out=$("$@" 2>&1); then ok "$desc"; else not_ok "$desc" "$out"; fi
}

# wait_for SECONDS COMMAND...: until the command succeeds, or the deadline
wait_for() {
    local end=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $end ] && return 1
        sleep 0.05
    done
}

apt() {
    DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=300 \
        "$@" >>"$TMP/apt.log" 2>&1
}

nginx_alive() {
    [ -s $PIDFILE ] && kill -0 "$(cat $PIDFILE)" 2>/dev/null
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0));
print(s.getsockname()[1])'
}

# the paths that must be as they were once the package is purged
snapshot() {
    find /etc/nginx /usr/share/nginx /usr/lib/nginx $DOC \
        -path /usr/share/nginx/src -prune -o -printf '%p %y %m %l\n' \
        2>/dev/null | sort
    find /etc/nginx -type f -exec md5sum {} + 2>/dev/null | sort
}

pkg_status() {
    dpkg-query -W -f='${Status}' $PKG 2>/dev/null
}

cleanup() {
    rm -f $SITE $OVERRIDE/dmr-custom.yaml $OVERRIDE/notes.txt
    if [ $started_nginx = 1 ] && nginx_alive; then
        /usr/sbin/nginx -s quit 2>>"$TMP/signal.log"
        wait_for 10 bash -c "! kill -0 $(cat $PIDFILE 2>/dev/null || echo 0)"
    fi
    if [ $installed_by_make = 1 ]; then
        rm -f $ENABLED
        make -C "$TOP" -s uninstall >/dev/null 2>&1
    fi
    if [ $installed_by_us = 1 ] && [ -n "$(pkg_status)" ]; then
        apt purge $PKG
        [ -d $OVERRIDE ] && rmdir $OVERRIDE 2>/dev/null
    fi
    if [ $nginx_was_running = 1 ] && nginx_alive; then
        /usr/sbin/nginx -s reload 2>>"$TMP/signal.log"
    fi
    [ -n "$standin_pid" ] && kill "$standin_pid" 2>/dev/null
    rm -rf "$TMP"
}

trap cleanup EXIT
trap "exit 130" INT TERM HUP

summary() {
    local msg="deb: $checks checks, $failed failed"
    [ $todo -gt 0 ] && msg="$msg, $todo to do"
    echo "$msg"
    [ $failed = 0 ]
    exit
}

# ---------------------------------------------------------------- build

VERSION=$(sed -n 's/^#define NGX_OLLA_DMR_VERSION *"\(.*\)"/\1/p' \
          "$TOP/src/ngx_olla_dmr.h")
ARCH=$(dpkg --print-architecture)
DEB=$TOP/build/deb/${PKG}_${VERSION}_${ARCH}.deb

if make -C "$TOP" -s deb >"$TMP/build.log" 2>&1 && [ -f "$DEB" ]; then
    ok "make deb builds $(basename "$DEB")"
else
    not_ok "make deb builds $(basename "$DEB")" "$(tail -20 "$TMP/build.log")"
    summary
fi

ABI=$(sed -n 's/^nginx:abi=//p' \
      /usr/share/nginx/src/debian/libnginx-mod.abisubstvars)

check "Depends: names the nginx ABI it was built for ($ABI)" \
    bash -c "dpkg-deb -f '$DEB' Depends | tr -d ' ' | tr , '\n' \
             | grep -qx '$ABI'"

check "Version: is NGX_OLLA_DMR_VERSION ($VERSION)" \
    test "$(dpkg-deb -f "$DEB" Version)" = "$VERSION"

dpkg-deb -c "$DEB" | awk '{ print $6 }' | sed 's|^\.||' >"$TMP/contents"

contents_ok=1
for f in $SO $AVAIL $PROFILES/dmr.yaml $PROFILES/ollama.yaml \
         $PROFILES/openai-compatible.yaml /etc/nginx/olla_proxy_params \
         /etc/nginx/olla_log_format \
         $OVERRIDE/README $DOC/copyright $DOC/examples/basic.conf \
         $DOC/examples/production.conf $DOC/examples/olla_proxy_params
do
    grep -qx "$f" "$TMP/contents" || { contents_ok=0; echo "#   no $f"; }
done
for f in $(cd "$TOP/conf.examples" && ls); do
    grep -qx "$DOC/examples/$f" "$TMP/contents" \
        || { contents_ok=0; echo "#   no example $f"; }
done
if grep -q "^/etc/nginx/modules-" "$TMP/contents"; then
    contents_ok=0
    echo "#   ships files in /etc/nginx/modules-*"
fi
[ $contents_ok = 1 ] && ok "the package holds the Debian layout" \
                     || not_ok "the package holds the Debian layout"

mkdir -p "$TMP/x"
dpkg-deb -R "$DEB" "$TMP/x"

check "the module is stripped (no .symtab, no .debug_*)" \
    bash -c "! readelf -S --wide '$TMP/x$SO' | grep -Eq '\.symtab|\.debug_'"

check "mod-http-olla-dmr.conf loads the module" \
    grep -qx "load_module modules/ngx_olla_dmr_module.so;" "$TMP/x$AVAIL"

check "conffiles: olla_proxy_params, olla_log_format, olla/README in /etc/nginx" \
    diff <(sort "$TMP/x/DEBIAN/conffiles") \
         <(printf '%s\n' /etc/nginx/olla/README /etc/nginx/olla_log_format \
                         /etc/nginx/olla_proxy_params)

check "postinst/prerm/postrm enable and disable 50-mod-http-olla-dmr.conf" \
    bash -c "for s in postinst prerm postrm; do
                 grep -q 'mod-http-olla-dmr.conf:50-mod-http-olla-dmr.conf' \
                     '$TMP/x/DEBIAN/'\$s || exit 1
             done"

if ! command -v lintian >/dev/null; then
    apt install --no-install-recommends lintian
fi
lintian_out=$(lintian -I -E --pedantic "${DEB%.deb}.changes" 2>&1 \
              | grep -v "running with root privileges")
if [ -z "$lintian_out" ]; then
    ok "lintian -I -E --pedantic: no tags"
else
    not_ok "lintian -I -E --pedantic: no tags" "$lintian_out"
fi

# make install into a DESTDIR: the package's files (less the package's own
# docs: copyright, changelog, README), the module stripped the same way

STAGE=$TMP/destdir
if make -C "$TOP" -s install DESTDIR="$STAGE" >"$TMP/install.log" 2>&1; then
    ok "make install DESTDIR=..."
else
    not_ok "make install DESTDIR=..." "$(tail -20 "$TMP/install.log")"
fi

check "make install DESTDIR=...: the files of the package" \
    diff <(grep -v "^$DOC/\(copyright\|changelog.gz\|README.md.gz\)$" \
               "$TMP/contents" | grep -v '/$' | sort) \
         <(cd "$STAGE" && find . ! -type d | sed 's|^\.||' | sort)

check "make install DESTDIR=...: the module stripped" \
    bash -c "! readelf -S --wide '$STAGE$SO' | grep -Eq '\.symtab|\.debug_'"

check "make install prints how to enable and disable the module" \
    bash -c "grep -q 'ln -s $AVAIL $ENABLED' '$TMP/install.log' \
             && grep -q 'rm $ENABLED' '$TMP/install.log'"

make -C "$TOP" -s uninstall DESTDIR="$STAGE" >>"$TMP/install.log" 2>&1
check "make uninstall DESTDIR=...: no file left" \
    test -z "$(find "$STAGE" ! -type d)"

# ---------------------------------------------------------------- install

refuse=
[ -n "$(pkg_status)" ] && refuse="$refuse $PKG is installed;"
for f in $SO $AVAIL $ENABLED $ENABLED.removed $OVERRIDE \
         /etc/nginx/olla_proxy_params /usr/share/nginx/olla $SITE; do
    [ -e $f ] || [ -L $f ] && refuse="$refuse $f exists;"
done
if nginx_alive; then
    nginx_was_running=1
elif [ -n "$(ss -Hlnt 'sport = :80')" ]; then
    refuse="$refuse port 80 is taken and nginx is not running;"
fi
if [ -n "$refuse" ]; then
    not_ok "the machine is ready for the package" "$refuse"
    summary
fi

snapshot >"$TMP/before"

if apt install "$DEB"; then
    installed_by_us=1
    ok "apt-get install ./$(basename "$DEB")"
else
    installed_by_us=1
    not_ok "apt-get install ./$(basename "$DEB")" "$(tail -20 "$TMP/apt.log")"
    summary
fi

check "dpkg: install ok installed" \
    test "$(pkg_status)" = "install ok installed"

check "$ENABLED -> $AVAIL" test "$(readlink $ENABLED)" = "$AVAIL"

check "the module, profiles, olla_proxy_params, README, examples in place" \
    test -f $SO -a -f $PROFILES/dmr.yaml -a -f /etc/nginx/olla_proxy_params \
         -a -f $OVERRIDE/README -a -f $DOC/examples/basic.conf

check "nginx -t with the module enabled" /usr/sbin/nginx -t -q

# ---------------------------------------------------------------- serve

python3 "$TOP/t/pkg/standin.py" "$TMP/standin.log" >"$TMP/standin.port" &
standin_pid=$!
wait_for 10 test -s "$TMP/standin.port"
BPORT=$(head -1 "$TMP/standin.port")
GPORT=$(free_port)

# basic.conf as installed, in front of the stand-in; /deb-test-gen tells
# which configuration generation the workers run
site() {
    sed -e "s|localhost:12434|127.0.0.1:$BPORT|" \
        -e "s|^\( *\)listen 40114;|\1listen 127.0.0.1:$GPORT;\n\
\1location = /deb-test-gen { return 200 \"$1\\\\n\"; }|" \
        $DOC/examples/basic.conf >$SITE
}

site 1
check "basic.conf points at the stand-in on :$BPORT, listens on :$GPORT" \
    grep -q "127.0.0.1:$BPORT" $SITE

check "nginx -t with the example configuration" /usr/sbin/nginx -t -q

log_from=$(stat -c %s $ERRLOG 2>/dev/null || echo 0)

if [ $nginx_was_running = 1 ]; then
    /usr/sbin/nginx -s reload 2>>"$TMP/signal.log"
else
    /usr/sbin/nginx && started_nginx=1
fi

gen() {
    [ "$(curl -s "http://127.0.0.1:$GPORT/deb-test-gen")" = "$1" ]
}

check "nginx runs the configuration" wait_for 10 gen 1

models() {
    curl -s -D "$TMP/h.models" -o "$TMP/b.models" -w '%{http_code}' \
        "http://127.0.0.1:$GPORT/olla/$1/engines/v1/models"
}

# 200 with the stand-in's model: the module has found the model (its
# discovery follows the first health check)
models_listed() {
    [ "$(models "$1")" = 200 ] && grep -q '"ai/smollm2"' "$TMP/b.models"
}

if wait_for 10 models_listed dmr; then
    ok "GET /olla/dmr/engines/v1/models through the module: 200, the model"
else
    not_ok "GET /olla/dmr/engines/v1/models through the module: 200, the model" \
           "$(cat "$TMP/h.models" "$TMP/b.models")"
fi

code=$(curl -s -D "$TMP/h.chat" -o "$TMP/b.chat" -w '%{http_code}' \
       -H 'Content-Type: application/json' \
       -d '{"model":"ai/smollm2","messages":[{"role":"user","content":"hi"}]}' \
       "http://127.0.0.1:$GPORT/olla/dmr/engines/v1/chat/completions")
check "POST /olla/dmr/engines/v1/chat/completions: 200, the stand-in's answer" \
    bash -c "test '$code' = 200 \
             && grep -q 'hello from the deb test stand-in' '$TMP/b.chat'"

check "X-Olla-Endpoint: local-dmr, X-Olla-Backend-Type: docker-model-runner" \
    bash -c "grep -qi '^X-Olla-Endpoint: local-dmr' '$TMP/h.chat' \
             && grep -qi '^X-Olla-Backend-Type: docker-model-runner' \
                     '$TMP/h.chat'"

check "the stand-in got POST /engines/v1/chat/completions" \
    grep -qx "POST /engines/v1/chat/completions" "$TMP/standin.log"

# an override in /etc/nginx/olla: dmr-custom.yaml adds the prefix "mydmr"
# (olla_profiles_override's default directory for Debian's nginx, with no
# directive in the configuration); a module without that directive (an
# older one) makes this check "to do"
cat >$OVERRIDE/dmr-custom.yaml <<'EOF'
name: docker-model-runner
routing:
  prefixes: [dmr, mydmr]
EOF
site 2
override_ok=0
if /usr/sbin/nginx -t -q >"$TMP/t.override" 2>&1; then
    /usr/sbin/nginx -s reload 2>>"$TMP/signal.log"
    if wait_for 10 gen 2; then
        wait_for 3 models_listed mydmr && override_ok=1
    fi
fi
if [ $override_ok = 1 ]; then
    ok "$OVERRIDE/dmr-custom.yaml is read: /olla/mydmr/ reaches DMR"
elif grep -q olla_profiles_override $SO; then
    not_ok "$OVERRIDE/dmr-custom.yaml is read: /olla/mydmr/ reaches DMR" \
           "$(cat "$TMP/t.override"; models mydmr; cat "$TMP/b.models")"
else
    checks=$((checks + 1))
    todo=$((todo + 1))
    echo "not ok $checks - $OVERRIDE/dmr-custom.yaml is read # TODO the" \
         "module does not read $OVERRIDE yet"
fi
rm -f $OVERRIDE/dmr-custom.yaml

check "no [emerg], [alert] or [crit] in $ERRLOG" \
    bash -c "! tail -c +$((log_from + 1)) $ERRLOG \
             | grep -E '\[(emerg|alert|crit)\]'"

# nginx back to its own configuration before the module goes away
rm -f $SITE
if [ $started_nginx = 1 ]; then
    pid=$(cat $PIDFILE)
    /usr/sbin/nginx -s quit 2>>"$TMP/signal.log"
    check "nginx stops" wait_for 10 bash -c "! kill -0 $pid"
    started_nginx=0
else
    /usr/sbin/nginx -s reload 2>>"$TMP/signal.log"
fi

# ---------------------------------------------------------------- remove

check "apt-get remove $PKG" apt remove $PKG

check "dpkg: deinstall ok config-files" \
    test "$(pkg_status)" = "deinstall ok config-files"

check "remove: the module, its load file, profiles and docs are gone" \
    bash -c "! test -e $SO -o -e $AVAIL -o -e /usr/share/nginx/olla \
             -o -e $DOC"

check "remove: the conffiles stay" \
    test -f /etc/nginx/olla_proxy_params -a -f $OVERRIDE/README

check "remove: the module is disabled ($ENABLED.removed, as dh_nginx does)" \
    bash -c "! test -e $ENABLED -o -L $ENABLED && test -L $ENABLED.removed"

check "nginx -t after remove" /usr/sbin/nginx -t -q

check "apt-get install after remove enables the module again" \
    bash -c "DEBIAN_FRONTEND=noninteractive apt-get -y -q \
                 -o DPkg::Lock::Timeout=300 install '$DEB' \
                 >>'$TMP/apt.log' 2>&1 \
             && test \"\$(readlink $ENABLED)\" = $AVAIL \
             && ! test -L $ENABLED.removed"

rm -f $ENABLED
check "a reinstall keeps the module disabled by the administrator" \
    bash -c "DEBIAN_FRONTEND=noninteractive apt-get -y -q \
                 -o DPkg::Lock::Timeout=300 install --reinstall '$DEB' \
                 >>'$TMP/apt.log' 2>&1 \
             && ! test -L $ENABLED && test -f $SO"

# ---------------------------------------------------------------- purge

echo "a file of the administrator's" >$OVERRIDE/notes.txt

check "apt-get purge $PKG" apt purge $PKG

check "dpkg: no trace of $PKG" test -z "$(pkg_status)"

check "purge: conffiles and links gone" \
    bash -c "! test -e /etc/nginx/olla_proxy_params -o -e $OVERRIDE/README \
             -o -L $ENABLED -o -L $ENABLED.removed"

check "purge: the administrator's $OVERRIDE/notes.txt is kept" \
    test "$(ls -A $OVERRIDE 2>&1)" = notes.txt

rm -f $OVERRIDE/notes.txt
rmdir $OVERRIDE 2>/dev/null
installed_by_us=0

snapshot >"$TMP/after"
check "nothing left: /etc/nginx, /usr/share/nginx, /usr/lib/nginx as before" \
    diff "$TMP/before" "$TMP/after"

check "nginx -t after purge" /usr/sbin/nginx -t -q

# make install to /, enabled as it says: nginx -t; make uninstall: as before

installed_by_make=1
if make -C "$TOP" -s install >"$TMP/install.log" 2>&1; then
    ok "make install"
    ln -s $AVAIL $ENABLED
    check "make install, enabled as printed: nginx -t loads the module" \
        bash -c "/usr/sbin/nginx -T 2>&1 \
                 | grep -q '^load_module modules/ngx_olla_dmr_module.so;'"
    check "make uninstall" \
        make -C "$TOP" -s uninstall
    installed_by_make=0
    snapshot >"$TMP/after"
    check "make uninstall: /etc/nginx, /usr/share/nginx, /usr/lib/nginx as before" \
        diff "$TMP/before" "$TMP/after"
else
    not_ok "make install" "$(tail -20 "$TMP/install.log")"
fi

# no nginx process (the master or a worker) has the module mapped
module_unmapped() {
    local m
    m=$(cat $PIDFILE) || return 1
    ! cat /proc/"$m"/maps $(pgrep -P "$m" | sed 's|.*|/proc/&/maps|') \
        2>/dev/null | grep -q ngx_olla_dmr_module
}

if [ $nginx_was_running = 1 ]; then
    /usr/sbin/nginx -s reload 2>>"$TMP/signal.log"
    check "the nginx that ran before the test runs on, without the module" \
        wait_for 10 module_unmapped
fi

summary
