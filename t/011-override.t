# olla_profiles_override: the administrator's profile directory, read with
# the profiles directory (default "olla" next to nginx.conf, i.e.
# servroot/conf/olla here; /etc/nginx/olla on Debian).  A NAME-custom.yaml
# there is merged over the shipped NAME.yaml, a file there hides the
# shipped file of the same name; mistakes fail "nginx -t" with file:line.

use Test::Nginx::Socket 'no_plan';
use Cwd qw(cwd);
use lib 't/lib';
use OllaMock;
use OllaTest;

$ENV{TEST_NGINX_OLLA_ROOT} ||= cwd();

OllaMock::start(names => ['dmr']);

no_shuffle();

# dmr-custom.yaml: the prefix "mydmr" instead of "dmr" and "docker"
our $custom = <<'_EOY_';
name: docker-model-runner
routing:
  prefixes: [mydmr]
_EOY_

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value("http_config", <<'_EOC_');
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=dmr check_interval=30s check_timeout=2s;
    }
_EOC_
    }

    if (!defined $block->config) {
        $block->set_value("config", <<'_EOC_');
    location /olla/ { olla_route models; proxy_pass http://models; }
    location /_olla_test/ { olla_status; }
_EOC_
    }
});

run_tests();

__DATA__

=== TEST 1: the default directory: conf/olla/dmr-custom.yaml renames the prefix
--- user_files eval
[ [ "../conf/olla/dmr-custom.yaml" => $::custom ],
  [ "../conf/olla/README" => "not a profile\n" ] ]
--- init
OllaTest::wait_status_settled('/_olla_test/status/endpoints');
--- request eval
[ "GET /olla/mydmr/engines/v1/models",
  "POST /olla/mydmr/engines/v1/chat/completions\n{\"model\":\"ai/smollm2\"}",
  "GET /olla/dmr/engines/v1/models" ]
--- error_code eval
[ 200, 200, 404 ]
--- response_body_like eval
[ qr{"object":"list"}, qr{"uri":"/engines/v1/chat/completions"}, qr{} ]
--- no_error_log
[emerg]



=== TEST 2: without conf/olla the shipped profile applies
--- init
OllaTest::wait_status_settled('/_olla_test/status/endpoints');
--- request eval
[ "GET /olla/dmr/engines/v1/models", "GET /olla/mydmr/engines/v1/models" ]
--- error_code eval
[ 200, 404 ]
--- no_error_log
[emerg]



=== TEST 3: an explicit directory, relative to the configuration prefix
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    olla_profiles_override ../html/over;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=dmr check_interval=30s check_timeout=2s;
    }
--- user_files eval
[ [ "over/dmr-custom.yaml" => $::custom ],
  [ "../conf/olla/dmr-custom.yaml" => "name: [\n" ] ]
--- init
OllaTest::wait_status_settled('/_olla_test/status/endpoints');
--- request eval
[ "POST /olla/mydmr/engines/v1/chat/completions\n{\"model\":\"ai/smollm2\"}",
  "GET /olla/dmr/engines/v1/models" ]
--- error_code eval
[ 200, 404 ]
--- response_body_like eval
[ qr{"uri":"/engines/v1/chat/completions"}, qr{} ]
--- no_error_log
[emerg]



=== TEST 4: a new endpoint type from the override directory
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    olla_profiles_override ../html/over;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=mine type=my-server check_interval=30s check_timeout=2s;
    }
--- user_files
>>> over/my.yaml
name: my-server
routing:
  prefixes: [mine]
api:
  model_discovery_path: /v1/models
  paths: [/v1/models, /v1/chat/completions]
--- init
OllaTest::wait_status_settled('/_olla_test/status/endpoints');
--- request
POST /olla/mine/v1/chat/completions
{"model":"ai/smollm2"}
--- response_body_like: "uri":"/v1/chat/completions"
--- no_error_log
[emerg]



=== TEST 5: "off" ignores the default directory, even a broken one
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    olla_profiles_override off;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=dmr check_interval=30s check_timeout=2s;
    }
