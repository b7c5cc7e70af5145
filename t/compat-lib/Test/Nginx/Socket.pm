package Test::Nginx::Socket;

# Clean-room Test::Nginx::Socket compatible runner for ngx_olla_dmr_module.
#
# CPAN is out of reach on the build machines and Debian does not package
# openresty's Test::Nginx, so `make test` puts t/compat-lib on PERL5LIB
# when `perl -MTest::Nginx::Socket -e1` fails.  The suites in t/*.t are
# written for the real Test::Nginx::Socket and must keep running under
# it; this module implements the documented interface (POD "Sections
# supported", the environment variables, the generated nginx.conf) and
# was checked against the real module's behaviour.  No code was taken
# from Test::Nginx.
#
# Differences on purpose: sections the runner does not implement, and
# section combinations that the real module silently ignores (e.g.
# response_body together with response_body_like), make the suite die
# instead of passing silently.  Sections consumed by an
# add_block_preprocessor() callback are accepted.
#
# The implementation lives in Test::Nginx::Compat::{Runner,Server,Client};
# this file only holds the exported interface.  Subroutines here are
# declared with "()" so that Spiffy's source filter (pulled in by
# "use Test::Base -Base") leaves them as plain functions.

use Test::Base -Base;

use Test::Nginx::Compat::Runner;

our $VERSION = '0.01_compat';

our @EXPORT = qw(
    run_tests repeat_each no_shuffle log_level workers master_on master_off
    worker_connections no_long_string no_diff env_to_nginx
    add_block_preprocessor add_response_body_check add_cleanup_handler
    add_test_cleanup_handler no_root_location config_preamble
    check_accum_error_log use_hup bail_out is_str
    server_port server_port_for_client server_addr server_root html_dir
);

# Test::Base exports its own no_diff() into this package
no warnings 'redefine';

sub run_tests() { Test::Nginx::Compat::Runner::run_tests(@_) }
sub repeat_each() { Test::Nginx::Compat::Runner::repeat_each(@_) }
sub no_shuffle() { Test::Nginx::Compat::Runner::no_shuffle(@_) }
sub log_level() { Test::Nginx::Compat::Runner::log_level(@_) }
sub workers() { Test::Nginx::Compat::Runner::workers(@_) }
sub master_on() { Test::Nginx::Compat::Runner::master_on(@_) }
sub master_off() { Test::Nginx::Compat::Runner::master_off(@_) }
sub worker_connections() { Test::Nginx::Compat::Runner::worker_connections(@_) }
sub no_long_string() { Test::Nginx::Compat::Runner::no_long_string(@_) }
sub no_diff() { Test::Nginx::Compat::Runner::no_diff(@_) }
sub env_to_nginx() { Test::Nginx::Compat::Runner::env_to_nginx(@_) }
sub add_block_preprocessor() { Test::Nginx::Compat::Runner::add_block_preprocessor(@_) }
sub add_response_body_check() { Test::Nginx::Compat::Runner::add_response_body_check(@_) }
sub add_cleanup_handler() { Test::Nginx::Compat::Runner::add_cleanup_handler(@_) }
sub add_test_cleanup_handler() { Test::Nginx::Compat::Runner::add_test_cleanup_handler(@_) }
sub no_root_location() { Test::Nginx::Compat::Runner::no_root_location(@_) }
sub config_preamble() { Test::Nginx::Compat::Runner::config_preamble(@_) }
sub check_accum_error_log() { Test::Nginx::Compat::Runner::check_accum_error_log(@_) }
sub use_hup() { Test::Nginx::Compat::Runner::use_hup(@_) }
sub bail_out() { Test::Nginx::Compat::Runner::bail_out(@_) }
sub is_str() { Test::Nginx::Compat::Runner::is_str(@_) }
sub server_port() { Test::Nginx::Compat::Runner::server_port(@_) }
sub server_port_for_client() { Test::Nginx::Compat::Runner::server_port_for_client(@_) }
sub server_addr() { Test::Nginx::Compat::Runner::server_addr(@_) }
sub server_root() { Test::Nginx::Compat::Runner::server_root(@_) }
sub html_dir() { Test::Nginx::Compat::Runner::html_dir(@_) }

1;

__END__

=head1 NAME

Test::Nginx::Socket - compatible runner for openresty's Test::Nginx::Socket
suites (ngx_olla_dmr_module, t/compat-lib)

=head1 SYNOPSIS

    use Test::Nginx::Socket 'no_plan';   # or: plan tests => repeat_each() * (blocks() * N)
    repeat_each(2);
    no_shuffle();
    run_tests();

    __DATA__
    === TEST 1: ...
    --- config
    --- request
    --- response_body

=head1 SUPPORTED

Functions: run_tests repeat_each no_shuffle log_level workers master_on
master_off worker_connections no_long_string no_diff env_to_nginx
add_block_preprocessor add_response_body_check add_cleanup_handler
add_test_cleanup_handler no_root_location config_preamble
check_accum_error_log bail_out is_str server_port server_port_for_client
server_addr server_root html_dir, and Test::Base's plan, blocks and
Test::More's functions.

Sections: main_config http_config config post_main_config server_name init
post_setup_server_root user_files log_level request (string, eval string,
eval array of requests, packets with delay_before) request_eval raw_request
pipelined_requests more_headers raw_request_middle_delay shutdown
server_addr_for_client curl response_body response_body_eval
response_body_like response_body_unlike response_body_filters
response_headers response_headers_like raw_response_headers_like
raw_response_headers_unlike error_code error_code_like ignore_response http09
error_log no_error_log grep_error_log grep_error_log_out shutdown_error_log
no_shutdown_error_log access_log no_access_log wait timeout abort must_die
suppress_stderr skip_nginx skip_nginx2 skip_eval no_check_leak, and
Test::Base's ONLY, SKIP, LAST.  Any other section stops the suite with
"compat runner: unsupported section", unless an add_block_preprocessor
callback read it.

Environment: TEST_NGINX_BINARY TEST_NGINX_SERVER_PORT TEST_NGINX_PORT
TEST_NGINX_CLIENT_PORT TEST_NGINX_SERVROOT TEST_NGINX_LOAD_MODULES
TEST_NGINX_LOG_LEVEL TEST_NGINX_MASTER_PROCESS TEST_NGINX_NO_CLEAN
TEST_NGINX_NO_SHUFFLE TEST_NGINX_SLEEP TEST_NGINX_TIMEOUT
TEST_NGINX_RANDOMIZE TEST_NGINX_USE_VALGRIND
TEST_NGINX_VALGRIND_EXIT_ON_FIRST_ERR TEST_NGINX_ERROR_LOG
TEST_NGINX_EVENT_TYPE TEST_NGINX_POSTPONE_OUTPUT TEST_NGINX_REUSE_PORT
TEST_NGINX_WORKER_USER TEST_NGINX_FAST_SHUTDOWN TEST_NGINX_NO_NGINX_MANAGER
TEST_NGINX_VERBOSE; $TEST_NGINX_* variables (and $TEST_NGINX_RAND_PORT_N)
are expanded in the config sections and in response_body.

=head1 BEHAVIOUR SHARED WITH TEST::NGINX

nginx restarts for every block that has a config section; a block
without one reuses the running server.  --- init runs after nginx has
started.  Every request of a block gets its own status, header, body and
log checks; the log checks see the log lines of that request only (the
first request of a block also sees the startup lines).  With several
requests, per-request expectations must be arrays.  A chunked response
without its last chunk is a failure.

=cut
