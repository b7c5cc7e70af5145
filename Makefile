# ngx_olla_dmr_module
#
#   make                 build build/<flavour>/ngx_olla_dmr_module.so
#   make test            install what is missing, build, run every test
#   make run             the gateway on :40114 in front of DMR (or a stand-in)
#   make install         module, profiles and olla_proxy_params for Debian's nginx
#                        (the package's layout; make uninstall removes them)
#   make deb             the Debian package libnginx-mod-http-olla-dmr (build/deb)
#   make test-deb        build, install, use, remove and purge the package
#
# NGINX_SRC=/path/to/nginx-x.y.z builds against another nginx source tree
# (a release tarball or a checkout); the tree is copied into build/ and
# nothing outside the repository is written.  NGINX_BIN=/path/to/nginx runs
# the suites with that binary (default: the one built from NGINX_SRC, or
# Debian's /usr/sbin/nginx).

SHELL        := /bin/bash
TOP          := $(abspath .)
DEBIAN_SRC   := /usr/share/nginx/src
NGINX_SRC    ?=
ASAN         ?=
OLLA_ASAN_LOG ?= /tmp/olla-asan

ifeq ($(NGINX_SRC),)
FLAVOUR      := debian
NGINX_BIN    ?= /usr/sbin/nginx
else
FLAVOUR      := $(notdir $(abspath $(NGINX_SRC)))
NGINX_BIN    ?= $(TOP)/build/$(FLAVOUR)/objs/nginx
endif

ifneq ($(ASAN),)
FLAVOUR      := $(FLAVOUR)-asan
ASAN_CFLAGS  := -fsanitize=address -fno-omit-frame-pointer
ASAN_LDFLAGS := -fsanitize=address
endif

BUILD        := $(TOP)/build/$(FLAVOUR)
MODULE       := $(BUILD)/ngx_olla_dmr_module.so
ifeq ($(NGINX_SRC),)
MODULE_OBJS  := $(BUILD)
else
MODULE_OBJS  := $(BUILD)/objs
MODULE       := $(BUILD)/objs/ngx_olla_dmr_module.so
endif