--- user_files eval
[ [ "../conf/olla/dmr-custom.yaml" => "name: [\n" ] ]
--- init
OllaTest::wait_status_settled('/_olla_test/status/endpoints');
--- request
GET /olla/dmr/engines/v1/models
--- error_code: 200
--- no_error_log
[emerg]



=== TEST 6: a broken file in the default directory fails, named with file:line:col
--- user_files eval
[ [ "../conf/olla/dmr-custom.yaml" => "name: docker-model-runner\ncharacteristics:\n  timeout: soon\n" ] ]
--- must_die
--- error_log eval
qr{olla_profiles_override: \S+/conf/olla/dmr-custom\.yaml:3:12: characteristics\.timeout must be a duration such as 30s, 5m or 1h30m, not "soon"}



=== TEST 7: a broken file in an explicit directory: its file:line:col and the directive's
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    olla_profiles_override ../html/over;
    upstream models { olla_endpoint http://127.0.0.1:1; }
--- user_files
>>> over/dmr-custom.yaml
name: dmr
--- must_die
--- error_log eval
qr{olla_profiles_override: \S+/html/over/dmr-custom\.yaml:1:7: name "dmr" differs from the name "docker-model-runner" of \S+/profiles/dmr\.yaml; a custom file must keep the name of the profile it changes in \S+nginx\.conf:\d+}



=== TEST 8: an explicit directory that does not exist
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    olla_profiles_override /nonexistent/olla;
    upstream models { olla_endpoint http://127.0.0.1:1; }
--- must_die
--- error_log eval
qr{olla_profiles_override: /nonexistent/olla: cannot open profile override directory: No such file or directory in \S+nginx\.conf:\d+}



=== TEST 9: an explicit directory alone is checked, as olla_profiles is
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    olla_profiles_override /nonexistent/olla;
--- config
--- must_die
--- error_log eval
qr{olla_profiles_override: /nonexistent/olla: cannot open profile override directory}



=== TEST 10: "off" alone does not make the module load profiles
--- http_config
    olla_profiles_override off;
--- config
    location = /t { return 200 "plain\n"; }
--- request
GET /t
--- response_body
plain
--- no_error_log
[emerg]



=== TEST 11: dmr.yml next to the shipped dmr.yaml: both named
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    olla_profiles_override ../html/over;
    upstream models { olla_endpoint http://127.0.0.1:1; }
--- user_files
>>> over/dmr.yml
name: docker-model-runner
--- must_die
--- error_log eval
qr{olla_profiles_override: \S+/html/over/dmr\.yml: \S+/profiles/dmr\.yaml is the same profile; name it dmr\.yaml to replace that file in \S+nginx\.conf:\d+}



=== TEST 12: an unknown type names both directories
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    olla_profiles_override ../html/over;
    upstream models { olla_endpoint http://127.0.0.1:1 type=nope; }
--- user_files
>>> over/README
put NAME.yaml here
--- must_die
--- error_log eval
qr{unknown endpoint type "nope": no profile of that name in "\S+/profiles" or "\S+/conf/\.\./html/over" \(known types: [^)]+\) in \S+nginx\.conf:\d+}



=== TEST 13: with "off", an unknown type names the profiles directory only
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    olla_profiles_override off;
    upstream models { olla_endpoint http://127.0.0.1:1 type=nope; }
--- must_die
--- error_log eval
qr{unknown endpoint type "nope": no profile of that name in "\S+/profiles" \(known types: [^)]+\) in \S+nginx\.conf:\d+}



=== TEST 14: twice
--- http_config
    olla_profiles_override off;
    olla_profiles_override /etc/nginx/olla;
--- config
--- must_die
--- error_log eval
qr{"olla_profiles_override" directive is duplicate in \S+nginx\.conf:\d+}



=== TEST 15: after an Olla upstream
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:12434; }
    olla_profiles_override off;
--- config
--- must_die
--- error_log eval
qr{"olla_profiles_override" directive must come before the upstream blocks that use "olla_endpoint"}



=== TEST 16: an empty string
--- http_config
    olla_profiles_override "";
--- config
--- must_die
--- error_log eval
qr{"olla_profiles_override" directive takes a directory or "off", not an empty string}
