# conf.examples/: each example passes "nginx -t" and serves requests, with
# its hosts pointed at mock backends.

use Test::Nginx::Socket 'no_plan';
use Cwd qw(cwd);
use File::Temp qw(tempdir);
use lib 't/lib';
use OllaMock;
use OllaTest;

$ENV{TEST_NGINX_OLLA_ROOT} ||= cwd();
my $root = $ENV{TEST_NGINX_OLLA_ROOT};

OllaMock::start(names => ['gpu-1', 'gpu-2', 'ollama']);

my ($p1, $p2, $p3) = map { $ENV{"TEST_NGINX_MOCK_PORT_$_"} } 1..3;
my $front = 18590;

# an example, with this checkout's paths and the mocks for its hosts
sub example {
    my ($name) = @_;

    open my $fh, '<', "$root/conf.examples/$name" or die "$name: $!";
    local $/;
    my $conf = <$fh>;
    close $fh;

    $conf =~ s{olla_profiles [^;]+;}{olla_profiles $root/profiles;}g;
    $conf =~ s{include olla_proxy_params;}{include $root/conf.examples/olla_proxy_params;}g;
    $conf =~ s{include olla_log_format;}{include $root/conf.examples/olla_log_format;}g;
    $conf =~ s{listen 40114;}{listen $front;}g;
    $conf =~ s{access_log /var/log/nginx/olla\.log olla;}{access_log logs/olla.log olla;}g;
    $conf =~ s{http://localhost:12434}{http://127.0.0.1:$p1}g;
    $conf =~ s{http://localhost:11434}{http://127.0.0.1:$p3}g;
    $conf =~ s{http://model-runner\.docker\.internal}{http://127.0.0.1:$p1}g;
    $conf =~ s{http://gpu-host-1:12434}{http://127.0.0.1:$p1}g;
    $conf =~ s{http://gpu-host-2:12434}{http://127.0.0.1:$p2}g;
    $conf =~ s{check_interval=10s check_timeout=5s}{check_interval=10s check_timeout=1s}g;

    return $conf;
}

# nginx -t on each example, as a whole nginx.conf
my $module = $ENV{TEST_NGINX_OLLA_MODULE}
    || (split ' ', $ENV{TEST_NGINX_LOAD_MODULES} // '')[-1];
my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';

for my $name (qw(basic.conf container.conf production.conf priority-fallback.conf)) {
    my $dir = tempdir(CLEANUP => 1);
    mkdir "$dir/logs";
    open my $out, '>', "$dir/nginx.conf" or die $!;
    print $out "load_module $module;\nerror_log $dir/logs/error.log;\n"
             . "pid $dir/nginx.pid;\nevents {}\nhttp {\n"
             . "client_body_temp_path $dir/b; proxy_temp_path $dir/p;\n"
             . example($name) . "\n}\n";
    close $out;

    my $msg = `$nginx -t -p $dir -c $dir/nginx.conf 2>&1`;
    Test::More::is($? >> 8, 0, "nginx -t passes on conf.examples/$name")
        or Test::More::diag($msg);
}

add_block_preprocessor(sub {
    my $block = shift;
    # the example is named in the block's title
    my ($ex) = $block->name =~ /\b([a-z-]+\.conf)\b/ or return;
    $block->set_value("http_config", example($ex));
    $block->set_value("config",
        "location / { proxy_pass http://127.0.0.1:$front; }\n");
    # every endpoint of the example had its first probe (the examples
    # serve olla_status under /internal/)
    $block->set_value("init", "OllaTest::wait_status_settled('/internal/status/endpoints');")
        unless defined $block->init;
});

no_root_location();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: basic.conf: the seed's curl examples
--- request eval
[
 "GET /olla/dmr/engines/v1/models",
 "POST /olla/dmr/engines/v1/chat/completions\n"
 . '{"model":"ai/smollm2","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Explain what Docker Model Runner is"}],"temperature":0.7,"max_tokens":500}',
 "POST /olla/dmr/engines/llama.cpp/v1/chat/completions\n"
 . '{"model":"ai/smollm2","messages":[{"role":"user","content":"Hello"}],"temperature":0.7,"max_tokens":200}',
 "GET /internal/status/endpoints",
]
--- response_body_like eval
[qr{^\{"object":"list","data":\[\]\}$},
 qr{"mock":"gpu-1".*"uri":"/engines/v1/chat/completions"},
 qr{"mock":"gpu-1".*"uri":"/engines/llama\.cpp/v1/chat/completions"},
 qr{"name":"local-dmr".*"status":"healthy"}]
--- no_error_log
[error]



=== TEST 2: basic.conf: streaming goes through
--- more_headers
X-Mock-SSE: 3
--- request
POST /olla/dmr/engines/v1/chat/completions
{"model":"ai/smollm2","messages":[{"role":"user","content":"Write a short story about containers"}],"stream":true,"temperature":0.8}
--- response_headers_like
Content-Type: text/event-stream
--- response_body_like: tok0.*tok1.*tok2.*\[DONE\]
--- no_error_log
[error]



=== TEST 3: container.conf
--- request eval
["GET /olla/dmr/engines/v1/models", "POST /olla/dmr/engines/v1/embeddings\n{\"model\":\"ai/smollm2\",\"input\":\"hi\"}"]
--- response_body_like eval
[qr{"object":"list"}, qr{"mock":"gpu-1".*"uri":"/engines/v1/embeddings"}]
--- no_error_log
[error]



=== TEST 4: production.conf: both GPU hosts take traffic
--- request eval
[ map { "POST /olla/dmr/engines/v1/chat/completions\n{\"model\":\"ai/smollm2\"}" } 1..4 ]
--- response_body_like eval
[qr{"mock":"gpu-1"}, qr{"mock":"gpu-2"}, qr{"mock":"gpu-1"}, qr{"mock":"gpu-2"}]
--- no_error_log
[error]



=== TEST 5: priority-fallback.conf: DMR first on the proxy route, Ollama by its prefix
--- request eval
["POST /olla/proxy/v1/chat/completions\n{\"model\":\"ai/smollm2\"}",
 "POST /olla/ollama/api/chat\n{\"model\":\"llama3.2\"}",
 "POST /olla/ollama/v1/chat/completions\n{\"model\":\"llama3.2\"}"]
--- response_body_like eval
[qr{"mock":"gpu-1".*"uri":"/engines/v1/chat/completions"},
 qr{"mock":"ollama".*"uri":"/api/chat"},
 qr{"mock":"ollama".*"uri":"/v1/chat/completions"}]
--- no_error_log
[error]