SOURCES      := config ngx_olla_dmr_module.c $(wildcard src/*.c src/*.h)

# deferred (=): dpkg-buildflags is installed by "make deps" on a fresh machine
CFLAGS_DEB    = $(shell dpkg-buildflags --get CFLAGS 2>/dev/null) -fPIC \
                $(shell dpkg-buildflags --get CPPFLAGS 2>/dev/null)
LDFLAGS_DEB   = $(shell dpkg-buildflags --get LDFLAGS 2>/dev/null) -fPIC

# Debian packages needed to build and test (make deps installs the missing)
DEB_BUILD    := gcc make dpkg-dev nginx nginx-dev libyaml-dev libjansson-dev \
                libssl-dev libpcre2-dev zlib1g-dev pkg-config
DEB_TEST     := libcmocka-dev perl \
                libtest-base-perl libtext-diff-perl curl openssl procps \
                prometheus chromium fonts-dejavu-core
DEB_EXTRA    := valgrind clang wrk

.PHONY: all build deps deps-unit deps-node deps-extra unit unit-asan test test-t test-valgrind test-asan test-e2e \
        fuzz bench bench-ab bench-routing run install uninstall deb test-deb clean distclean test-t

all: build

build: $(MODULE)

# ---------------------------------------------------------------- deps

define apt_install
	missing=""; for p in $(1); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	        | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "olla: installing Debian packages:$$missing"; \
	    SUDO=""; [ "$$(id -u)" = 0 ] || SUDO="sudo"; \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	        --no-install-recommends $$missing >/dev/null || exit 1; \
	fi
endef

deps:
	@$(call apt_install,$(DEB_BUILD) $(DEB_TEST))

# Node.js for the DMR stand-in and the SDK tests: Debian's, unless a node
# and an npm are on the machine already (a NodeSource node carries its own)
deps-node: deps
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
	    $(call apt_install,nodejs npm); \
	fi

deps-unit:
	@$(call apt_install,gcc make libyaml-dev libjansson-dev libcmocka-dev)

deps-extra: deps
	@$(call apt_install,$(DEB_EXTRA))

# ---------------------------------------------------------------- build

ifeq ($(NGINX_SRC),)

$(BUILD)/Makefile: config | deps
	@mkdir -p $(BUILD)
	cd $(DEBIAN_SRC) && bash -c '. ./conf_flags && ./configure \
	    --with-cc-opt="$(CFLAGS_DEB) $(ASAN_CFLAGS)" \
	    --with-ld-opt="$(LDFLAGS_DEB) $(ASAN_LDFLAGS)" \
	    "$${NGX_CONF_FLAGS[@]}" \
	    --add-dynamic-module=$(TOP) --builddir=$(BUILD)' \
	    > $(BUILD)/configure.log 2>&1 \
	    || { tail -20 $(BUILD)/configure.log; exit 1; }

$(MODULE): $(BUILD)/Makefile $(SOURCES)
	$(MAKE) -s -f $(BUILD)/Makefile -C $(DEBIAN_SRC) modules

else

NGX_CONFIGURE := $(if $(wildcard $(NGINX_SRC)/configure),./configure,./auto/configure)

$(BUILD)/Makefile: config | deps
	@mkdir -p $(BUILD)
	cp -a $(abspath $(NGINX_SRC))/. $(BUILD)/
	cd $(BUILD) && $(NGX_CONFIGURE) --with-compat --with-debug \
	    --with-threads --with-http_ssl_module --with-http_v2_module \
	    --with-http_stub_status_module --with-http_realip_module \
	    --with-http_sub_module --with-http_auth_request_module \
	    --with-cc-opt="-g -O2 -fPIC $(ASAN_CFLAGS)" \
	    --with-ld-opt="-fPIC $(ASAN_LDFLAGS)" \
	    --add-dynamic-module=$(TOP) > configure.log 2>&1 \
	    || { tail -20 $(BUILD)/configure.log; exit 1; }

$(MODULE): $(BUILD)/Makefile $(SOURCES)
	$(MAKE) -s -C $(BUILD) -f objs/Makefile binary modules

endif

# ---------------------------------------------------------------- tests

UNIT_CFLAGS := -std=c99 -D_DEFAULT_SOURCE -D_GNU_SOURCE -g -O1 -Wall -Wextra \
               -Werror -Wno-unused-parameter -Isrc $(UNIT_SAN)
UNIT_LIBS   := -lcmocka -lyaml -ljansson -lm
UNIT_BUILD  := build/unit
UNIT_SRCS   := $(wildcard t/unit/test_*.c)
UNIT_BINS   := $(patsubst t/unit/%.c,$(UNIT_BUILD)/%,$(UNIT_SRCS))
UNIT_NAME   := unit

# unit-asan: AddressSanitizer (leaks included) and UndefinedBehaviorSanitizer;
# any report fails the suite
UNIT_ASAN   := -fsanitize=address,undefined -fno-sanitize-recover=all \
               -fno-omit-frame-pointer

# the translators' DOM checks strings with the scanner's fast paths
JDOM_SRCS   := src/olla_jdom.c src/olla_json.c

# the Anthropic translator
ANTH_SRCS   := src/olla_anth_common.c src/olla_anth_request.c \
               src/olla_anth_response.c src/olla_anth_stream.c \
               src/olla_anth_errors.c src/olla_sse.c $(JDOM_SRCS) \
               src/olla_errors.c src/olla_rand.c

# the pure-C sources each unit test links
UNIT_DEPS_test_profile   := src/olla_profile.c src/olla_yaml.c \
                            src/olla_routes.c
UNIT_DEPS_test_json      := src/olla_json.c t/unit/json_ref.c \
                            t/unit/json_sse2.c t/unit/json_scalar.c
UNIT_DEPS_test_model     := src/olla_model.c
UNIT_DEPS_test_probe     := src/olla_probe.c src/olla_model.c
UNIT_DEPS_test_sse       := src/olla_sse.c
UNIT_DEPS_test_anthropic := $(ANTH_SRCS)
UNIT_DEPS_test_jdom      := $(JDOM_SRCS)
UNIT_DEPS_test_jdom_sse2 := src/olla_json.c
UNIT_DEPS_test_pick      := src/olla_pick.c
UNIT_DEPS_test_ps        := src/olla_ps.c src/olla_model.c
UNIT_DEPS_test_usage     := src/olla_usage.c t/unit/usage_ref.c
UNIT_DEPS_test_yaml      := src/olla_yaml.c

# the error catalogue, the path rules, the route table
UNIT_DEPS_test_errors    := src/olla_errors.c $(JDOM_SRCS)
UNIT_DEPS_test_path      := src/olla_path.c
UNIT_DEPS_test_routes    := src/olla_routes.c
UNIT_DEPS_test_keys      := src/olla_keys.c
UNIT_DEPS_test_queue     := src/olla_queue.c
UNIT_DEPS_test_failover  := src/olla_failover.c
OLLA_RESP_SRCS           := src/olla_resp_util.c src/olla_resp_request.c \
                            src/olla_resp_response.c src/olla_resp_stream.c \
                            src/olla_rand.c
UNIT_DEPS_test_responses := $(OLLA_RESP_SRCS) src/olla_sse.c $(JDOM_SRCS)

.SECONDEXPANSION:
$(UNIT_BUILD)/%: t/unit/%.c $$(UNIT_DEPS_$$*) $(wildcard src/olla_*.h) \
                 $(wildcard t/unit/*.h) | deps-unit
	@mkdir -p $(UNIT_BUILD)
	$(CC) $(UNIT_CFLAGS) -o $@ $< $(UNIT_DEPS_$*) $(UNIT_LIBS)

# test_jdom_sse2.c includes the DOM's source and test_jdom.c
$(UNIT_BUILD)/test_jdom_sse2: src/olla_jdom.c t/unit/test_jdom.c

unit: $(UNIT_BINS)
	@fail=0; total=0; for t in $(UNIT_BINS); do \
	    total=$$((total+1)); \
	    ( cd $(TOP) && CMOCKA_MESSAGE_OUTPUT=stdout $$t ) || fail=$$((fail+1)); \
	done; \
	echo "$(UNIT_NAME): $$total suites, $$fail failed"; [ $$fail = 0 ]

# the unit tests built with -fsanitize=address,undefined into build/unit-asan
unit-asan:
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	$(MAKE) UNIT_SAN="$(UNIT_ASAN)" UNIT_BUILD=build/unit-asan \
	    UNIT_NAME=unit-asan unit

# Test::Nginx: the real one when installed, else the compatible runner
TEST_ENV = TEST_NGINX_BINARY=$(NGINX_BIN) OLLA_ASAN_LOG=$(OLLA_ASAN_LOG) \
           TEST_NGINX_OLLA_MODULE=$(MODULE) \
           TEST_NGINX_OLLA_ROOT=$(TOP) \
           TEST_NGINX_LOAD_MODULES="$(MODULE)" \
           PERL5LIB=$$(perl -MTest::Nginx::Socket -e1 2>/dev/null \
                       || echo $(TOP)/t/compat-lib)$${PERL5LIB:+:$$PERL5LIB}

PROVE_ARGS ?= -r t/

test-t: build
	$(TEST_ENV) prove $(PROVE_ARGS)

# the official OpenAI, LangChain and Anthropic SDKs against nginx + the
# module in front of real llama.cpp stand-ins (needs node >= 20)
test-e2e: deps deps-node build
	NGINX_BIN=$(NGINX_BIN) OLLA_MODULE=$(MODULE) t/e2e/run.sh

test: deps build unit unit-asan test-t test-e2e test-page

VALGRIND_OPTS = --tool=memcheck --leak-check=full --show-possibly-lost=no \
                --num-callers=50 --suppressions=$(TOP)/valgrind.suppress \
                --log-file=$(TOP)/build/valgrind/vg.%p.log

# the suites under valgrind; fails on any report with a frame in the module
test-valgrind: deps-extra build
	rm -rf build/valgrind && mkdir -p build/valgrind
	$(TEST_ENV) TEST_NGINX_USE_VALGRIND="$(VALGRIND_OPTS)" \
	    TEST_NGINX_OLLA_SLOW=1 prove $(PROVE_ARGS); rc=$$?; \
	tools/valgrind-check.pl build/valgrind && exit $$rc

# the module and the unit tests built with AddressSanitizer; Debian's nginx
# runs the suites with the ASan runtime preloaded (tools/asan-nginx)
test-asan: deps
	$(MAKE) ASAN=1 build
	$(MAKE) unit-asan
	rm -rf build/asan && mkdir -p build/asan
	$(MAKE) ASAN=1 test-t NGINX_BIN=$(TOP)/tools/asan-nginx \
	    OLLA_ASAN_LOG=$(TOP)/build/asan/asan; rc=$$?; \
	if ls build/asan/asan.* >/dev/null 2>&1; then \
	    cat build/asan/asan.*; echo "asan: reports found"; exit 1; \
	fi; echo "asan: no reports"; exit $$rc

# ---------------------------------------------------------------- fuzz
# libFuzzer targets t/fuzz/fuzz_NAME.c; corpus in t/fuzz/corpus/NAME/
# (kept in the repository); FUZZ_TIME seconds per target.

FUZZ_TIME   ?= 60
FUZZ_BUILD  := build/fuzz
FUZZ_SRCS   := $(wildcard t/fuzz/fuzz_*.c)
FUZZ_BINS   := $(patsubst t/fuzz/%.c,$(FUZZ_BUILD)/%,$(FUZZ_SRCS))
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined \
               -fno-omit-frame-pointer -Isrc -It/unit

FUZZ_DEPS_fuzz_json          := src/olla_json.c t/unit/json_ref.c \
                                t/unit/json_sse2.c t/unit/json_scalar.c
FUZZ_DEPS_fuzz_anth_request  := $(ANTH_SRCS)
FUZZ_DEPS_fuzz_anth_stream   := $(ANTH_SRCS)
FUZZ_DEPS_fuzz_jdom          := $(JDOM_SRCS)
FUZZ_DEPS_fuzz_profile       := src/olla_profile.c src/olla_yaml.c \
                                src/olla_routes.c
FUZZ_DEPS_fuzz_probe         := src/olla_probe.c src/olla_model.c
FUZZ_DEPS_fuzz_path          := src/olla_path.c
FUZZ_DEPS_fuzz_usage         := src/olla_usage.c t/unit/usage_ref.c
FUZZ_DEPS_fuzz_resp_request  := $(OLLA_RESP_SRCS) src/olla_sse.c $(JDOM_SRCS)
FUZZ_DEPS_fuzz_resp_stream   := $(OLLA_RESP_SRCS) src/olla_sse.c $(JDOM_SRCS)

$(FUZZ_BUILD)/%: t/fuzz/%.c $$(FUZZ_DEPS_$$*) $(wildcard src/olla_*.h) | deps-extra
	@mkdir -p $(FUZZ_BUILD)
	clang $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_DEPS_$*) -lyaml -ljansson -lm

fuzz: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do \
	    n=$$(basename $$f); mkdir -p t/fuzz/corpus/$$n $(FUZZ_BUILD)/new-$$n; \
	    echo "fuzz: $$n for $(FUZZ_TIME)s"; \
	    $$f -max_total_time=$(FUZZ_TIME) -rss_limit_mb=2048 \
	        -detect_leaks=1 -print_final_stats=1 \
	        $(FUZZ_BUILD)/new-$$n t/fuzz/corpus/$$n \
	        > $(FUZZ_BUILD)/$$n.log 2>&1 \
	        || { tail -40 $(FUZZ_BUILD)/$$n.log; exit 1; }; \
	    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" \
	        $(FUZZ_BUILD)/$$n.log | sed "s/^/  $$n /"; \
	done; echo "fuzz: all targets ran clean"

# ---------------------------------------------------------------- bench
# the cost over plain nginx, a few minutes (tools/bench/run.sh, BENCHMARKS.md)

bench: deps build
	@$(call apt_install,wrk)
	NGINX_BIN=$(NGINX_BIN) OLLA_MODULE=$(MODULE) tools/bench/run.sh

# A/B: the same bench with an older build of the module next to this one
# (OLLA_MODULE_BASE): BASE_REV (a revision of this repository, default
# 0dd5f07) is taken with git archive into build/bench-base/src and built
# there against Debian's nginx-dev like this checkout; its own profiles go
# with it (their schema changed).  Rebuilt only when BASE_REV names another
# commit.  BENCH_ONLY, BENCH_ROUNDS and the other knobs apply as to bench.
BASE_REV     ?= 0dd5f07
BASE_DIR     := $(TOP)/build/bench-base

bench-ab: deps build
	@$(call apt_install,wrk)
	@set -e; \
	rev=$$(git rev-parse --verify --quiet '$(BASE_REV)^{commit}') \
	    || { echo "bench-ab: BASE_REV=$(BASE_REV) is no commit here" >&2; exit 1; }; \
	so=$(BASE_DIR)/src/build/debian/ngx_olla_dmr_module.so; \
	if [ "$$(cat $(BASE_DIR)/rev 2>/dev/null)" != "$$rev" ] || [ ! -f "$$so" ]; then \
	    echo "bench-ab: building $(BASE_REV) ($$rev) in $(BASE_DIR)/src"; \
	    rm -rf $(BASE_DIR); mkdir -p $(BASE_DIR)/src; \
	    git archive --format=tar "$$rev" | tar -x -C $(BASE_DIR)/src; \
	    $(MAKE) -C $(BASE_DIR)/src build NGINX_SRC= ASAN=; \
	    echo "$$rev" > $(BASE_DIR)/rev; \
	fi; \
	label=$$(git log -1 --format='%h %s' "$$rev" | cut -c1-60); \
	case "$$label" in "$(BASE_REV)"*) ;; *) label="$(BASE_REV) = $$label";; esac; \
	echo "bench-ab: base $$label"; \
	NGINX_BIN=$(NGINX_BIN) OLLA_MODULE=$(MODULE) OLLA_MODULE_BASE="$$so" \
	    OLLA_PROFILES_BASE=$(BASE_DIR)/src/profiles OLLA_BASE_LABEL="$$label" \
	    tools/bench/run.sh

# the per-byte work on a request body outside nginx, with the module's
# compiler flags: build/bench/bench_body FILE... (t/unit/bench_body.c)
build/bench/bench_body: t/unit/bench_body.c $(ANTH_SRCS) \
                        $(wildcard src/olla_*.h)
	@mkdir -p build/bench
	$(CC) $(CFLAGS_DEB) -Wall -Wextra -Isrc -o $@ t/unit/bench_body.c \
	    $(ANTH_SRCS) -lm

# Olla's routing against the inference-aware one on DMR stand-ins (real
# llama.cpp): cold loads, time to first token, prompt-cache reuse of
# Claude-Code-shaped conversations; ~8 minutes (tools/bench-routing/run.sh)

bench-routing: deps deps-node build
	NGINX_BIN=$(NGINX_BIN) OLLA_MODULE=$(MODULE) tools/bench-routing/run.sh

# ---------------------------------------------------------------- status page
# tools/statuspage/page.html is the page olla_status serves at ui/;
# src/ngx_olla_dmr_page.h is made from it by "make page" and committed, so
# that building needs no node.  test-page checks that the header is not
# stale and drives the page in Debian's chromium against nginx + the module
# and two DMR stand-ins (screenshots in build/statuspage/).

.PHONY: page test-page

page:
	node tools/statuspage/gen.mjs

test-page: deps deps-node build
	NGINX_BIN=$(NGINX_BIN) OLLA_MODULE=$(MODULE) tools/statuspage/run.sh

# ---------------------------------------------------------------- run

run: deps deps-node build
	NGINX_BIN=$(NGINX_BIN) OLLA_MODULE=$(MODULE) tools/run.sh

# ---------------------------------------------------------------- install
# The layout of the Debian package (debian/, README "Debian package"):
#
#   /usr/lib/nginx/modules/ngx_olla_dmr_module.so            (stripped)
#   /usr/share/nginx/modules-available/mod-http-olla-dmr.conf
#   /etc/nginx/modules-enabled/50-mod-http-olla-dmr.conf     (the link that
#                      enables it: the package makes it, "make install" says
#                      how)
#   /usr/share/nginx/olla/profiles/*.yaml
#   /etc/nginx/olla_proxy_params, /etc/nginx/olla_log_format
#   /etc/nginx/olla/                                          (overrides)
#   /usr/share/doc/libnginx-mod-http-olla-dmr/examples/
#
# DESTDIR=/some/root installs under that root.  A changed
# /etc/nginx/olla_proxy_params is kept (the new one goes next to it as
# olla_proxy_params.dist); "make uninstall" removes what "make install"
# wrote and keeps the /etc files you changed or added.

DESTDIR       ?=
MODULES_DIR   ?= /usr/lib/nginx/modules
PROFILES_DIR  ?= /usr/share/nginx/olla/profiles
NGINX_CONF    ?= /etc/nginx
MODAVAIL_DIR  ?= /usr/share/nginx/modules-available
DEB_PKG       := libnginx-mod-http-olla-dmr
DOC_DIR       ?= /usr/share/doc/$(DEB_PKG)
STRIP         ?= strip
OLLA_MODCONF  := mod-http-olla-dmr.conf
OLLA_ENABLED  := 50-$(OLLA_MODCONF)
OLLA_OVERRIDE := $(NGINX_CONF)/olla

# make install/uninstall next to the installed package would fight dpkg
define deb_guard
	@if [ -z "$(DESTDIR)" ] && dpkg-query -W -f='$${Status}' $(DEB_PKG) \
	        2>/dev/null | grep -q "install ok installed"; then \
	    echo "olla: the package $(DEB_PKG) is installed; use apt-get" \
	         "(remove or purge it first to $(1) by hand)"; exit 1; \
	fi
endef

install: build
	$(call deb_guard,install)
	install -d $(DESTDIR)$(MODULES_DIR) $(DESTDIR)$(PROFILES_DIR) \
	    $(DESTDIR)$(MODAVAIL_DIR) $(DESTDIR)$(NGINX_CONF) \
	    $(DESTDIR)$(OLLA_OVERRIDE) $(DESTDIR)$(DOC_DIR)/examples
	install -m 644 $(MODULE) $(DESTDIR)$(MODULES_DIR)/
	$(STRIP) --remove-section=.comment --remove-section=.note \
	    --strip-unneeded $(DESTDIR)$(MODULES_DIR)/ngx_olla_dmr_module.so
	install -m 644 debian/$(OLLA_MODCONF) $(DESTDIR)$(MODAVAIL_DIR)/
	install -m 644 profiles/*.yaml $(DESTDIR)$(PROFILES_DIR)/
	install -m 644 debian/etc-olla/README $(DESTDIR)$(OLLA_OVERRIDE)/
	install -m 644 conf.examples/* $(DESTDIR)$(DOC_DIR)/examples/
	@for n in olla_proxy_params olla_log_format; do \
	    f=$(DESTDIR)$(NGINX_CONF)/$$n; \
	    if [ -e $$f ] && ! cmp -s conf.examples/$$n $$f; then \
	        install -m 644 conf.examples/$$n $$f.dist; \
	        echo "olla: kept your $$f; the new one is $$f.dist"; \
	    else \
	        echo "install -m 644 conf.examples/$$n $$f"; \
	        install -m 644 conf.examples/$$n $$f; \
	    fi; \
	done
	@if [ -e $(DESTDIR)$(NGINX_CONF)/modules-available/$(OLLA_ENABLED) ]; then \
	    echo "olla: $(NGINX_CONF)/modules-available/$(OLLA_ENABLED) is" \
	         "from an older \"make install\"; \"make uninstall\" removes it"; \
	fi
	@echo
	@echo "installed in $(if $(DESTDIR),$(DESTDIR),/).  Enable the module with:"
	@echo "  ln -s $(MODAVAIL_DIR)/$(OLLA_MODCONF) $(NGINX_CONF)/modules-enabled/$(OLLA_ENABLED)"
	@echo "then an http{}-level configuration, e.g.:"
	@echo "  cp $(DOC_DIR)/examples/basic.conf $(NGINX_CONF)/conf.d/olla.conf"
	@echo "  nginx -t && nginx -s reload"
	@echo "Profile overrides (NAME-custom.yaml) go in $(OLLA_OVERRIDE)/ (README there)."
	@echo "Disable with:  rm $(NGINX_CONF)/modules-enabled/$(OLLA_ENABLED)" \
	      "(and the configuration using it), then nginx -t && nginx -s reload"

uninstall:
	$(call deb_guard,uninstall)
	@link=$(DESTDIR)$(NGINX_CONF)/modules-enabled/$(OLLA_ENABLED); \
	if [ -L $$link ]; then \
	    echo "rm $$link"; rm -f $$link; \
	    echo "olla: module disabled; remove the configuration that uses it" \
	         "(olla_* directives), then nginx -t && nginx -s reload"; \
	fi
	rm -f $(DESTDIR)$(MODULES_DIR)/ngx_olla_dmr_module.so \
	    $(DESTDIR)$(MODAVAIL_DIR)/$(OLLA_MODCONF) \
	    $(DESTDIR)$(NGINX_CONF)/modules-available/$(OLLA_ENABLED) \
	    $(addprefix $(DESTDIR)$(PROFILES_DIR)/,$(notdir $(wildcard profiles/*.yaml))) \
	    $(addprefix $(DESTDIR)$(DOC_DIR)/examples/,$(notdir $(wildcard conf.examples/*))) \
	    $(DESTDIR)$(NGINX_CONF)/olla_proxy_params.dist \
	    $(DESTDIR)$(NGINX_CONF)/olla_log_format.dist
	@for f in olla_proxy_params olla_log_format olla/README; do \
	    src=conf.examples/$$f; \
	    [ $$f = olla/README ] && src=debian/etc-olla/README; \
	    g=$(DESTDIR)$(NGINX_CONF)/$$f; \
	    [ -e $$g ] || continue; \
	    if cmp -s $$src $$g; then echo "rm $$g"; rm -f $$g; \
	    else echo "olla: kept $$g (changed since install)"; fi; \
	done
	@for d in $(PROFILES_DIR) $(dir $(PROFILES_DIR)) $(DOC_DIR)/examples \
	          $(DOC_DIR) $(OLLA_OVERRIDE) $(MODAVAIL_DIR) $(MODULES_DIR) \
	          $(dir $(MODULES_DIR)); do \
	    [ -d $(DESTDIR)$$d ] && rmdir --ignore-fail-on-non-empty $(DESTDIR)$$d; \
	done; \
	if [ -d $(DESTDIR)$(OLLA_OVERRIDE) ]; then \
	    echo "olla: kept $(DESTDIR)$(OLLA_OVERRIDE)/ (your overrides:" \
	         "$$(ls $(DESTDIR)$(OLLA_OVERRIDE) | paste -sd ' '))"; \
	fi; true
	@echo "uninstalled from $(if $(DESTDIR),$(DESTDIR),/)"

# ---------------------------------------------------------------- deb
# libnginx-mod-http-olla-dmr the way Debian builds its nginx modules
# (debian/: nginx-dev's nginx_mod build system and dh_nginx).  The files
# below are copied to build/deb/$(DEB_PKG)-VERSION and built there with
# dpkg-buildpackage, offline; the .deb files land in build/deb.  The
# version is NGX_OLLA_DMR_VERSION (src/ngx_olla_dmr.h): when
# debian/changelog is behind it, the copy gets a changelog entry for it.

DEB_VERSION   = $(shell sed -n 's/^\#define NGX_OLLA_DMR_VERSION *"\(.*\)"/\1/p' \
                    src/ngx_olla_dmr.h)
DEB_OUT       := $(TOP)/build/deb
DEB_FILES     := config ngx_olla_dmr_module.c src profiles conf.examples \
                 debian README.md
DEB_NEEDS     := debhelper dpkg-dev fakeroot nginx-dev libyaml-dev \
                 libjansson-dev libssl-dev
DEB_BUILDOPTS ?= parallel=$(shell nproc)

deb:
	@$(call apt_install,$(DEB_NEEDS))
	@[ -n "$(DEB_VERSION)" ] || { echo "deb: no NGX_OLLA_DMR_VERSION"; exit 1; }
	rm -rf $(DEB_OUT)
	mkdir -p $(DEB_OUT)/$(DEB_PKG)-$(DEB_VERSION)
	cp -r $(DEB_FILES) $(DEB_OUT)/$(DEB_PKG)-$(DEB_VERSION)/
	@cd $(DEB_OUT)/$(DEB_PKG)-$(DEB_VERSION) && \
	cl=$$(dpkg-parsechangelog -S Version) && \
	if [ "$$cl" != "$(DEB_VERSION)" ]; then \
	    echo "deb: debian/changelog is at $$cl, the module at" \
	         "$(DEB_VERSION): the build copy gets an entry"; \
	    when=$$(git -C $(TOP) log -1 --format=%ct 2>/dev/null \
	            || dpkg-parsechangelog -S Timestamp); \
	    { printf '%s (%s) UNRELEASED; urgency=medium\n\n' \
	          $(DEB_PKG) $(DEB_VERSION); \
	      printf '  * ngx_olla_dmr_module %s (NGX_OLLA_DMR_VERSION).\n\n' \
	          $(DEB_VERSION); \
	      printf ' -- %s  %s\n\n' "$$(dpkg-parsechangelog -S Maintainer)" \
	          "$$(date -u -R -d @$$when)"; \
	      cat debian/changelog; } > debian/changelog.new && \
	    mv debian/changelog.new debian/changelog; \
	fi
	cd $(DEB_OUT)/$(DEB_PKG)-$(DEB_VERSION) && \
	    DEB_BUILD_OPTIONS="$(DEB_BUILDOPTS) $$DEB_BUILD_OPTIONS" \
	    dpkg-buildpackage -b -us -uc > $(DEB_OUT)/build.log 2>&1 \
	    || { tail -30 $(DEB_OUT)/build.log; \
	         echo "deb: failed, see $(DEB_OUT)/build.log"; exit 1; }
	@ls -1 $(DEB_OUT)/*.deb
	@echo "deb: built; install with  apt-get install" \
	      "$(DEB_OUT)/$(DEB_PKG)_$(DEB_VERSION)_$$(dpkg --print-architecture).deb"

# build, lintian, install into this machine's nginx, serve through it,
# remove, purge (root; restores nginx's state): t/pkg/test-deb.sh
test-deb:
	t/pkg/test-deb.sh

# ---------------------------------------------------------------- misc

clean:
	rm -rf build t/servroot*

distclean: clean
	rm -rf node_modules tools/*/node_modules tools/dmr-standin/models
